//! Email through Amazon SES v2 (`SendEmail`, simple content: subject and text body). Marketing
//! messages carry `List-Unsubscribe` and `List-Unsubscribe-Post` headers (RFC 8058) besides the
//! link in the text. The sending identity (`SES_FROM_ADDRESS`'s domain) must be verified in SES.

use async_trait::async_trait;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message, MessageHeader};

use super::templates::Rendered;
use crate::error::{Error, Result};

/// Sends one rendered email.
#[async_trait]
pub trait EmailSender: Send + Sync {
    async fn send_email(&self, to: &str, message: &Rendered) -> Result<()>;
}

/// The SES v2 adapter.
#[derive(Debug, Clone)]
pub struct SesSender {
    client: aws_sdk_sesv2::Client,
    from: String,
    configuration_set: Option<String>,
}

impl SesSender {
    /// `from`: e.g. `karcis <tiket@karcis.example>`; `configuration_set`: the SES configuration
    /// set (bounce and complaint events), if any.
    pub fn new(
        client: aws_sdk_sesv2::Client,
        from: impl Into<String>,
        configuration_set: Option<String>,
    ) -> Self {
        Self {
            client,
            from: from.into(),
            configuration_set,
        }
    }
}

fn content(data: &str) -> Result<Content> {
    Content::builder()
        .data(data)
        .charset("UTF-8")
        .build()
        .map_err(Error::internal)
}

fn header(name: &str, value: &str) -> Result<MessageHeader> {
    MessageHeader::builder()
        .name(name)
        .value(value)
        .build()
        .map_err(Error::internal)
}

/// An SDK error's code only: SES messages can quote the recipient's address.
pub(crate) fn error_code<E, R>(err: &aws_sdk_sesv2::error::SdkError<E, R>) -> Error
where
    E: aws_sdk_sesv2::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_sesv2::error::SdkError;
    match err {
        SdkError::ServiceError(s) => {
            let code = s.err().code().unwrap_or("ServiceError").to_owned();
            if code.contains("Throttl") || code.contains("TooManyRequests") {
                Error::unavailable(code)
            } else {
                Error::internal(format!("send refused: {code}"))
            }
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => {
            Error::unavailable("messaging endpoint unreachable")
        }
        _ => Error::unavailable("messaging endpoint answered unexpectedly"),
    }
}

#[async_trait]
impl EmailSender for SesSender {
    async fn send_email(&self, to: &str, message: &Rendered) -> Result<()> {
        let mut simple = Message::builder()
            .subject(content(&message.subject)?)
            .body(Body::builder().text(content(&message.text)?).build());
        if let Some(url) = &message.unsubscribe_url {
            simple = simple
                .headers(header("List-Unsubscribe", &format!("<{url}>"))?)
                .headers(header(
                    "List-Unsubscribe-Post",
                    "List-Unsubscribe=One-Click",
                )?);
        }
        let res = self
            .client
            .send_email()
            .from_email_address(&self.from)
            .destination(Destination::builder().to_addresses(to).build())
            .content(EmailContent::builder().simple(simple.build()).build())
            .set_configuration_set_name(self.configuration_set.clone())
            .send()
            .await
            .map_err(|e| error_code(&e))?;
        tracing::info!(
            message_id = res.message_id().unwrap_or(""),
            "email accepted by SES"
        );
        Ok(())
    }
}
