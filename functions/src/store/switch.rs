//! The incident switches: the kill switch of every sale (`CONFIG`/`SALES_PAUSE`) and one event's
//! `on_sale` flag. Checkout reads both (see `crate::operations::pause`).

use aws_sdk_dynamodb::types::AttributeValue;

use super::attrs::{item_key, n, s};
use super::{keys, DynamoStore};
use crate::aws::describe;
use crate::error::{Error, Result};

impl DynamoStore {
    /// Sets the kill switch of every sale.
    ///
    /// # Errors
    /// If DynamoDB refuses.
    pub async fn set_sales_pause(&self, paused: bool, reason: &str, at: u64) -> Result<()> {
        let mut item = item_key(keys::CONFIG, keys::SALES_PAUSE);
        item.insert("paused".into(), AttributeValue::Bool(paused));
        item.insert("reason".into(), s(reason));
        item.insert("at".into(), n(at));
        self.client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| Error::unavailable(format!("dynamodb PutItem: {}", describe(&e))))?;
        Ok(())
    }

    /// Sets one event's `on_sale`; `NotFound` if there is no such event.
    ///
    /// # Errors
    /// If DynamoDB refuses or the event does not exist.
    pub async fn set_on_sale(&self, event_id: &str, on_sale: bool) -> Result<()> {
        let res = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(item_key(&keys::event(event_id), keys::EVENT_META)))
            .update_expression("SET on_sale = :v")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":v", AttributeValue::Bool(on_sale))
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(aws_sdk_dynamodb::operation::update_item::UpdateItemError::is_conditional_check_failed_exception) =>
            {
                Err(Error::NotFound)
            }
            Err(e) => Err(Error::unavailable(format!(
                "dynamodb UpdateItem: {}",
                describe(&e)
            ))),
        }
    }
}
