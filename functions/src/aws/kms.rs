//! KMS adapter for [`Keys`]: GenerateDataKey / Decrypt / Encrypt under the contract's
//! encryption contexts.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use zeroize::Zeroizing;

use crate::aws::describe;
use crate::error::{Error, Result};
use crate::ports::{DataKey, KeyPurpose, Keys};

/// KMS keys by purpose (`PII_KEY_ID`, `ISSUER_KEY_ID`, `CONFIG_KEY_ID`).
#[derive(Debug, Clone)]
pub struct KmsKeys {
    client: aws_sdk_kms::Client,
    pii_key_id: Option<String>,
    issuer_key_id: Option<String>,
    config_key_id: Option<String>,
}

impl KmsKeys {
    pub fn new(
        client: aws_sdk_kms::Client,
        pii_key_id: Option<String>,
        issuer_key_id: Option<String>,
        config_key_id: Option<String>,
    ) -> Self {
        Self {
            client,
            pii_key_id,
            issuer_key_id,
            config_key_id,
        }
    }

    pub fn from_config(client: aws_sdk_kms::Client, config: &crate::config::Config) -> Self {
        Self::new(
            client,
            config.pii_key_id.clone(),
            config.issuer_key_id.clone(),
            config.config_key_id.clone(),
        )
    }

    fn key_id(&self, purpose: &KeyPurpose) -> Result<&str> {
        let (value, name) = match purpose {
            KeyPurpose::CustomerPii { .. } | KeyPurpose::StaffTotp { .. } => {
                (&self.pii_key_id, "PII_KEY_ID")
            }
            KeyPurpose::TicketIssuer { .. } => (&self.issuer_key_id, "ISSUER_KEY_ID"),
            KeyPurpose::GatewaySecrets
            | KeyPurpose::RevokerKey
            | KeyPurpose::MessagingSecrets
            | KeyPurpose::CaptchaSecret => (&self.config_key_id, "CONFIG_KEY_ID"),
        };
        crate::config::Config::require(value, name)
    }
}

/// The encryption context of the contract for a purpose.
pub fn encryption_context(purpose: &KeyPurpose) -> Vec<(&'static str, String)> {
    match purpose {
        KeyPurpose::CustomerPii { customer_id } => vec![
            ("purpose", "customer-pii".to_owned()),
            ("customer_id", customer_id.clone()),
        ],
        KeyPurpose::StaffTotp { staff_id } => vec![
            ("purpose", "staff-totp".to_owned()),
            ("staff_id", staff_id.clone()),
        ],
        KeyPurpose::TicketIssuer { event_id, kid } => vec![
            ("purpose", "ticket-issuer".to_owned()),
            ("event_id", event_id.clone()),
            ("kid", kid.to_string()),
        ],
        KeyPurpose::GatewaySecrets => vec![("purpose", "gateway-secrets".to_owned())],
        KeyPurpose::RevokerKey => vec![("purpose", "revoker-key".to_owned())],
        KeyPurpose::MessagingSecrets => vec![("purpose", "messaging-secrets".to_owned())],
        KeyPurpose::CaptchaSecret => vec![("purpose", "captcha-secret".to_owned())],
    }
}

/// [`encryption_context`] in the form the SDK requests take.
fn context_map(purpose: &KeyPurpose) -> HashMap<String, String> {
    encryption_context(purpose)
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
}

fn kms_error<E, R>(op: &str, err: &aws_sdk_kms::error::SdkError<E, R>) -> Error
where
    E: aws_sdk_kms::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_kms::error::SdkError;
    let text = describe(err);
    match err {
        // Wrong key or context, disabled key: not transient.
        SdkError::ServiceError(s)
            if matches!(
                aws_sdk_kms::error::ProvideErrorMetadata::code(s.err()),
                Some(
                    "InvalidCiphertextException"
                        | "IncorrectKeyException"
                        | "NotFoundException"
                        | "DisabledException"
                        | "KMSInvalidStateException"
                        | "AccessDeniedException"
                )
            ) =>
        {
            Error::internal(format!("kms {op}: {text}"))
        }
        _ => Error::unavailable(format!("kms {op}: {text}")),
    }
}

#[async_trait]
impl Keys for KmsKeys {
    async fn generate_data_key(&self, purpose: &KeyPurpose) -> Result<DataKey> {
        let out = self
            .client
            .generate_data_key()
            .key_id(self.key_id(purpose)?)
            .key_spec(DataKeySpec::Aes256)
            .set_encryption_context(Some(context_map(purpose)))
            .send()
            .await
            .map_err(|e| kms_error("GenerateDataKey", &e))?;
        let plain = out
            .plaintext()
            .ok_or_else(|| Error::internal("kms GenerateDataKey: no plaintext"))?;
        let wrapped = out
            .ciphertext_blob()
            .ok_or_else(|| Error::internal("kms GenerateDataKey: no ciphertext"))?;
        let mut plaintext = Zeroizing::new([0u8; 32]);
        if plain.as_ref().len() != 32 {
            return Err(Error::internal("kms GenerateDataKey: key is not 32 bytes"));
        }
        plaintext.copy_from_slice(plain.as_ref());
        Ok(DataKey {
            plaintext,
            wrapped: wrapped.as_ref().to_vec(),
        })
    }

    async fn decrypt(&self, purpose: &KeyPurpose, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let out = self
            .client
            .decrypt()
            .key_id(self.key_id(purpose)?)
            .ciphertext_blob(Blob::new(ciphertext))
            .set_encryption_context(Some(context_map(purpose)))
            .send()
            .await
            .map_err(|e| kms_error("Decrypt", &e))?;
        let plain = out
            .plaintext()
            .ok_or_else(|| Error::internal("kms Decrypt: no plaintext"))?;
        Ok(Zeroizing::new(plain.as_ref().to_vec()))
    }

    async fn encrypt(&self, purpose: &KeyPurpose, plaintext: &[u8]) -> Result<Vec<u8>> {
        if plaintext.len() > 4096 {
            return Err(Error::internal("kms Encrypt: plaintext over 4 KiB"));
        }
        let out = self
            .client
            .encrypt()
            .key_id(self.key_id(purpose)?)
            .plaintext(Blob::new(plaintext))
            .set_encryption_context(Some(context_map(purpose)))
            .send()
            .await
            .map_err(|e| kms_error("Encrypt", &e))?;
        out.ciphertext_blob()
            .map(|b| b.as_ref().to_vec())
            .ok_or_else(|| Error::internal("kms Encrypt: no ciphertext"))
    }
}
