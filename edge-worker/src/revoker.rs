//! The back end's machine credential for `POST /v1/revocations`, and for nothing else.
//!
//! `Authorization: KarcisRevoker t=<unix seconds>,v1=<hex>` where `v1` is HMAC-SHA256 under the
//! worker secret `REVOKER_KEY` (hex, at least 32 bytes) of `"karcis-revoke.v1\n" + t + "\n" +
//! raw body`. The time must be within [`WINDOW_SECS`] of now and the MAC is compared in constant
//! time. Only the revocations route looks at this scheme; every other route takes a staff JWT
//! (`Bearer`), so the credential cannot scan, sync, read the audit or download bundles. It names
//! no event: it may revoke any event's ticket (its holder, the revoke function, serves all
//! events), but only by revoking (a refund or chargeback) or by retiring a re-issued ticket's
//! older credentials (`not_issued_before`, never in the future: device binding), which refuses
//! no more than revoking the ticket would.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

pub const SCHEME: &str = "KarcisRevoker ";
const LABEL: &[u8] = b"karcis-revoke.v1";
pub const WINDOW_SECS: u64 = 300;
const MIN_KEY_BYTES: usize = 32;

type HmacSha256 = Hmac<Sha256>;

/// The MAC over the label, the time and the body (the `hmac` crate, as the back end signs).
fn mac(key: &[u8], t: &str, body: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length.
    let mut mac = HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    for part in [
        LABEL,
        b"\n".as_slice(),
        t.as_bytes(),
        b"\n".as_slice(),
        body,
    ] {
        mac.update(part);
    }
    mac
}

/// Why a revoker credential was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokerError {
    /// `REVOKER_KEY` is not bound (or too short): the scheme is off.
    NotConfigured,
    Malformed,
    BadMac,
    Stale,
}

/// Whether `header` is this scheme at all.
pub fn is_revoker(header: Option<&str>) -> bool {
    header.is_some_and(|h| h.starts_with(SCHEME))
}

/// Checks a `KarcisRevoker` header against the raw body at `now` (unix seconds).
pub fn verify(
    header: &str,
    key_hex: Option<&str>,
    body: &[u8],
    now: u64,
) -> Result<(), RevokerError> {
    let key = key_hex
        .and_then(|k| hex::decode(k.trim()).ok())
        .map(Zeroizing::new)
        .filter(|k| k.len() >= MIN_KEY_BYTES)
        .ok_or(RevokerError::NotConfigured)?;
    let rest = header.strip_prefix(SCHEME).ok_or(RevokerError::Malformed)?;
    let (t_part, v_part) = rest.split_once(',').ok_or(RevokerError::Malformed)?;
    let t = t_part.strip_prefix("t=").ok_or(RevokerError::Malformed)?;
    let v1 = v_part.strip_prefix("v1=").ok_or(RevokerError::Malformed)?;
    if t.is_empty() || t.len() > 12 || !t.bytes().all(|b| b.is_ascii_digit()) || v1.len() != 64 {
        return Err(RevokerError::Malformed);
    }
    let given = hex::decode(v1).map_err(|_| RevokerError::Malformed)?;
    // `verify_slice` compares in constant time.
    mac(&key, t, body)
        .verify_slice(&given)
        .map_err(|_| RevokerError::BadMac)?;
    let t: u64 = t.parse().map_err(|_| RevokerError::Malformed)?;
    if now.abs_diff(t) > WINDOW_SECS {
        return Err(RevokerError::Stale);
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    fn header(t: u64, body: &[u8]) -> String {
        let key = hex::decode(KEY).unwrap();
        let tag = mac(&key, &t.to_string(), body).finalize().into_bytes();
        format!("{SCHEME}t={t},v1={}", hex::encode(tag))
    }

    /// The vector shared with the back end's signer (functions/src/edge_client.rs), computed
    /// independently with Node's crypto.
    #[test]
    fn accepts_the_shared_vector() {
        let body = br#"{"event_id":"evt-a","ticket_id":"00112233445566778899aabbccddeeff","reason":"refund"}"#;
        let header = "KarcisRevoker t=1800000000,v1=45c0a80a495f18da4813bd2ad30adf84e4a5fcaba302c4dead3a1ffe54b1012b";
        assert_eq!(
            verify(header, Some(&"0b".repeat(32)), body, 1_800_000_000),
            Ok(())
        );
    }

    #[test]
    fn accepts_its_body_in_the_window_only() {
        let body = br#"{"event_id":"e","ticket_id":"00","reason":"refunded"}"#;
        let h = header(1000, body);
        assert_eq!(verify(&h, Some(KEY), body, 1000), Ok(()));
        assert_eq!(verify(&h, Some(KEY), body, 1300), Ok(()));
        assert_eq!(verify(&h, Some(KEY), body, 1301), Err(RevokerError::Stale));
        assert_eq!(
            verify(&h, Some(KEY), b"{}", 1000),
            Err(RevokerError::BadMac)
        );
        assert_eq!(
            verify(&h, None, body, 1000),
            Err(RevokerError::NotConfigured)
        );
        assert_eq!(
            verify(&h, Some("abcd"), body, 1000),
            Err(RevokerError::NotConfigured)
        );
        assert_eq!(
            verify("KarcisRevoker t=1000", Some(KEY), body, 1000),
            Err(RevokerError::Malformed)
        );
        assert!(is_revoker(Some(&h)) && !is_revoker(Some("Bearer x")));
    }
}
