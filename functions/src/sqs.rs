//! SQS-triggered handlers: partial batch failures (`ReportBatchItemFailures`).

use std::future::Future;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};

use crate::error::Result;

/// One message of a batch, as a handler sees it.
#[derive(Debug, Clone)]
pub struct Message {
    pub message_id: String,
    pub body: String,
    /// `ApproximateReceiveCount` (1 on first delivery).
    pub receive_count: u32,
}

/// Runs `handle` on each message in turn; a message whose handler fails is reported as a batch
/// item failure (SQS redelivers it; after `maxReceiveCount` it goes to the DLQ). Others are
/// deleted by Lambda.
pub async fn process_batch<F, Fut>(event: SqsEvent, handle: F) -> SqsBatchResponse
where
    F: Fn(Message) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        let Some(message_id) = record.message_id.clone() else {
            continue; // cannot be reported without an id; Lambda treats it as done
        };
        let message = Message {
            message_id: message_id.clone(),
            body: record.body.clone().unwrap_or_default(),
            receive_count: record
                .attributes
                .get("ApproximateReceiveCount")
                .and_then(|c| c.parse().ok())
                .unwrap_or(1),
        };
        let receive_count = message.receive_count;
        if let Err(e) = handle(message).await {
            let problem = e.slug();
            match &e {
                crate::Error::Internal(detail) | crate::Error::Unavailable(detail) => {
                    tracing::warn!(%message_id, receive_count, problem, %detail, "message failed");
                }
                _ => tracing::warn!(%message_id, receive_count, problem, "message failed"),
            }
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = message_id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}

/// Builds an SQS event from `(message_id, body, receive_count)` triples (what Lambda's event
/// source mapping hands to a function). `aws_lambda_events` structs are `#[non_exhaustive]`,
/// so this goes through their JSON form.
pub fn event_from(messages: &[(String, String, u32)], queue_arn: &str) -> SqsEvent {
    let records: Vec<serde_json::Value> = messages
        .iter()
        .map(|(id, body, count)| {
            serde_json::json!({
                "messageId": id,
                "receiptHandle": format!("rh-{id}"),
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": count.to_string(),
                    "SentTimestamp": "0",
                    "SenderId": "local",
                    "ApproximateFirstReceiveTimestamp": "0"
                },
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1"
            })
        })
        .collect();
    serde_json::from_value(serde_json::json!({ "Records": records })).unwrap_or_default()
}

/// The ids of the failed messages of a response.
pub fn failed_ids(response: &SqsBatchResponse) -> Vec<String> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn failures_are_reported_per_message() {
        let event = event_from(
            &[
                ("a".into(), "ok".into(), 1),
                ("b".into(), "bad".into(), 3),
                ("c".into(), "ok".into(), 1),
            ],
            "arn:aws:sqs:us-east-1:000000000000:q",
        );
        assert_eq!(event.records.len(), 3);
        let res = process_batch(event, |m| async move {
            if m.body == "bad" {
                assert_eq!(m.receive_count, 3);
                Err(crate::Error::Malformed("x".into()))
            } else {
                Ok(())
            }
        })
        .await;
        assert_eq!(failed_ids(&res), vec!["b".to_owned()]);
    }
}
