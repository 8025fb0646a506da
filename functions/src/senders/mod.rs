//! The real notification senders behind [`NotificationSender`]: email through Amazon SES v2
//! ([`ses`]), SMS through Amazon SNS ([`sns`]), WhatsApp through the WhatsApp Business Cloud API
//! ([`whatsapp`]); the texts come from one catalogue per language ([`templates`]).
//!
//! [`Senders`] renders a notification in its language and hands it to its channel's sender. A
//! channel that is not configured, or a notification without a phone number, goes by email
//! (every customer has an address).
//!
//! The production binaries build their sender with [`from_env`]. The logging sender
//! ([`crate::notify::LoggingSender`]) is for local runs only: `KARCIS_LOGGING_SENDER=1` selects
//! it, and [`from_env`] refuses it on Lambda (`AWS_LAMBDA_FUNCTION_NAME` set), so no deployed
//! configuration can turn delivery off.
//!
//! Environment: `SES_FROM_ADDRESS` (required), `SES_CONFIGURATION_SET`, `NOTIFY_SITE_URL`
//! (required: links in the messages), `SMS_ENABLED=1` and `SMS_SENDER_ID` (SNS),
//! `WHATSAPP_PHONE_NUMBER_ID`, `WHATSAPP_ACCESS_TOKEN` (base64 KMS ciphertext under
//! `CONFIG_KEY_ID`, context `{"purpose":"messaging-secrets"}`), `WHATSAPP_API_VERSION`,
//! `WHATSAPP_BASE_URL` (tests).

pub mod ses;
pub mod sns;
pub mod templates;
pub mod whatsapp;
#[cfg(any(test, feature = "testing"))]
pub mod whatsapp_stub;

use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;

use crate::error::{Error, Result};
use crate::ports::{Channel, KeyPurpose, Keys, Notification, NotificationSender};
pub use ses::{EmailSender, SesSender};
pub use sns::{SmsSender, SnsSms};
pub use whatsapp::{WhatsAppCloud, WhatsAppConfig, WhatsAppSender};

/// Routes each notification to its channel's sender.
#[derive(Clone)]
pub struct Senders {
    pub email: Arc<dyn EmailSender>,
    pub sms: Option<Arc<dyn SmsSender>>,
    pub whatsapp: Option<Arc<dyn WhatsAppSender>>,
    /// The buyer site (links in the messages).
    pub site_url: String,
}

impl std::fmt::Debug for Senders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Senders")
            .field("sms", &self.sms.is_some())
            .field("whatsapp", &self.whatsapp.is_some())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl NotificationSender for Senders {
    async fn send(&self, n: &Notification) -> Result<()> {
        let message = templates::render(&n.template, n.lang, &n.params, &self.site_url)?;
        let phone = n.recipient_phone.as_deref().map(String::as_str);
        let used = match (n.channel, phone, &self.sms, &self.whatsapp) {
            (Channel::Sms, Some(phone), Some(sms), _) => {
                sms.send_sms(phone, &message.sms).await?;
                Channel::Sms
            }
            (Channel::Whatsapp, Some(phone), _, Some(wa)) => {
                wa.send_whatsapp(phone, &message).await?;
                Channel::Whatsapp
            }
            _ => {
                self.email.send_email(&n.recipient_email, &message).await?;
                Channel::Email
            }
        };
        tracing::info!(
            template = %n.template,
            customer_id = %n.customer_id,
            asked = n.channel.as_str(),
            channel = used.as_str(),
            lang = n.lang.as_str(),
            "notification sent"
        );
        Ok(())
    }
}

/// Builds the production sender from the environment (see the module docs).
pub async fn from_env(
    sdk: &aws_config::SdkConfig,
    keys: &dyn Keys,
) -> Result<Arc<dyn NotificationSender>> {
    from_lookup(sdk, keys, |k| std::env::var(k).ok()).await
}

/// As [`from_env`], reading through `lookup`.
pub async fn from_lookup(
    sdk: &aws_config::SdkConfig,
    keys: &dyn Keys,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Arc<dyn NotificationSender>> {
    let get = |k: &str| {
        lookup(k)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    if get("KARCIS_LOGGING_SENDER").as_deref() == Some("1") {
        if get("AWS_LAMBDA_FUNCTION_NAME").is_some() {
            return Err(Error::internal(
                "KARCIS_LOGGING_SENDER is for local runs only, never on Lambda",
            ));
        }
        return Ok(Arc::new(crate::notify::LoggingSender));
    }
    let require = |k: &str| get(k).ok_or_else(|| Error::internal(format!("{k} is not set")));
    let email = SesSender::new(
        aws_sdk_sesv2::Client::new(sdk),
        require("SES_FROM_ADDRESS")?,
        get("SES_CONFIGURATION_SET"),
    );
    let sms = (get("SMS_ENABLED").as_deref() == Some("1")).then(|| {
        Arc::new(SnsSms::new(
            aws_sdk_sns::Client::new(sdk),
            get("SMS_SENDER_ID"),
        )) as Arc<dyn SmsSender>
    });
    let whatsapp = match get("WHATSAPP_PHONE_NUMBER_ID") {
        None => None,
        Some(phone_number_id) => {
            let ciphertext = base64::engine::general_purpose::STANDARD
                .decode(require("WHATSAPP_ACCESS_TOKEN")?)
                .map_err(|_| Error::internal("WHATSAPP_ACCESS_TOKEN is not base64"))?;
            let token = keys
                .decrypt(&KeyPurpose::MessagingSecrets, &ciphertext)
                .await?;
            let token = std::str::from_utf8(&token)
                .map_err(|_| Error::internal("WhatsApp token is not text"))?;
            let config = WhatsAppConfig {
                base_url: get("WHATSAPP_BASE_URL").unwrap_or_else(|| whatsapp::GRAPH_URL.into()),
                api_version: get("WHATSAPP_API_VERSION")
                    .unwrap_or_else(|| whatsapp::DEFAULT_API_VERSION.into()),
                phone_number_id,
                access_token: crate::gateway::Secret::new(token.trim()),
            };
            let transport =
                crate::gateway::transport::HyperTransport::new(std::time::Duration::from_secs(10))
                    .map_err(|e| Error::internal(e.code()))?;
            Some(Arc::new(WhatsAppCloud::new(config, transport)) as Arc<dyn WhatsAppSender>)
        }
    };
    Ok(Arc::new(Senders {
        email: Arc::new(email),
        sms,
        whatsapp,
        site_url: require("NOTIFY_SITE_URL")?,
    }))
}
