//! Adapters: the KMS signer, the DynamoDB directory.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeySpec, KeyUsageType, MessageType, SigningAlgorithmSpec};

use super::records::StaffDirectory;
use crate::audit_ingest::{DynamoAuditLog, Link, Stream};
use crate::error::{Error, Result};
use crate::staff_identity::{
    der_to_jose, spki_to_sec1, Member, MemberLookup, Role, TokenSigner, PREVIOUS_KEYS_ENV,
};

fn kms_err<E, R>(err: &aws_sdk_kms::error::SdkError<E, R>) -> Error
where
    E: aws_sdk_kms::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match err {
        aws_sdk_kms::error::SdkError::ServiceError(s) => Error::internal(format!(
            "KMS: {}: {}",
            s.err().code().unwrap_or("ServiceError"),
            s.err().message().unwrap_or("")
        )),
        _ => Error::unavailable("KMS unreachable"),
    }
}

/// The public key of a KMS signing key, checked to be ECC_NIST_P256 / SIGN_VERIFY.
pub async fn public_key_of(client: &aws_sdk_kms::Client, key_id: &str) -> Result<[u8; 65]> {
    let out = client
        .get_public_key()
        .key_id(key_id)
        .send()
        .await
        .map_err(|e| kms_err(&e))?;
    // The SPKI prefix below pins the curve (prime256v1); KeySpec is not in every KMS answer
    // (moto sends only the deprecated CustomerMasterKeySpec).
    if out.key_usage() != Some(&KeyUsageType::SignVerify)
        || !out
            .signing_algorithms()
            .contains(&SigningAlgorithmSpec::EcdsaSha256)
    {
        return Err(Error::internal(
            "staff signing key must be ECC_NIST_P256 / SIGN_VERIFY",
        ));
    }
    let der = out
        .public_key()
        .ok_or_else(|| Error::internal("KMS returned no public key"))?;
    spki_to_sec1(der.as_ref())
}

/// The public keys of the retired signing keys named in `STAFF_PREVIOUS_KEY_IDS`
/// (comma-separated; unset = none), read once per cold start.
pub async fn previous_public_keys(client: &aws_sdk_kms::Client) -> Result<Vec<[u8; 65]>> {
    let ids = std::env::var(PREVIOUS_KEYS_ENV).unwrap_or_default();
    let mut keys = Vec::new();
    for id in ids.split(',').map(str::trim).filter(|id| !id.is_empty()) {
        keys.push(public_key_of(client, id).await?);
    }
    Ok(keys)
}

/// Signs with KMS (`MessageType::Raw`, `ECDSA_SHA_256`: KMS hashes the message).
#[derive(Debug, Clone)]
pub struct KmsSigner {
    client: aws_sdk_kms::Client,
    key_id: String,
    public: [u8; 65],
}

impl KmsSigner {
    /// Fetches the public key once (per cold start).
    pub async fn load(client: aws_sdk_kms::Client, key_id: &str) -> Result<Self> {
        let public = public_key_of(&client, key_id).await?;
        Ok(Self {
            client,
            key_id: key_id.to_owned(),
            public,
        })
    }
}

#[async_trait]
impl TokenSigner for KmsSigner {
    fn public_key(&self) -> [u8; 65] {
        self.public
    }

    async fn sign(&self, message: &[u8]) -> Result<[u8; 64]> {
        let out = self
            .client
            .sign()
            .key_id(&self.key_id)
            .message(Blob::new(message))
            .message_type(MessageType::Raw)
            .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
            .send()
            .await
            .map_err(|e| kms_err(&e))?;
        let der = out
            .signature()
            .ok_or_else(|| Error::internal("KMS returned no signature"))?;
        der_to_jose(der.as_ref())
    }
}

/// Creates an ECC_NIST_P256 SIGN_VERIFY key (tests, local stacks); returns its id.
pub async fn create_signing_key(client: &aws_sdk_kms::Client, description: &str) -> Result<String> {
    let out = client
        .create_key()
        .description(description)
        .key_spec(KeySpec::EccNistP256)
        .key_usage(KeyUsageType::SignVerify)
        .send()
        .await
        .map_err(|e| kms_err(&e))?;
    out.key_metadata()
        .map(|m| m.key_id().to_owned())
        .ok_or_else(|| Error::internal("KMS returned no key metadata"))
}

