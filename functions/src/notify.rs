//! notify: sends notifications (SQS, partial batch failures).
//!
//! A message names the customer and the template, never personal data; the recipient's email is
//! unsealed here with the customer's data key, handed to the [`NotificationSender`], and never
//! logged. Delivery is idempotent per `dedupe_id` (a [`Dedup`](crate::ports::Dedup) claim); a
//! failed send gives the claim back so the redelivery retries. A shredded customer's
//! notifications are dropped.
//!
//! A message's `channel` parameter (`email`, the default, `sms`, `whatsapp`) and `lang`
//! parameter (`id`, the default, or `en`) choose how and in which language it goes; SMS and
//! WhatsApp need the phone the buyer gave with the order (sealed on the order), and without one
//! the message goes by email. The senders are in [`crate::senders`]. A `code_sealed` parameter
//! (a step-up code sealed with the buyer's key) is opened here and given to the template as
//! `code`.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::checkout::{buyer_field, EMAIL_FIELD};
use crate::deps::Deps;
use crate::error::{Error, Result};
use crate::model::BuyerDetails;
use crate::ports::{Channel, Lang, Notification, NotificationSender, NotifyMessage};

/// How long a sent notification is remembered for deduplication.
pub const DEDUP_TTL_SECS: u64 = 14 * 24 * 3600;

/// The notify handler.
pub struct Notifier {
    pub deps: Deps,
    pub sender: Arc<dyn NotificationSender>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Notifier")
    }
}

/// What happened to one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Sent,
    Duplicate,
    /// The customer is unknown or was shredded: nothing to send to.
    NoRecipient,
}

fn valid_template(t: &str) -> bool {
    !t.is_empty() && t.len() <= 64 && t.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
}

impl Notifier {
    pub fn new(deps: Deps, sender: Arc<dyn NotificationSender>) -> Self {
        Self { deps, sender }
    }

    /// The Lambda entry point.
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        crate::sqs::process_batch(event, |m| async move {
            let msg: NotifyMessage = serde_json::from_str(&m.body)
                .map_err(|_| Error::Malformed("not a notify message".into()))?;
            self.deliver(&msg).await.map(|_| ())
        })
        .await
    }

    /// Delivers one notification at most once per `dedupe_id`.
    pub async fn deliver(&self, msg: &NotifyMessage) -> Result<Delivery> {
        if !valid_template(&msg.template) || msg.dedupe_id.is_empty() || msg.dedupe_id.len() > 200 {
            return Err(Error::invalid("template", "unknown template or dedupe id"));
        }
        let d = &self.deps;
        let Some(customer) = d.customers.get_customer(&msg.customer_id).await? else {
            tracing::info!(customer_id = %msg.customer_id, template = %msg.template, "no such customer; dropped");
            return Ok(Delivery::NoRecipient);
        };
        let (Some(_), Some(email_sealed)) = (&customer.wrapped_key, &customer.email_sealed) else {
            tracing::info!(customer_id = %msg.customer_id, template = %msg.template, "customer shredded; dropped");
            return Ok(Delivery::NoRecipient);
        };
        let claim = format!("notify:{}", msg.dedupe_id);
        if !d
            .dedup
            .claim(&claim, d.clock.now() + DEDUP_TTL_SECS)
            .await?
        {
            tracing::info!(dedupe_id = %msg.dedupe_id, "duplicate notification skipped");
            return Ok(Delivery::Duplicate);
        }
        let result = async {
            let key = d.pii.customer_key(&customer).await?;
            let email = key.open(EMAIL_FIELD, email_sealed)?;
            let email = Zeroizing::new(String::from_utf8(email.to_vec()).map_err(Error::internal)?);
            let mut params = msg.params.clone();
            let (channel, lang) = channel_and_lang(&mut params)?;
            open_sealed_code(&key, msg.order_id.as_deref(), &mut params)?;
            if let Some(order_id) = &msg.order_id {
                params.insert("order_id".into(), order_id.clone());
            }
            let phone = match (channel, &msg.order_id) {
                (Channel::Email, _) | (_, None) => None,
                (_, Some(order_id)) => self.order_phone(&key, order_id).await?,
            };
            // Without a phone on the order, SMS and WhatsApp fall back to email.
            let channel = if phone.is_none() {
                Channel::Email
            } else {
                channel
            };
            self.sender
                .send(&Notification {
                    template: msg.template.clone(),
                    recipient_email: email,
                    recipient_phone: phone,
                    customer_id: msg.customer_id.clone(),
                    channel,
                    lang,
                    params,
                })
                .await
        }
        .await;
        if let Err(e) = result {
            d.dedup.release_claim(&claim).await?;
            return Err(e);
        }
        Ok(Delivery::Sent)
    }
}

