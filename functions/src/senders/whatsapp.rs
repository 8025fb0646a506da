//! WhatsApp through the WhatsApp Business Cloud API: `POST /{version}/{phone-number-id}/messages`
//! with the system user's access token as a bearer token, one template message per
//! notification (business-initiated messages must be approved templates).
//!
//! The request (`messaging_product: whatsapp`, `type: template`) names the template, its
//! language and its body parameters; an authentication template also gets the code as the
//! parameter of its copy-code button (`sub_type: url`, `index: "0"`). A success is `200` with
//! `messages[0].id` (`wamid.…`); an error is a Graph API error body
//! `{"error": {"message", "type", "code", "error_subcode", "error_data", "fbtrace_id"}}`. Rate
//! limits (codes 4, 80007, 130429, 131056) and 5xx are retried; anything else is refused. An
//! error's message can quote the recipient: only its code is kept.

use async_trait::async_trait;
use serde_json::{json, Value};

use super::templates::Rendered;
use crate::error::{Error, Result};
use crate::gateway::hosted::{HttpRequest, HttpResponse, HttpTransport};
use crate::gateway::Secret;

/// The Graph API version the adapter speaks.
pub const DEFAULT_API_VERSION: &str = "v21.0";
/// Production host.
pub const GRAPH_URL: &str = "https://graph.facebook.com";

/// Sends one template message.
#[async_trait]
pub trait WhatsAppSender: Send + Sync {
    async fn send_whatsapp(&self, phone_e164: &str, message: &Rendered) -> Result<()>;
}

/// Where and as whom to send.
#[derive(Debug, Clone)]
pub struct WhatsAppConfig {
    /// `https://graph.facebook.com` (a loopback stub in tests).
    pub base_url: String,
    pub api_version: String,
    /// The business phone number's id (not the number).
    pub phone_number_id: String,
    pub access_token: Secret,
}

/// The Cloud API adapter over an HTTP transport.
#[derive(Debug, Clone)]
pub struct WhatsAppCloud<T> {
    config: WhatsAppConfig,
    transport: T,
}

impl<T: HttpTransport> WhatsAppCloud<T> {
    pub fn new(config: WhatsAppConfig, transport: T) -> Self {
        Self { config, transport }
    }
}

/// The documented request body for a template message to `phone_e164`.
pub fn message_body(phone_e164: &str, message: &Rendered) -> Value {
    let parameters: Vec<Value> = message
        .whatsapp_params
        .iter()
        .map(|p| json!({"type": "text", "text": p}))
        .collect();
    let mut components = vec![json!({"type": "body", "parameters": parameters})];
    if let Some(code) = &message.whatsapp_otp {
        components.push(json!({
            "type": "button", "sub_type": "url", "index": "0",
            "parameters": [{"type": "text", "text": code}]
        }));
    }
    json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": phone_e164.trim_start_matches('+'),
        "type": "template",
        "template": {
            "name": message.whatsapp_name,
            "language": {"code": message.whatsapp_language},
            "components": components,
        }
    })
}

/// Builds the HTTP request.
pub fn build_request(config: &WhatsAppConfig, phone_e164: &str, message: &Rendered) -> HttpRequest {
    HttpRequest {
        method: "POST",
        url: format!(
            "{}/{}/{}/messages",
            config.base_url.trim_end_matches('/'),
            config.api_version,
            config.phone_number_id
        ),
        headers: vec![
            (
                "authorization".into(),
                format!("Bearer {}", config.access_token.expose()),
            ),
            ("content-type".into(), "application/json".into()),
        ],
        body: message_body(phone_e164, message).to_string().into_bytes(),
    }
}

/// Graph API error codes that mean "slow down, try later".
const RATE_LIMIT_CODES: [i64; 4] = [4, 80_007, 130_429, 131_056];

/// Reads the answer: the message id, or the error classified (retry or refuse).
pub fn parse_response(response: &HttpResponse) -> Result<String> {
    let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    if response.status == 200 {
        return body["messages"][0]["id"]
            .as_str()
            .filter(|id| !id.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| Error::unavailable("WhatsApp answered 200 without a message id"));
    }
    let code = body["error"]["code"].as_i64();
    let described = format!(
        "WhatsApp answered {} (error code {})",
        response.status,
        code.map_or_else(|| "none".to_owned(), |c| c.to_string())
    );
    if response.status >= 500
        || response.status == 429
        || code.is_some_and(|c| RATE_LIMIT_CODES.contains(&c))
    {
        Err(Error::unavailable(described))
    } else {
        Err(Error::internal(described))
    }
}

#[async_trait]
impl<T: HttpTransport + Send + Sync> WhatsAppSender for WhatsAppCloud<T> {
    async fn send_whatsapp(&self, phone_e164: &str, message: &Rendered) -> Result<()> {
        if !super::sns::is_e164(phone_e164) {
            return Err(Error::internal("recipient phone is not E.164"));
        }
        let response = self
            .transport
            .send(build_request(&self.config, phone_e164, message))
            .await
            .map_err(|e| Error::unavailable(format!("WhatsApp: {}", e.code())))?;
        let id = parse_response(&response)?;
        tracing::info!(message_id = %id, "WhatsApp message accepted");
        Ok(())
    }
}
