//! The DynamoDB side of backups and restores: a full export to S3 (the daily artefact), and a
//! restore into a new table from a point in time, an on-demand/AWS Backup backup, or an export.
//!
//! moto (the local emulator) keeps no history: its RestoreTableToPointInTime copies the table as
//! it is now. Its ExportTableToPointInTime writes the table to S3 as it is at the call, but its
//! ImportTable mangles strings holding escaped quotes (`{"seq":1}` comes back as `{\`), so the
//! local drill restores an on-demand backup, which moto copies at backup time. The export path
//! of [`RestoreSource::Export`] runs against AWS only.

use std::time::Duration;

use aws_sdk_dynamodb::types::{
    ExportStatus, ImportStatus, InputCompressionType, InputFormat, S3BucketSource, S3SseAlgorithm,
    TableCreationParameters, TableStatus,
};
use aws_sdk_dynamodb::Client;

use crate::aws::describe;
use crate::error::{Error, Result};

/// What a restore starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreSource {
    /// PITR of `table` at `at` (unix seconds), or the latest restorable time.
    PointInTime { table: String, at: Option<u64> },
    /// An on-demand or AWS Backup backup of the table.
    Backup { arn: String },
    /// A full export (DynamoDB JSON, gzip) under `s3://bucket/prefix`: on AWS the export's
    /// `AWSDynamoDB/<export id>/data/` folder.
    Export { bucket: String, prefix: String },
}

impl std::fmt::Display for RestoreSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::PointInTime { table, at: Some(t) } => write!(f, "point-in-time {table} @ {t}"),
            Self::PointInTime { table, at: None } => write!(f, "point-in-time {table} @ latest"),
            Self::Backup { arn } => write!(f, "backup {arn}"),
            Self::Export { bucket, prefix } => write!(f, "export s3://{bucket}/{prefix}"),
        }
    }
}

/// How long to wait for a restore, import or export: `polls` DescribeX calls `every` apart.
#[derive(Debug, Clone, Copy)]
pub struct Wait {
    pub every: Duration,
    pub polls: u32,
}

impl Wait {
    /// Against AWS: a restore of a large table takes hours (every 15 s, up to 6 h).
    pub const AWS: Self = Self {
        every: Duration::from_secs(15),
        polls: 1440,
    };
}

/// Restores `source` into the new table `target` and waits until it is ACTIVE.
///
/// # Errors
/// If DynamoDB refuses, the import fails, or the wait runs out.
pub async fn restore_table(
    client: &Client,
    source: &RestoreSource,
    target: &str,
    wait: Wait,
) -> Result<()> {
    let err = |op: &str, e: String| Error::unavailable(format!("dynamodb {op}: {e}"));
    match source {
        RestoreSource::PointInTime { table, at } => {
            let mut req = client
                .restore_table_to_point_in_time()
                .source_table_name(table)
                .target_table_name(target);
            req = match at {
                Some(t) => {
                    req.restore_date_time(aws_sdk_dynamodb::primitives::DateTime::from_secs(
                        i64::try_from(*t).map_err(Error::internal)?,
                    ))
                }
                None => req.use_latest_restorable_time(true),
            };
            req.send()
                .await
                .map_err(|e| err("RestoreTableToPointInTime", describe(&e)))?;
        }
        RestoreSource::Backup { arn } => {
            client
                .restore_table_from_backup()
                .backup_arn(arn)
                .target_table_name(target)
                .send()
                .await
                .map_err(|e| err("RestoreTableFromBackup", describe(&e)))?;
        }
        RestoreSource::Export { bucket, prefix } => {
            let (keys, attrs, gsi) = super::schema::shape()?;
            let params = TableCreationParameters::builder()
                .table_name(target)
                .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
                .set_key_schema(Some(keys))
                .set_attribute_definitions(Some(attrs))
                .global_secondary_indexes(gsi)
                .build()
                .map_err(Error::internal)?;
            let out = client
                .import_table()
                .s3_bucket_source(
                    S3BucketSource::builder()
                        .s3_bucket(bucket)
                        .s3_key_prefix(prefix)
                        .build()
                        .map_err(Error::internal)?,
                )
                .input_format(InputFormat::DynamodbJson)
                .input_compression_type(InputCompressionType::Gzip)
                .table_creation_parameters(params)
                .send()
                .await
                .map_err(|e| err("ImportTable", describe(&e)))?;
            let arn = out
                .import_table_description
                .and_then(|d| d.import_arn)
                .ok_or_else(|| Error::internal("ImportTable: no import arn"))?;
            wait_import(client, &arn, wait).await?;
        }
    }
    wait_active(client, target, wait).await
}

