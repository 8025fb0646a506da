//! Gateway secrets, as decrypted from configuration (`GATEWAY_SECRETS`, a KMS ciphertext of this
//! JSON). Every secret is wiped from memory when dropped and never printed.
//!
//! ```json
//! {
//!   "stripe":   { "webhook_secrets": ["whsec_..."], "api_key": "sk_live_..." },
//!   "midtrans": { "server_key": "Mid-server-..." },
//!   "xendit":   { "callback_token": "...", "api_key": "xnd_production_..." },
//!   "doku":     { "client_id": "BRN-...", "secret_key": "SK-..." }
//! }
//! ```
//! A provider left out is not configured: its webhooks are refused.

use std::fmt;

use serde::{Deserialize, Deserializer};
use zeroize::{Zeroize, Zeroizing};

use super::{GatewayError, Provider};

/// A secret string: zeroized on drop, redacted in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(Zeroizing::new(value.into()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut s = String::deserialize(d)?;
        if s.is_empty() || s.len() > 4096 {
            s.zeroize();
            return Err(serde::de::Error::custom("a secret must be 1..=4096 bytes"));
        }
        Ok(Secret(Zeroizing::new(s)))
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StripeSecrets {
    /// Endpoint signing secrets (`whsec_...`). More than one during a rotation: a signature by
    /// any of them is accepted.
    pub webhook_secrets: Vec<Secret>,
    /// Secret API key (`sk_...`) for creating Checkout Sessions.
    pub api_key: Secret,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MidtransSecrets {
    /// Server key: signs notifications (`signature_key`) and authenticates Snap API calls.
    pub server_key: Secret,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct XenditSecrets {
    /// Callback verification token, sent by Xendit in `x-callback-token`.
    pub callback_token: Secret,
    /// Secret API key for creating invoices.
    pub api_key: Secret,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DokuSecrets {
    /// Client-Id (not secret, but it is part of what is signed).
    pub client_id: String,
    /// Secret key: HMAC key of the non-SNAP `Signature` header.
    pub secret_key: Secret,
}

/// All gateway secrets; a provider without an entry is disabled.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySecrets {
    #[serde(default)]
    pub stripe: Option<StripeSecrets>,
    #[serde(default)]
    pub midtrans: Option<MidtransSecrets>,
    #[serde(default)]
    pub xendit: Option<XenditSecrets>,
    #[serde(default)]
    pub doku: Option<DokuSecrets>,
}

impl GatewaySecrets {
    /// Parses the decrypted JSON document. The error never quotes the input.
    pub fn from_json(plaintext: &[u8]) -> Result<Self, GatewayError> {
        let secrets: GatewaySecrets = serde_json::from_slice(plaintext)
            .map_err(|_| GatewayError::InvalidSecrets("not the documented JSON shape"))?;
        if let Some(s) = &secrets.stripe {
            if s.webhook_secrets.is_empty() {
                return Err(GatewayError::InvalidSecrets(
                    "stripe.webhook_secrets is empty",
                ));
            }
        }
        if let Some(d) = &secrets.doku {
            if d.client_id.is_empty() {
                return Err(GatewayError::InvalidSecrets("doku.client_id is empty"));
            }
        }
        Ok(secrets)
    }

    pub fn stripe(&self) -> Result<&StripeSecrets, GatewayError> {
        self.stripe
            .as_ref()
            .ok_or(GatewayError::NotConfigured(Provider::Stripe))
    }

    pub fn midtrans(&self) -> Result<&MidtransSecrets, GatewayError> {
        self.midtrans
            .as_ref()
            .ok_or(GatewayError::NotConfigured(Provider::Midtrans))
    }

    pub fn xendit(&self) -> Result<&XenditSecrets, GatewayError> {
        self.xendit
            .as_ref()
            .ok_or(GatewayError::NotConfigured(Provider::Xendit))
    }

    pub fn doku(&self) -> Result<&DokuSecrets, GatewayError> {
        self.doku
            .as_ref()
            .ok_or(GatewayError::NotConfigured(Provider::Doku))
    }

    pub fn is_configured(&self, provider: Provider) -> bool {
        match provider {
            Provider::Stripe => self.stripe.is_some(),
            Provider::Midtrans => self.midtrans.is_some(),
            Provider::Xendit => self.xendit.is_some(),
            Provider::Doku => self.doku.is_some(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_redacts() {
        let s = GatewaySecrets::from_json(
            br#"{"stripe":{"webhook_secrets":["whsec_a","whsec_b"],"api_key":"sk_test_x"},
                 "xendit":{"callback_token":"tok","api_key":"xnd_development_y"}}"#,
        )
        .expect("valid");
        assert_eq!(s.stripe().expect("stripe").webhook_secrets.len(), 2);
        assert_eq!(
            s.midtrans().map(|_| ()),
            Err(GatewayError::NotConfigured(Provider::Midtrans))
        );
        let debug = format!("{s:?}");
        assert!(
            !debug.contains("whsec_a") && !debug.contains("tok\"") && !debug.contains("sk_test_x"),
            "{debug}"
        );
        assert!(s.is_configured(Provider::Xendit) && !s.is_configured(Provider::Doku));
    }

    #[test]
    fn rejects_bad_documents_without_echoing_them() {
        for doc in [
            &b"not json sk_live_secret"[..],
            br#"{"stripe":{"webhook_secrets":[],"api_key":"k"}}"#,
            br#"{"stripe":{"webhook_secrets":[""],"api_key":"k"}}"#,
            br#"{"paypal":{}}"#,
            br#"{"doku":{"client_id":"","secret_key":"k"}}"#,
        ] {
            let err = GatewaySecrets::from_json(doc).expect_err("must be refused");
            assert!(!err.to_string().contains("sk_live_secret"));
            assert_eq!(err.code(), "invalid_gateway_secrets");
        }
    }
}
