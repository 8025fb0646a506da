//! sweeper: scheduled every minute; releases expired reservations.

use functions::deps::Deps;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    functions::telemetry::init();
    let deps = &*Box::leak(Box::new(Deps::from_env().await?));
    run(service_fn(
        move |_event: LambdaEvent<serde_json::Value>| async move {
            let report = functions::sweeper::sweep(deps).await?;
            Ok::<_, Error>(serde_json::to_value(report)?)
        },
    ))
    .await
}
