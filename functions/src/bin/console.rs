//! console: the operators' console back end (`/v1/console/*`), see `functions::console`.
//! Serves on Lambda, or on 127.0.0.1:$KARCIS_LOCAL_PORT. It verifies console tokens with the
//! staff signing key's public key (never signs), reads orders without personal data, creates
//! events with `ISSUER_KEY_ID`, and queues door revocations on `REVOKE_QUEUE_URL`.

use std::sync::Arc;

use functions::audit_ingest::DynamoAuditLog;
use functions::aws::Clients;
use functions::config::Config;
use functions::console::{router, ConsoleService, DynamoConsoleStore};
use functions::deps::Deps;
use functions::staff::{
    previous_public_keys, public_key_of, Console, DynamoDirectory, Settings, VerifyKeys,
    SIGNING_KEY_ENV,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    if std::env::args().len() > 1 {
        eprintln!("usage: console (serves; no subcommands)");
        std::process::exit(2);
    }
    functions::telemetry::init();
    let config = Config::from_env()?;
    let clients = Clients::from_env().await;
    let key_id =
        std::env::var(SIGNING_KEY_ENV).map_err(|_| format!("{SIGNING_KEY_ENV} is not set"))?;
    let mut keys = vec![public_key_of(&clients.kms, key_id.trim()).await?];
    keys.extend(previous_public_keys(&clients.kms).await?);
    let settings = Settings::from_env()?;
    let console = Arc::new(Console {
        keys: VerifyKeys::new(&keys)?,
        issuer: settings.issuer,
        audience: settings.console_audience,
        directory: Arc::new(DynamoDirectory::new(
            clients.dynamodb.clone(),
            config.table_name.clone(),
        )),
    });
    let service = ConsoleService {
        console,
        log: Arc::new(DynamoAuditLog::new(
            clients.dynamodb.clone(),
            config.table_name.clone(),
        )),
        store: Arc::new(DynamoConsoleStore::new(
            clients.dynamodb.clone(),
            config.table_name.clone(),
        )),
        deps: Deps::from_clients(config, &clients),
    };
    functions::http::serve(router(service)).await
}
