//! notify: SQS notify queue -> the notification senders (SES, SNS, WhatsApp; see
//! `functions::senders` for the environment).

use functions::deps::Deps;
use functions::notify::Notifier;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    functions::telemetry::init();
    let deps = Deps::from_env().await?;
    let sdk = functions::aws::sdk_config().await;
    let sender = functions::senders::from_env(&sdk, deps.keys.as_ref()).await?;
    let notifier = &*Box::leak(Box::new(Notifier::new(deps, sender)));
    run(service_fn(
        move |event: LambdaEvent<aws_lambda_events::event::sqs::SqsEvent>| async move {
            Ok::<_, Error>(notifier.handle(event.payload).await)
        },
    ))
    .await
}
