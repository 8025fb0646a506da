//! Queue-driven backups: a schedule puts a [`BackupJob`] on the backup queue; the `backup`
//! function runs it. A daily job exports the whole table to S3 (DynamoDB JSON, SSE-KMS under
//! `BACKUP_KMS_KEY_ID`) under `daily/<run_id>/`. Every run is recorded in the table
//! (`BACKUP#<run_id>`, claimed with one conditional write so a redelivered job does not run
//! twice); a failed run is recorded, logged as `backup failed` (the alarm's metric filter) and
//! fails its message (SQS retries, then the DLQ).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::store::restore::{export_table, Wait};
use crate::store::DynamoStore;

/// A job on the backup queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupJob {
    /// `daily_export`.
    pub kind: String,
    /// Unique per scheduled run (e.g. `daily-2026-11-30`): the idempotency key.
    pub run_id: String,
}

/// Where exports go.
#[derive(Debug, Clone)]
pub struct BackupTarget {
    pub bucket: String,
    pub kms_key: Option<String>,
}

/// What a job did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Exported {
        export_arn: String,
        items: i64,
    },
    /// Running or done already (a redelivery).
    AlreadyClaimed,
}

fn valid_run_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
}

/// Runs one job.
///
/// # Errors
/// `Invalid` for a malformed job (nothing recorded); `Unavailable` when the export failed
/// (recorded as `FAILED`).
pub async fn run_job(
    store: &DynamoStore,
    target: &BackupTarget,
    job: &BackupJob,
    now: u64,
    wait: Wait,
) -> Result<Outcome> {
    if job.kind != "daily_export" {
        return Err(Error::invalid("kind", "daily_export"));
    }
    if !valid_run_id(&job.run_id) {
        return Err(Error::invalid("run_id", "1-64 characters of [A-Za-z0-9_-]"));
    }
    if !store.claim_backup_run(&job.run_id, &job.kind, now).await? {
        return Ok(Outcome::AlreadyClaimed);
    }
    let prefix = format!("daily/{}", job.run_id);
    let result = export_table(
        store.client_for_ops(),
        store.table(),
        &target.bucket,
        &prefix,
        target.kms_key.as_deref(),
        wait,
    )
    .await;
    match result {
        Ok(export) => {
            store
                .finish_backup_run(&job.run_id, Ok((&export.arn, export.items)), now)
                .await?;
            tracing::info!(run_id = %job.run_id, items = export.items, "backup done");
            Ok(Outcome::Exported {
                export_arn: export.arn,
                items: export.items,
            })
        }
        Err(e) => {
            let problem = e.to_string();
            store
                .finish_backup_run(&job.run_id, Err(&problem), now)
                .await?;
            tracing::error!(run_id = %job.run_id, kind = %job.kind, %problem, "backup failed");
            Err(e)
        }
    }
}
