//! SMS through Amazon SNS `Publish` to a phone number (E.164), marked transactional (one-time
//! codes and ticket notices must not be dropped as promotional traffic), with the configured
//! sender id where the destination country allows one.

use async_trait::async_trait;
use aws_sdk_sns::types::MessageAttributeValue;

use super::ses::error_code;
use crate::error::{Error, Result};

/// Sends one SMS.
#[async_trait]
pub trait SmsSender: Send + Sync {
    async fn send_sms(&self, phone_e164: &str, text: &str) -> Result<()>;
}

/// The SNS adapter.
#[derive(Debug, Clone)]
pub struct SnsSms {
    client: aws_sdk_sns::Client,
    sender_id: Option<String>,
}

impl SnsSms {
    /// `sender_id`: 1-11 alphanumeric characters (e.g. `KARCIS`), or none.
    pub fn new(client: aws_sdk_sns::Client, sender_id: Option<String>) -> Self {
        Self { client, sender_id }
    }
}

fn string_attribute(value: &str) -> Result<MessageAttributeValue> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(Error::internal)
}

/// `+` and 8-15 digits.
pub fn is_e164(phone: &str) -> bool {
    phone
        .strip_prefix('+')
        .is_some_and(|d| (8..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()))
}

#[async_trait]
impl SmsSender for SnsSms {
    async fn send_sms(&self, phone_e164: &str, text: &str) -> Result<()> {
        if !is_e164(phone_e164) {
            return Err(Error::internal("recipient phone is not E.164"));
        }
        let mut publish = self
            .client
            .publish()
            .phone_number(phone_e164)
            .message(text)
            .message_attributes("AWS.SNS.SMS.SMSType", string_attribute("Transactional")?);
        if let Some(id) = &self.sender_id {
            publish = publish.message_attributes("AWS.SNS.SMS.SenderID", string_attribute(id)?);
        }
        let res = publish.send().await.map_err(|e| error_code(&e))?;
        tracing::info!(
            message_id = res.message_id().unwrap_or(""),
            "SMS accepted by SNS"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn e164() {
        assert!(super::is_e164("+6281234567890"));
        assert!(
            !super::is_e164("081234567890") && !super::is_e164("+62 812") && !super::is_e164("+1")
        );
    }
}
