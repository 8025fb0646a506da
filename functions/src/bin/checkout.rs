//! checkout: `POST /v1/orders`, `GET /v1/orders/{order_id}`, `GET /v1/events/{event_id}`.
//!
//! Env (besides the common ones): `GATEWAY_SECRETS` (base64 KMS ciphertext under
//! `CONFIG_KEY_ID`, decrypted once here), `CHECKOUT_SUCCESS_URL` / `CHECKOUT_CANCEL_URL` (where
//! the gateway returns the buyer; `{order_id}` is replaced), optional `GATEWAY_SANDBOX=1`; the
//! guard's `CLIENT_RATE_LIMIT` / `CLIENT_RATE_WINDOW_SECS` and `TURNSTILE_*` (see
//! `functions::guard` and `functions::captcha`); the risk rules' `RISK_*`
//! (`functions::fraud::risk`). With `STAFF_SIGNING_KEY_ID` (and the staff token settings) it
//! also serves the fraud admin routes `/v1/fraud/...` (`functions::fraud::routes`).

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use functions::checkout::{router, Checkout};
use functions::deps::Deps;
use functions::gateway::adapter::GatewayPayments;
use functions::gateway::hosted::GatewayEndpoints;
use functions::gateway::transport::HyperTransport;
use functions::gateway::GatewaySecrets;
use functions::ports::KeyPurpose;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    functions::telemetry::init();
    let deps = Deps::from_env().await?;
    let env = |k: &str| std::env::var(k).map_err(|_| format!("{k} is not set"));
    let ciphertext =
        base64::engine::general_purpose::STANDARD.decode(env("GATEWAY_SECRETS")?.trim())?;
    let plaintext = deps
        .keys
        .decrypt(&KeyPurpose::GatewaySecrets, &ciphertext)
        .await?;
    let secrets = Arc::new(GatewaySecrets::from_json(&plaintext)?);
    drop(plaintext);
    let endpoints = GatewayEndpoints::from_lookup(|k| std::env::var(k).ok());
    let payments = GatewayPayments::new(
        secrets,
        endpoints,
        HyperTransport::new(Duration::from_secs(10))?,
        deps.clock.clone(),
        env("CHECKOUT_SUCCESS_URL")?,
        env("CHECKOUT_CANCEL_URL")?,
    );
    let captcha = functions::captcha::from_env(deps.keys.as_ref()).await?;
    let guard = functions::guard::Guard::from_config(&deps.config, captcha);
    let mut checkout = Checkout::new(deps.clone(), Arc::new(payments)).with_guard(guard);
    if let Some(admin) = fraud_admin(&deps).await? {
        checkout = checkout.with_fraud_admin(admin);
    }
    functions::http::serve(router(checkout)).await
}

/// The fraud admin routes' console verifier and staff log, when the staff signing key is set.
async fn fraud_admin(
    deps: &Deps,
) -> Result<Option<functions::fraud::routes::FraudAdmin>, lambda_http::Error> {
    use functions::staff::{
        previous_public_keys, public_key_of, Console, DynamoDirectory, Settings, VerifyKeys,
        SIGNING_KEY_ENV,
    };
    let id = match std::env::var(SIGNING_KEY_ENV) {
        Ok(id) if !id.trim().is_empty() => id,
        _ => return Ok(None),
    };
    let clients = functions::aws::Clients::from_env().await;
    let mut keys = vec![public_key_of(&clients.kms, id.trim()).await?];
    keys.extend(previous_public_keys(&clients.kms).await?);
    let settings = Settings::from_env()?;
    let table = deps.config.table_name.clone();
    Ok(Some(functions::fraud::routes::FraudAdmin {
        deps: deps.clone(),
        console: Arc::new(Console {
            keys: VerifyKeys::new(&keys)?,
            issuer: settings.issuer,
            audience: settings.console_audience,
            directory: Arc::new(DynamoDirectory::new(
                clients.dynamodb.clone(),
                table.clone(),
            )),
        }),
        log: Arc::new(functions::audit_ingest::DynamoAuditLog::new(
            clients.dynamodb,
            table,
        )),
    }))
}
