//! backup: SQS backup queue -> a full export of `TABLE_NAME` to `BACKUP_BUCKET` (SSE-KMS under
//! `BACKUP_KMS_KEY_ID`), recorded in the table (see `functions::operations::backup`).

use functions::operations::backup::{run_job, BackupJob, BackupTarget};
use functions::ports::Clock as _;
use functions::store::restore::Wait;
use functions::store::DynamoStore;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    functions::telemetry::init();
    let clients = functions::aws::Clients::from_env().await;
    let table = std::env::var("TABLE_NAME")?;
    let store = &*Box::leak(Box::new(DynamoStore::new(clients.dynamodb, table)));
    let target = &*Box::leak(Box::new(BackupTarget {
        bucket: std::env::var("BACKUP_BUCKET")?,
        kms_key: std::env::var("BACKUP_KMS_KEY_ID")
            .ok()
            .filter(|k| !k.is_empty()),
    }));
    // An export of a large table takes longer than a Lambda may run: poll for 10 minutes (the
    // function's timeout is set above that); an export still running then is retried and
    // finds its run claimed.
    let wait = Wait {
        every: std::time::Duration::from_secs(10),
        polls: 60,
    };
    run(service_fn(
        move |event: LambdaEvent<aws_lambda_events::event::sqs::SqsEvent>| async move {
            Ok::<_, Error>(
                functions::sqs::process_batch(event.payload, |m| async move {
                    let job: BackupJob = functions::http::parse_json(m.body.as_bytes())?;
                    let now = functions::ports::SystemClock.now();
                    run_job(store, target, &job, now, wait).await.map(|_| ())
                })
                .await,
            )
        },
    ))
    .await
}
