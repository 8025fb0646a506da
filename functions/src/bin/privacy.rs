//! privacy: `POST /v1/privacy/challenge`, `POST /v1/privacy/export`, `POST /v1/privacy/delete`,
//! `PUT /v1/privacy/consents` (see `functions::privacy` and functions/PRIVACY.md).

use std::sync::Arc;

use functions::deps::Deps;
use functions::notify::LoggingSender;
use functions::privacy::{router, Privacy};
use functions::store::DynamoStore;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    functions::telemetry::init();
    let deps = Deps::from_env().await?;
    let clients = functions::aws::Clients::from_env().await;
    let records = Arc::new(DynamoStore::new(
        clients.dynamodb.clone(),
        deps.config.table_name.clone(),
    ));
    functions::http::serve(router(Privacy::new(deps, records, Arc::new(LoggingSender)))).await
}
