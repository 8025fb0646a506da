//! retention: scheduled daily; shreds the personal data of customers whose every event ended
//! more than `RETENTION_DAYS` (default 365) ago.

use functions::deps::Deps;
use functions::store::DynamoStore;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    functions::telemetry::init();
    let deps = &*Box::leak(Box::new(Deps::from_env().await?));
    let clients = functions::aws::Clients::from_env().await;
    // The store is both the scan of customer links and the privacy records.
    let store = &*Box::leak(Box::new(DynamoStore::new(
        clients.dynamodb.clone(),
        deps.config.table_name.clone(),
    )));
    run(service_fn(
        move |_event: LambdaEvent<serde_json::Value>| async move {
            let report = functions::retention::run(deps, store, store).await?;
            Ok::<_, Error>(serde_json::to_value(report)?)
        },
    ))
    .await
}
