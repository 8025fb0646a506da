//! audit-ingest: `POST /v1/audit/batches` (the edge worker's audit batches, bearer token) and
//! `GET /v1/audit/events/{event_id}/entries` (reports; console token of an admin or finance
//! member), see `functions::audit_ingest`. Without arguments it serves (Lambda, or
//! 127.0.0.1:$KARCIS_LOCAL_PORT).
//!
//! ```text
//! audit-ingest new-token   # a fresh worker token (-> the worker's AUDIT_INGEST_TOKEN secret)
//!                          # and its SHA-256 (-> AUDIT_INGEST_TOKEN_SHA256 of this function)
//! ```

use std::sync::Arc;

use functions::audit_ingest::{
    new_ingest_token, router, DynamoAuditLog, IngestService, IngestTokens,
};
use functions::aws::Clients;
use functions::config::Config;
use functions::ports::{OsRng, SystemClock};
use functions::staff::{
    previous_public_keys, public_key_of, Console, DynamoDirectory, Settings, VerifyKeys,
    SIGNING_KEY_ENV,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("new-token") {
        let (token, hash) = new_ingest_token(&OsRng);
        println!(
            "{}",
            serde_json::json!({"AUDIT_INGEST_TOKEN": token.as_str(), "AUDIT_INGEST_TOKEN_SHA256": hash})
        );
        return Ok(());
    }
    if !args.is_empty() {
        eprintln!("usage: audit-ingest [new-token]");
        std::process::exit(2);
    }
    functions::telemetry::init();
    let config = Config::from_env()?;
    let clients = Clients::from_env().await;
    // With the worker's audit head key, per-event tokens and signed heads replace the shared
    // token (functions::audit_heads); without it, AUDIT_INGEST_TOKEN_SHA256 is required.
    let heads = functions::audit_heads::HeadKey::from_env()?;
    let tokens = if heads.is_some() {
        IngestTokens::default()
    } else {
        IngestTokens::from_env()?
    };
    // Reports need the staff keys; without STAFF_SIGNING_KEY_ID the report route is off.
    let console = match std::env::var(SIGNING_KEY_ENV) {
        Ok(id) if !id.trim().is_empty() => {
            let mut keys = vec![public_key_of(&clients.kms, id.trim()).await?];
            keys.extend(previous_public_keys(&clients.kms).await?);
            let settings = Settings::from_env()?;
            Some(Arc::new(Console {
                keys: VerifyKeys::new(&keys)?,
                issuer: settings.issuer,
                audience: settings.console_audience,
                directory: Arc::new(DynamoDirectory::new(
                    clients.dynamodb.clone(),
                    config.table_name.clone(),
                )),
            }))
        }
        _ => None,
    };
    let service = IngestService {
        log: Arc::new(DynamoAuditLog::new(
            clients.dynamodb.clone(),
            config.table_name.clone(),
        )),
        tokens,
        heads,
        clock: Arc::new(SystemClock),
        console,
    };
    functions::http::serve(router(service)).await
}
