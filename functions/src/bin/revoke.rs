//! revoke: SQS revocation queue -> the edge's `POST /v1/revocations`. Thin: builds the adapters
//! once (the edge URL and the KMS-wrapped revocation key from the environment), then runs the
//! handler.

use std::sync::Arc;

use functions::deps::Deps;
use functions::edge_client::EdgeRevocations;
use functions::gateway::transport::{HyperTransport, DEFAULT_TIMEOUT};
use functions::revoke::{load_revoker_key, Revoker, EDGE_URL_ENV};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    functions::telemetry::init();
    let deps = Deps::from_env().await?;
    let key = load_revoker_key(deps.keys.as_ref(), |k| std::env::var(k).ok()).await?;
    let edge_url = std::env::var(EDGE_URL_ENV).map_err(|_| format!("{EDGE_URL_ENV} is not set"))?;
    let door = EdgeRevocations::new(
        &edge_url,
        key,
        HyperTransport::new(DEFAULT_TIMEOUT)?,
        deps.clock.clone(),
    );
    let revoker = &*Box::leak(Box::new(Revoker::new(&deps, Arc::new(door))));
    run(service_fn(
        move |event: LambdaEvent<aws_lambda_events::event::sqs::SqsEvent>| async move {
            Ok::<_, Error>(revoker.handle(event.payload).await)
        },
    ))
    .await
}