type Item = HashMap<String, AttributeValue>;

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn list(v: &[String]) -> AttributeValue {
    AttributeValue::L(v.iter().map(|x| s(x.clone())).collect())
}

fn member_from(item: &Item) -> Result<Member> {
    let bad = || Error::internal("stored staff member is malformed");
    let text = |k: &str| match item.get(k) {
        Some(AttributeValue::S(v)) => Ok(v.clone()),
        _ => Err(bad()),
    };
    let num = |k: &str| match item.get(k) {
        Some(AttributeValue::N(v)) => v.parse::<u64>().map_err(|_| bad()),
        _ => Err(bad()),
    };
    let strings = |k: &str| match item.get(k) {
        Some(AttributeValue::L(v)) => v
            .iter()
            .map(|a| match a {
                AttributeValue::S(x) => Ok(x.clone()),
                _ => Err(bad()),
            })
            .collect::<Result<Vec<_>>>(),
        _ => Err(bad()),
    };
    let role: Role =
        serde_json::from_value(serde_json::Value::String(text("role")?)).map_err(|_| bad())?;
    Ok(Member {
        staff_id: text("staff_id")?,
        role,
        events: strings("events")?,
        gates: strings("gates")?,
        active: matches!(item.get("active"), Some(AttributeValue::Bool(true))),
        version: num("version")?,
        updated_at: num("updated_at")?,
        updated_by: text("updated_by")?,
    })
}

/// Staff members in the single table: `STAFF#<staff_id>` / `MEMBER`.
#[derive(Debug, Clone)]
pub struct DynamoDirectory {
    log: DynamoAuditLog,
}

impl DynamoDirectory {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            log: DynamoAuditLog::new(client, table),
        }
    }
}

#[async_trait]
impl MemberLookup for DynamoDirectory {
    async fn get_member(&self, staff_id: &str) -> Result<Option<Member>> {
        let out = self
            .log
            .client()
            .get_item()
            .table_name(self.log.table())
            .key("pk", s(format!("STAFF#{staff_id}")))
            .key("sk", s("MEMBER"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| Error::unavailable(crate::aws::describe(&e)))?;
        out.item().map(member_from).transpose()
    }

    async fn tokens_not_before(&self) -> Result<u64> {
        crate::store::incident::staff_tokens_not_before(self.log.client(), self.log.table()).await
    }
}

#[async_trait]
impl StaffDirectory for DynamoDirectory {
    async fn put_member_recorded(
        &self,
        member: &Member,
        expected_version: Option<u64>,
        record: &Link,
        now: u64,
    ) -> Result<bool> {
        let mut put = Put::builder()
            .table_name(self.log.table())
            .item("pk", s(format!("STAFF#{}", member.staff_id)))
            .item("sk", s("MEMBER"))
            .item("type", s("staff_member"))
            .item("staff_id", s(member.staff_id.clone()))
            .item("role", s(member.role.as_str()))
            .item("events", list(&member.events))
            .item("gates", list(&member.gates))
            .item("active", AttributeValue::Bool(member.active))
            .item("version", AttributeValue::N(member.version.to_string()))
            .item(
                "updated_at",
                AttributeValue::N(member.updated_at.to_string()),
            )
            .item("updated_by", s(member.updated_by.clone()));
        put = match expected_version {
            None => put.condition_expression("attribute_not_exists(pk)"),
            Some(v) => put
                .condition_expression("version = :v")
                .expression_attribute_values(":v", AttributeValue::N(v.to_string())),
        };
        let items = vec![
            TransactWriteItem::builder()
                .put(put.build().map_err(Error::internal)?)
                .build(),
            TransactWriteItem::builder()
                .put(self.log.put(&Stream::Staff, record, now)?)
                .build(),
        ];
        crate::audit_ingest::transact(self.log.client(), items).await
    }
}
