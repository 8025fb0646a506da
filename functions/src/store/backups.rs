//! The record of each backup run: `BACKUP#<run_id>` / `RUN` with `kind`, `status`
//! (`RUNNING`/`DONE`/`FAILED`), `started_at`, `finished_at`, `export_arn`, `item_count`, `problem`.
//! A run is claimed with one conditional put, so a redelivered job does not export twice.

use aws_sdk_dynamodb::types::AttributeValue;

use super::attrs::{item_key, n, s};
use super::DynamoStore;
use crate::aws::describe;
use crate::error::{Error, Result};

fn key(run_id: &str) -> std::collections::HashMap<String, AttributeValue> {
    item_key(&format!("BACKUP#{run_id}"), "RUN")
}

impl DynamoStore {
    /// Claims `run_id`: `true` if it is new or its last attempt failed (a retry), `false` if
    /// it is running or done.
    ///
    /// # Errors
    /// If DynamoDB refuses.
    pub async fn claim_backup_run(&self, run_id: &str, kind: &str, now: u64) -> Result<bool> {
        let mut item = key(run_id);
        item.insert("type".into(), s("backup_run"));
        item.insert("run_id".into(), s(run_id));
        item.insert("kind".into(), s(kind));
        item.insert("status".into(), s("RUNNING"));
        item.insert("started_at".into(), n(now));
        let res = self
            .client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR #st = :failed")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":failed", s("FAILED"))
            .send()
            .await;
        match res {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error().is_some_and(
                    aws_sdk_dynamodb::operation::put_item::PutItemError::is_conditional_check_failed_exception,
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(Error::unavailable(format!("dynamodb PutItem: {}", describe(&e)))),
        }
    }

    /// Records how a claimed run ended.
    ///
    /// # Errors
    /// If DynamoDB refuses.
    pub async fn finish_backup_run(
        &self,
        run_id: &str,
        outcome: std::result::Result<(&str, i64), &str>,
        now: u64,
    ) -> Result<()> {
        let mut req = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(run_id)))
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":at", n(now));
        req = match outcome {
            Ok((arn, items)) => req
                .update_expression(
                    "SET #st = :done, finished_at = :at, export_arn = :arn, item_count = :items",
                )
                .expression_attribute_values(":done", s("DONE"))
                .expression_attribute_values(":arn", s(arn))
                .expression_attribute_values(":items", n(items)),
            Err(problem) => req
                .update_expression("SET #st = :failed, finished_at = :at, problem = :p")
                .expression_attribute_values(":failed", s("FAILED"))
                .expression_attribute_values(":p", s(problem)),
        };
        req.send()
            .await
            .map_err(|e| Error::unavailable(format!("dynamodb UpdateItem: {}", describe(&e))))?;
        Ok(())
    }

    /// A run's `status`, if recorded.
    ///
    /// # Errors
    /// If DynamoDB refuses.
    pub async fn backup_run_status(&self, run_id: &str) -> Result<Option<String>> {
        Ok(self
            .get_item(&format!("BACKUP#{run_id}"), "RUN")
            .await?
            .and_then(|i| super::attrs::get_s_opt(&i, "status")))
    }
}