/// Takes the `channel` and `lang` parameters out of a message's parameters (defaults: email,
/// Bahasa Indonesia). An unknown value is refused (the message goes to the DLQ, not elsewhere).
fn channel_and_lang(params: &mut BTreeMap<String, String>) -> Result<(Channel, Lang)> {
    let channel = match params.remove("channel") {
        None => Channel::Email,
        Some(c) => Channel::parse(&c).ok_or_else(|| Error::invalid("channel", "unknown"))?,
    };
    let lang = match params.remove("lang") {
        None => Lang::default(),
        Some(l) => Lang::parse(&l).ok_or_else(|| Error::invalid("lang", "unknown"))?,
    };
    Ok((channel, lang))
}

/// A step-up code travels sealed with the buyer's key ([`crate::sale::stepup`]): opened here,
/// for the template only.
fn open_sealed_code(
    key: &crate::pii::CustomerKey,
    order_id: Option<&str>,
    params: &mut BTreeMap<String, String>,
) -> Result<()> {
    use base64::Engine as _;
    let Some(sealed) = params.remove(crate::sale::stepup::SEALED_CODE_PARAM) else {
        return Ok(());
    };
    let order_id = order_id.ok_or_else(|| Error::invalid("order_id", "a sealed code needs it"))?;
    let sealed = base64::engine::general_purpose::STANDARD
        .decode(sealed)
        .map_err(|_| Error::invalid("code_sealed", "not base64"))?;
    let code = key.open(&crate::sale::stepup::code_field(order_id), &sealed)?;
    let code = String::from_utf8(code.to_vec()).map_err(Error::internal)?;
    params.insert("code".into(), code);
    Ok(())
}

impl Notifier {
    /// The phone number the buyer gave with `order_id` (sealed on the order), if any.
    async fn order_phone(
        &self,
        key: &crate::pii::CustomerKey,
        order_id: &str,
    ) -> Result<Option<Zeroizing<String>>> {
        let Some(order) = self.deps.orders.get_order(order_id).await? else {
            return Ok(None);
        };
        if order.customer_id != key.customer_id() {
            return Err(Error::Conflict("order of another customer".into()));
        }
        let buyer: BuyerDetails = key.open_json(&buyer_field(order_id), &order.buyer_sealed)?;
        Ok(buyer.phone.clone().map(Zeroizing::new))
    }
}

/// The logging notification sender, for local runs only: logs that a notification would be sent,
/// with a pseudonymous recipient reference (truncated SHA-256 of customer id and template), never
/// the address. The production binaries refuse it on Lambda ([`crate::senders::from_env`]).
#[derive(Debug, Default, Clone, Copy)]
pub struct LoggingSender;

#[async_trait]
impl NotificationSender for LoggingSender {
    async fn send(&self, n: &Notification) -> Result<()> {
        let reference = hex::encode(
            &Sha256::digest(format!("{}\0{}", n.customer_id, n.template).as_bytes())[..8],
        );
        let param_names: Vec<&str> = n.params.keys().map(String::as_str).collect();
        tracing::info!(
            template = %n.template,
            customer_id = %n.customer_id,
            reference = %reference,
            params = ?param_names,
            "notification sent (logging sender)"
        );
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn templates() {
        assert!(valid_template("tickets_ready"));
        assert!(
            !valid_template("Tickets-Ready")
                && !valid_template("")
                && !valid_template(&"a".repeat(65))
        );
    }
}
