//! Provisioning helpers for tests and local runs: KMS keys, queues with a dead-letter queue,
//! and raw reads of queues (infra/ provisions the real ones).

use aws_sdk_kms::types::{KeySpec, KeyUsageType};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};

use crate::aws::describe;
use crate::error::{Error, Result};

/// Creates a symmetric KMS key; returns its key id.
pub async fn create_kms_key(client: &aws_sdk_kms::Client, description: &str) -> Result<String> {
    let out = client
        .create_key()
        .description(description)
        .key_spec(KeySpec::SymmetricDefault)
        .key_usage(KeyUsageType::EncryptDecrypt)
        .send()
        .await
        .map_err(|e| Error::unavailable(format!("kms CreateKey: {}", describe(&e))))?;
    out.key_metadata()
        .map(|m| m.key_id().to_owned())
        .ok_or_else(|| Error::internal("kms CreateKey: no metadata"))
}

/// A queue and its dead-letter queue.
#[derive(Debug, Clone)]
pub struct QueuePair {
    pub url: String,
    pub dlq_url: String,
}

async fn create_queue(
    client: &aws_sdk_sqs::Client,
    name: &str,
    attributes: Vec<(QueueAttributeName, String)>,
) -> Result<String> {
    let mut req = client.create_queue().queue_name(name);
    for (k, v) in attributes {
        req = req.attributes(k, v);
    }
    let out = req
        .send()
        .await
        .map_err(|e| Error::unavailable(format!("sqs CreateQueue: {}", describe(&e))))?;
    out.queue_url()
        .map(str::to_owned)
        .ok_or_else(|| Error::internal("sqs CreateQueue: no url"))
}

/// Creates `name` with a redrive policy to `name-dlq` after `max_receive_count` receives.
pub async fn create_queue_with_dlq(
    client: &aws_sdk_sqs::Client,
    name: &str,
    max_receive_count: u32,
    visibility_timeout_secs: u32,
) -> Result<QueuePair> {
    let dlq_url = create_queue(client, &format!("{name}-dlq"), vec![]).await?;
    let attrs = client
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| Error::unavailable(format!("sqs GetQueueAttributes: {}", describe(&e))))?;
    let dlq_arn = attrs
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .cloned()
        .ok_or_else(|| Error::internal("sqs: no dlq arn"))?;
    let redrive = serde_json::json!({
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": max_receive_count.to_string(),
    })
    .to_string();
    let url = create_queue(
        client,
        name,
        vec![
            (QueueAttributeName::RedrivePolicy, redrive),
            (
                QueueAttributeName::VisibilityTimeout,
                visibility_timeout_secs.to_string(),
            ),
        ],
    )
    .await?;
    Ok(QueuePair { url, dlq_url })
}

/// A received message, in the shape Lambda's SQS event source hands to a function.
#[derive(Debug, Clone)]
pub struct ReceivedMessage {
    pub message_id: String,
    pub receipt_handle: String,
    pub body: String,
    pub receive_count: u32,
}

/// Sends a `ReceiveMessage` request (with the receive counts) and collects its messages.
async fn receive_with(
    request: aws_sdk_sqs::operation::receive_message::builders::ReceiveMessageFluentBuilder,
) -> Result<Vec<ReceivedMessage>> {
    let out = request
        .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
        .send()
        .await
        .map_err(|e| Error::unavailable(format!("sqs ReceiveMessage: {}", describe(&e))))?;
    Ok(out
        .messages()
        .iter()
        .map(|m| ReceivedMessage {
            message_id: m.message_id().unwrap_or_default().to_owned(),
            receipt_handle: m.receipt_handle().unwrap_or_default().to_owned(),
            body: m.body().unwrap_or_default().to_owned(),
            receive_count: m
                .attributes()
                .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                .and_then(|c| c.parse().ok())
                .unwrap_or(1),
        })
        .collect())
}

