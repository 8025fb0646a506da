//! payment-callback: `POST /v1/webhooks/{provider}` (stripe, midtrans, xendit, doku).
//!
//! Env (besides the common ones): `GATEWAY_SECRETS` (base64 KMS ciphertext under
//! `CONFIG_KEY_ID`, context `{"purpose":"gateway-secrets"}`, decrypted once per cold start), or
//! for local development only `GATEWAY_SECRETS_DEV_PLAINTEXT`; optional
//! `DOKU_NOTIFICATION_PATH` (the path DOKU signs as `Request-Target`, default
//! `/v1/webhooks/doku`).

use std::sync::Arc;

use functions::deps::Deps;
use functions::payment_callback::{load_gateway_secrets, router, PaymentCallback};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    functions::telemetry::init();
    let deps = Deps::from_env().await?;
    let secrets = load_gateway_secrets(deps.keys.as_ref(), |k| std::env::var(k).ok()).await?;
    let mut handler = PaymentCallback::new(&deps, Arc::new(secrets));
    if let Ok(path) = std::env::var("DOKU_NOTIFICATION_PATH") {
        handler.doku_request_target = path;
    }
    functions::http::serve(router(handler)).await
}
