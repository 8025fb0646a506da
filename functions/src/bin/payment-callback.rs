//! payment-callback: `POST /v1/webhooks/{provider}` (stripe, midtrans, xendit, doku).
//!
//! Env (besides the common ones): `GATEWAY_SECRETS` (base64 KMS ciphertext under
//! `CONFIG_KEY_ID`, context `{"purpose":"gateway-secrets"}`, decrypted once per cold start), or
//! for local development only `GATEWAY_SECRETS_DEV_PLAINTEXT`; `PAYMENT_PROVIDERS` (the same
//! list as checkout's: webhooks of any other provider are refused); optional `GATEWAY_SANDBOX=1`
//! (the Midtrans status API on its sandbox host, as checkout's Snap); optional
//! `DOKU_NOTIFICATION_PATH` (the path DOKU signs as `Request-Target`, default
//! `/v1/webhooks/doku`).

use std::sync::Arc;
use std::time::Duration;

use functions::deps::Deps;
use functions::gateway::adapter::GatewayPayments;
use functions::gateway::hosted::GatewayEndpoints;
use functions::gateway::transport::HyperTransport;
use functions::payment_callback::{load_gateway_secrets, router, PaymentCallback};

/// The status API call must leave room in the function's 10 s timeout (and Midtrans' 15 s).
const STATUS_API_TIMEOUT: Duration = Duration::from_secs(5);

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    functions::telemetry::init();
    let deps = Deps::from_env().await?;
    let secrets =
        Arc::new(load_gateway_secrets(deps.keys.as_ref(), |k| std::env::var(k).ok()).await?);
    let statuses = GatewayPayments::status_api(
        secrets.clone(),
        GatewayEndpoints::from_lookup(|k| std::env::var(k).ok()),
        HyperTransport::new(STATUS_API_TIMEOUT)?,
        deps.clock.clone(),
    );
    let mut handler = PaymentCallback::new(&deps, secrets, Arc::new(statuses))?;
    if let Ok(path) = std::env::var("DOKU_NOTIFICATION_PATH") {
        handler.doku_request_target = path;
    }
    functions::http::serve(router(handler)).await
}