/// Receives up to `max` (1..=10) messages, waiting up to `wait_secs` for the first.
pub async fn receive(
    client: &aws_sdk_sqs::Client,
    url: &str,
    max: i32,
    wait_secs: i32,
) -> Result<Vec<ReceivedMessage>> {
    receive_with(
        client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(max.clamp(1, 10))
            .wait_time_seconds(wait_secs.clamp(0, 20)),
    )
    .await
}

/// Receives up to 10 messages and hides them for `visibility_secs` (for peeking).
pub async fn receive_hidden(
    client: &aws_sdk_sqs::Client,
    url: &str,
    visibility_secs: i32,
) -> Result<Vec<ReceivedMessage>> {
    receive_with(
        client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(visibility_secs),
    )
    .await
}

/// Makes a received message visible again at once.
pub async fn release(client: &aws_sdk_sqs::Client, url: &str, receipt_handle: &str) -> Result<()> {
    client
        .change_message_visibility()
        .queue_url(url)
        .receipt_handle(receipt_handle)
        .visibility_timeout(0)
        .send()
        .await
        .map_err(|e| {
            Error::unavailable(format!("sqs ChangeMessageVisibility: {}", describe(&e)))
        })?;
    Ok(())
}

/// Deletes a received message.
pub async fn delete(client: &aws_sdk_sqs::Client, url: &str, receipt_handle: &str) -> Result<()> {
    client
        .delete_message()
        .queue_url(url)
        .receipt_handle(receipt_handle)
        .send()
        .await
        .map_err(|e| Error::unavailable(format!("sqs DeleteMessage: {}", describe(&e))))?;
    Ok(())
}

/// The approximate number of visible + in-flight messages of a queue.
pub async fn depth(client: &aws_sdk_sqs::Client, url: &str) -> Result<u64> {
    let out = client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .map_err(|e| Error::unavailable(format!("sqs GetQueueAttributes: {}", describe(&e))))?;
    let get = |k: QueueAttributeName| -> u64 {
        out.attributes()
            .and_then(|a| a.get(&k))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Ok(get(QueueAttributeName::ApproximateNumberOfMessages)
        + get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible))
}

/// Every raw item of a table: the bytes of each S, N and B value, recursively (for scans
/// that prove no plaintext personal data is stored).
pub async fn raw_table_items(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<Vec<Vec<u8>>> {
    use aws_sdk_dynamodb::types::AttributeValue;
    fn flatten(v: &AttributeValue, out: &mut Vec<u8>) {
        match v {
            AttributeValue::S(s) | AttributeValue::N(s) => out.extend_from_slice(s.as_bytes()),
            AttributeValue::B(b) => out.extend_from_slice(b.as_ref()),
            AttributeValue::L(l) => l.iter().for_each(|x| flatten(x, out)),
            AttributeValue::M(m) => {
                let mut entries: Vec<_> = m.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                for (k, x) in entries {
                    out.extend_from_slice(k.as_bytes());
                    flatten(x, out);
                }
            }
            AttributeValue::Ss(l) | AttributeValue::Ns(l) => {
                for s in l {
                    out.extend_from_slice(s.as_bytes());
                }
            }
            AttributeValue::Bs(l) => l.iter().for_each(|b| out.extend_from_slice(b.as_ref())),
            _ => {}
        }
        out.push(0);
    }
    let mut items = Vec::new();
    let mut start = None;
    for _ in 0..1000 {
        let out = client
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(|e| Error::unavailable(format!("dynamodb Scan: {}", describe(&e))))?;
        for item in out.items() {
            let mut bytes = Vec::new();
            let mut attrs: Vec<_> = item.iter().collect();
            attrs.sort_by(|a, b| a.0.cmp(b.0));
            for (k, v) in attrs {
                bytes.extend_from_slice(k.as_bytes());
                bytes.push(b'=');
                flatten(v, &mut bytes);
            }
            items.push(bytes);
        }
        match out.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => break,
        }
    }
    Ok(items)
}
