//! What the console reads and changes in the table, and its DynamoDB adapter. The adapter
//! projects only non-personal attributes of orders: the sealed buyer details, the access token
//! and the customer id are never read, so no report can carry them.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

use super::reports::OrderLine;
use crate::aws::describe;
use crate::error::{Error, Result};
use crate::model::OrderStatus;
use crate::store::keys;

/// At most this many Scan pages per report (1 MB each): a bound, never reached by one event.
pub const MAX_SCAN_PAGES: usize = 2_000;

/// The attributes of an order a report may read (IAM `dynamodb:Attributes` allows these only).
pub const ORDER_ATTRIBUTES: [&str; 13] = [
    "order_id",
    "event_id",
    "tier_id",
    "quantity",
    "amount_minor",
    "currency",
    "status",
    "payment_provider",
    "created_at",
    "paid",
    "refund_due",
    "reversal",
    "type",
];

/// The console's storage port.
#[async_trait]
pub trait ConsoleStore: Send + Sync {
    /// Every order of `event_id` (no personal data).
    async fn event_lines(&self, event_id: &str) -> Result<Vec<OrderLine>>;
    /// One order (no personal data).
    async fn order_line(&self, order_id: &str) -> Result<Option<OrderLine>>;
    /// Sets the event's on-sale switch; `Ok(false)` when there is no such event.
    async fn set_on_sale(&self, event_id: &str, on_sale: bool) -> Result<bool>;
}

/// The DynamoDB adapter.
#[derive(Debug, Clone)]
pub struct DynamoConsoleStore {
    client: Client,
    table: String,
}

impl DynamoConsoleStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

type Item = HashMap<String, AttributeValue>;

fn text(i: &Item, name: &str) -> Result<String> {
    match i.get(name) {
        Some(AttributeValue::S(v)) => Ok(v.clone()),
        _ => Err(Error::internal(format!("order without {name}"))),
    }
}

fn number<T: std::str::FromStr>(i: &Item, name: &str) -> Result<T> {
    match i.get(name) {
        Some(AttributeValue::N(v)) => v
            .parse()
            .map_err(|_| Error::internal(format!("order {name} is not a number"))),
        _ => Err(Error::internal(format!("order without {name}"))),
    }
}

fn json<T: serde::de::DeserializeOwned>(i: &Item, name: &str) -> Result<Option<T>> {
    match i.get(name) {
        Some(AttributeValue::S(v)) => serde_json::from_str(v)
            .map(Some)
            .map_err(|_| Error::internal(format!("order {name} is not its JSON"))),
        _ => Ok(None),
    }
}

fn line_from(i: &Item) -> Result<OrderLine> {
    Ok(OrderLine {
        order_id: text(i, "order_id")?,
        event_id: text(i, "event_id")?,
        tier_id: text(i, "tier_id")?,
        quantity: number(i, "quantity")?,
        amount_minor: number(i, "amount_minor")?,
        currency: text(i, "currency")?,
        status: OrderStatus::parse(&text(i, "status")?)?,
        payment_provider: text(i, "payment_provider")?,
        created_at: number(i, "created_at")?,
        paid: json(i, "paid")?,
        refund_due: json(i, "refund_due")?,
        reversal: json(i, "reversal")?,
    })
}

/// `#a0, #a1, ...` for the projected attributes (`type` and `status` are reserved words).
fn projection() -> (String, HashMap<String, String>) {
    let names: HashMap<String, String> = ORDER_ATTRIBUTES
        .iter()
        .enumerate()
        .map(|(n, a)| (format!("#a{n}"), (*a).to_owned()))
        .collect();
    let expr = (0..ORDER_ATTRIBUTES.len())
        .map(|n| format!("#a{n}"))
        .collect::<Vec<_>>()
        .join(", ");
    (expr, names)
}

#[async_trait]
impl ConsoleStore for DynamoConsoleStore {
    async fn event_lines(&self, event_id: &str) -> Result<Vec<OrderLine>> {
        let (expr, mut names) = projection();
        names.insert("#t".into(), "type".into());
        names.insert("#e".into(), "event_id".into());
        let mut lines = Vec::new();
        let mut start: Option<Item> = None;
        for _ in 0..MAX_SCAN_PAGES {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .projection_expression(&expr)
                .set_expression_attribute_names(Some(names.clone()))
                .filter_expression("#t = :order AND #e = :event")
                .expression_attribute_values(":order", AttributeValue::S("order".into()))
                .expression_attribute_values(":event", AttributeValue::S(event_id.to_owned()))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| Error::unavailable(format!("dynamodb Scan: {}", describe(&e))))?;
            for item in out.items() {
                lines.push(line_from(item)?);
            }
            match out.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => return Ok(lines),
            }
        }
        Err(Error::unavailable(
            "report too large to build in one request",
        ))
    }

    async fn order_line(&self, order_id: &str) -> Result<Option<OrderLine>> {
        let (expr, names) = projection();
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(keys::order(order_id)))
            .key("sk", AttributeValue::S(keys::ORDER_SK.to_owned()))
            .projection_expression(expr)
            .set_expression_attribute_names(Some(names))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| Error::unavailable(format!("dynamodb GetItem: {}", describe(&e))))?;
        out.item().map(line_from).transpose()
    }

    async fn set_on_sale(&self, event_id: &str, on_sale: bool) -> Result<bool> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(keys::event(event_id)))
            .key("sk", AttributeValue::S(keys::EVENT_META.to_owned()))
            .update_expression("SET on_sale = :v")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":v", AttributeValue::Bool(on_sale))
            .send()
            .await;
        match out {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(aws_sdk_dynamodb::operation::update_item::UpdateItemError::is_conditional_check_failed_exception) =>
            {
                Ok(false)
            }
            Err(e) => Err(Error::unavailable(format!(
                "dynamodb UpdateItem: {}",
                describe(&e)
            ))),
        }
    }
}
