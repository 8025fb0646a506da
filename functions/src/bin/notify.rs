//! notify: SQS notify queue -> notification sender (logging adapter).

use std::sync::Arc;

use functions::deps::Deps;
use functions::notify::{LoggingSender, Notifier};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    functions::telemetry::init();
    let notifier = &*Box::leak(Box::new(Notifier::new(
        Deps::from_env().await?,
        Arc::new(LoggingSender),
    )));
    run(service_fn(
        move |event: LambdaEvent<aws_lambda_events::event::sqs::SqsEvent>| async move {
            Ok::<_, Error>(notifier.handle(event.payload).await)
        },
    ))
    .await
}