async fn wait_import(client: &Client, arn: &str, wait: Wait) -> Result<()> {
    for _ in 0..wait.polls {
        let d = client
            .describe_import()
            .import_arn(arn)
            .send()
            .await
            .map_err(|e| Error::unavailable(format!("dynamodb DescribeImport: {}", describe(&e))))?
            .import_table_description;
        match d.as_ref().and_then(|d| d.import_status.clone()) {
            Some(ImportStatus::Completed) => return Ok(()),
            Some(ImportStatus::InProgress) | None => tokio::time::sleep(wait.every).await,
            Some(other) => {
                let d = d.unwrap_or_else(|| {
                    aws_sdk_dynamodb::types::ImportTableDescription::builder().build()
                });
                return Err(Error::unavailable(format!(
                    "import {}: {} {}",
                    other.as_str(),
                    d.failure_code.unwrap_or_default(),
                    d.failure_message.unwrap_or_default()
                )));
            }
        }
    }
    Err(Error::unavailable("import still running after the wait"))
}

async fn wait_active(client: &Client, table: &str, wait: Wait) -> Result<()> {
    for _ in 0..wait.polls {
        let status = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| Error::unavailable(format!("dynamodb DescribeTable: {}", describe(&e))))?
            .table
            .and_then(|t| t.table_status);
        if status == Some(TableStatus::Active) {
            return Ok(());
        }
        tokio::time::sleep(wait.every).await;
    }
    Err(Error::unavailable(format!(
        "{table} not ACTIVE after the wait"
    )))
}

/// A finished export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    pub arn: String,
    pub items: i64,
}

/// Exports `table` in full to `s3://bucket/prefix` (DynamoDB JSON), encrypted with the KMS key
/// `kms_key` when given, and waits for it. Needs PITR on the table (AWS and moto).
///
/// # Errors
/// If DynamoDB refuses, the export fails, or the wait runs out.
pub async fn export_table(
    client: &Client,
    table: &str,
    bucket: &str,
    prefix: &str,
    kms_key: Option<&str>,
    wait: Wait,
) -> Result<Export> {
    let table_arn = client
        .describe_table()
        .table_name(table)
        .send()
        .await
        .map_err(|e| Error::unavailable(format!("dynamodb DescribeTable: {}", describe(&e))))?
        .table
        .and_then(|t| t.table_arn)
        .ok_or_else(|| Error::internal("DescribeTable: no arn"))?;
    let mut req = client
        .export_table_to_point_in_time()
        .table_arn(table_arn)
        .s3_bucket(bucket)
        .s3_prefix(prefix);
    if let Some(key) = kms_key {
        req = req
            .s3_sse_algorithm(S3SseAlgorithm::Kms)
            .s3_sse_kms_key_id(key);
    }
    let arn = req
        .send()
        .await
        .map_err(|e| {
            Error::unavailable(format!(
                "dynamodb ExportTableToPointInTime: {}",
                describe(&e)
            ))
        })?
        .export_description
        .and_then(|d| d.export_arn)
        .ok_or_else(|| Error::internal("ExportTableToPointInTime: no arn"))?;
    for _ in 0..wait.polls {
        let d = client
            .describe_export()
            .export_arn(&arn)
            .send()
            .await
            .map_err(|e| Error::unavailable(format!("dynamodb DescribeExport: {}", describe(&e))))?
            .export_description;
        match d.as_ref().and_then(|d| d.export_status.clone()) {
            Some(ExportStatus::Completed) => {
                return Ok(Export {
                    items: d.and_then(|d| d.item_count).unwrap_or(0),
                    arn,
                })
            }
            Some(ExportStatus::InProgress) | None => tokio::time::sleep(wait.every).await,
            Some(other) => {
                return Err(Error::unavailable(format!(
                    "export {}: {}",
                    other.as_str(),
                    d.and_then(|d| d.failure_code).unwrap_or_default()
                )))
            }
        }
    }
    Err(Error::unavailable("export still running after the wait"))
}
