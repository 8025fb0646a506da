//! The worker's bearer tokens: only their SHA-256 is configured, compared in constant time.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{Error, Result};

use super::TOKEN_HASH_ENV;

/// SHA-256 hashes of the accepted worker tokens.
#[derive(Clone, Default)]
pub struct IngestTokens {
    hashes: Vec<[u8; 32]>,
}

impl std::fmt::Debug for IngestTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestTokens")
            .field("count", &self.hashes.len())
            .finish()
    }
}

impl IngestTokens {
    /// Parses `AUDIT_INGEST_TOKEN_SHA256` (hex SHA-256, comma-separated).
    pub fn from_hex_list(text: &str) -> Result<Self> {
        let mut hashes = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let mut h = [0u8; 32];
            hex::decode_to_slice(part, &mut h)
                .map_err(|_| Error::internal(format!("{TOKEN_HASH_ENV}: not hex SHA-256")))?;
            hashes.push(h);
        }
        if hashes.is_empty() {
            return Err(Error::internal(format!("{TOKEN_HASH_ENV} is not set")));
        }
        Ok(Self { hashes })
    }

    pub fn from_env() -> Result<Self> {
        Self::from_hex_list(&std::env::var(TOKEN_HASH_ENV).unwrap_or_default())
    }

    /// The hash to configure for `token`.
    pub fn hash_hex(token: &str) -> String {
        hex::encode(Sha256::digest(token.as_bytes()))
    }

    /// Constant-time check of a presented token (every configured hash is compared).
    pub fn accepts(&self, token: &str) -> bool {
        let presented: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut ok = subtle::Choice::from(0);
        for h in &self.hashes {
            ok |= presented.ct_eq(h);
        }
        bool::from(ok)
    }
}

/// A fresh worker token (43 characters of base64url, 256 bits) and its hash.
pub fn new_ingest_token(rng: &dyn crate::ports::Rng) -> (zeroize::Zeroizing<String>, String) {
    use base64::Engine as _;
    let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
    rng.fill(bytes.as_mut());
    let token = zeroize::Zeroizing::new(
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes.as_ref()),
    );
    let hash = IngestTokens::hash_hex(&token);
    (token, hash)
}
