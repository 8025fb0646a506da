//! mint: SQS mint queue -> tickets. Thin: builds the adapters once, then runs the handler.

use functions::deps::Deps;
use functions::mint::Minter;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    functions::telemetry::init();
    let minter = &*Box::leak(Box::new(Minter::new(Deps::from_env().await?)));
    run(service_fn(
        move |event: LambdaEvent<aws_lambda_events::event::sqs::SqsEvent>| async move {
            Ok::<_, Error>(minter.handle(event.payload).await)
        },
    ))
    .await
}
