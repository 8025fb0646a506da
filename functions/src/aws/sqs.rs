//! SQS adapter for [`Queue`].

use async_trait::async_trait;

use crate::aws::describe;
use crate::error::{Error, Result};
use crate::ports::{Queue, Topic};

/// Sends to the mint and notify queues.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    mint_queue_url: Option<String>,
    notify_queue_url: Option<String>,
    revoke_queue_url: Option<String>,
}

impl SqsQueue {
    pub fn new(
        client: aws_sdk_sqs::Client,
        mint_queue_url: Option<String>,
        notify_queue_url: Option<String>,
    ) -> Self {
        Self {
            client,
            mint_queue_url,
            notify_queue_url,
            revoke_queue_url: None,
        }
    }

    /// Also sends to the revocation queue.
    #[must_use]
    pub fn with_revoke_queue(mut self, url: Option<String>) -> Self {
        self.revoke_queue_url = url;
        self
    }

    pub fn from_config(client: aws_sdk_sqs::Client, config: &crate::config::Config) -> Self {
        Self::new(
            client,
            config.mint_queue_url.clone(),
            config.notify_queue_url.clone(),
        )
        .with_revoke_queue(config.revoke_queue_url.clone())
    }
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send(&self, topic: Topic, body: &str) -> Result<()> {
        let (url, name) = match topic {
            Topic::Mint => (&self.mint_queue_url, "MINT_QUEUE_URL"),
            Topic::Notify => (&self.notify_queue_url, "NOTIFY_QUEUE_URL"),
            Topic::Revoke => (&self.revoke_queue_url, "REVOKE_QUEUE_URL"),
        };
        let url = crate::config::Config::require(url, name)?;
        self.client
            .send_message()
            .queue_url(url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| Error::unavailable(format!("sqs SendMessage: {}", describe(&e))))?;
        Ok(())
    }
}
