//! The scan audit trail: one entry per scan attempt, chained by SHA-256.
//!
//! `hash(n) = SHA-256(hash(n-1) || canonical(entry n))`, with `hash(0)` = 32 zero bytes.
//! The canonical text is the entry serialised as compact JSON with its keys in the order of
//! the struct below (alphabetical), integers only (no floats) and ASCII identifiers, so a
//! verifier in any language rebuilds it byte for byte (`JSON.stringify` with the same key order).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::api::{Gps, ScanResult};

/// The hash before the first entry.
pub const GENESIS: [u8; 32] = [0; 32];

/// One scan attempt. Field order is the canonical order: keep it alphabetical.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEntry {
    /// Unix time of the attempt, milliseconds.
    pub at_ms: i64,
    /// The ticket crate's finer reason for a refusal (`stale_proof`, `undecryptable`...).
    pub detail: Option<String>,
    pub event_id: String,
    pub gate_id: String,
    pub gps: Option<Gps>,
    /// Synced late (see `offline::is_late`). Left out of the canonical text when false, so
    /// entries from before the flag keep their text and hash.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub late: bool,
    /// Scanned offline and sent later through `/v1/sync`.
    pub offline: bool,
    pub result: ScanResult,
    /// The staff token's role, `None` for an attempt without a valid token.
    pub role: Option<String>,
    pub scan_id: String,
    /// Position in the event's chain, from 1.
    pub seq: u64,
    /// The staff member (token `sub`), `None` for an attempt without a valid token.
    pub staff_id: Option<String>,
    /// Hex ticket id, when the code decrypted far enough to name one.
    pub ticket_id: Option<String>,
}

impl AuditEntry {
    /// The canonical bytes that are hashed.
    pub fn canonical(&self) -> Vec<u8> {
        // Serialising a struct of strings, integers, bools and options cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// The next link of the chain.
pub fn chain_hash(previous: &[u8; 32], canonical: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(previous);
    hasher.update(canonical);
    hasher.finalize().into()
}

/// A stored link: the canonical text exactly as hashed, and its hash.
#[derive(Debug, Clone)]
pub struct StoredLink {
    pub seq: u64,
    pub entry: String,
    pub hash_hex: String,
}

/// The outcome of walking a chain, or a page of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainReport {
    pub valid: bool,
    /// The stored hash the walk started from (hex): the genesis for the first page, else
    /// the entry before the page, which the previous page's `head` vouches for.
    pub previous: String,
    /// Entries checked.
    pub checked: u64,
    /// Hash of the last entry checked (hex), the value to anchor elsewhere.
    pub head: String,
    /// First entry whose text, hash or position does not check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_bad_seq: Option<u64>,
}

/// Verifies links given in order from the first entry.
pub fn verify_chain<'a>(links: impl IntoIterator<Item = &'a StoredLink>) -> ChainReport {
    verify_chain_from(GENESIS, 1, links)
}

/// Verifies consecutive links starting at `first_seq`, chained to `previous` (the stored
/// hash of entry `first_seq - 1`, or [`GENESIS`] for the first). Walking a chain page by
/// page, each page from the last hash of the one before, verifies all of it in bounded memory.
pub fn verify_chain_from<'a>(
    previous: [u8; 32],
    first_seq: u64,
    links: impl IntoIterator<Item = &'a StoredLink>,
) -> ChainReport {
    let start = hex::encode(previous);
    let mut previous = previous;
    let mut checked = 0;
    for (expected_seq, link) in (first_seq..).zip(links) {
        let parsed: Option<AuditEntry> = serde_json::from_str(&link.entry).ok();
        let recomputed = chain_hash(&previous, link.entry.as_bytes());
        let intact = link.seq == expected_seq
            && parsed
                .is_some_and(|e| e.seq == expected_seq && e.canonical() == link.entry.as_bytes())
            && hex::encode(recomputed) == link.hash_hex;
        if !intact {
            return ChainReport {
                valid: false,
                previous: start,
                checked,
                head: hex::encode(previous),
                first_bad_seq: Some(link.seq),
            };
        }
        previous = recomputed;
        checked += 1;
    }
    ChainReport {
        valid: true,
        previous: start,
        checked,
        head: hex::encode(previous),
        first_bad_seq: None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::float_cmp)]
mod tests {
    use super::*;

    fn entry(seq: u64, result: ScanResult) -> AuditEntry {
        AuditEntry {
            at_ms: 1_700_000_000_000 + i64::try_from(seq).unwrap(),
            detail: None,
            event_id: "evt-1".into(),
            gate_id: "A".into(),
            gps: Some(Gps {
                acc_m: Some(5),
                lat_e6: -6_175_392,
                lon_e6: 106_827_153,
            }),
            late: false,
            offline: false,
            result,
            role: Some("staff".into()),
            scan_id: format!("s-{seq}"),
            seq,
            staff_id: Some("staff-7".into()),
            ticket_id: Some("00".repeat(16)),
        }
    }

    fn chain(n: u64) -> Vec<StoredLink> {
        let mut previous = GENESIS;
        (1..=n)
            .map(|seq| {
                let text = String::from_utf8(entry(seq, ScanResult::Admitted).canonical()).unwrap();
                previous = chain_hash(&previous, text.as_bytes());
                StoredLink {
                    seq,
                    entry: text,
                    hash_hex: hex::encode(previous),
                }
            })
            .collect()
    }

    #[test]
    fn canonical_text_is_fixed() {
        let text = String::from_utf8(entry(1, ScanResult::AlreadyAdmitted).canonical()).unwrap();
        assert_eq!(
            text,
            r#"{"at_ms":1700000000001,"detail":null,"event_id":"evt-1","gate_id":"A","gps":{"acc_m":5,"lat_e6":-6175392,"lon_e6":106827153},"offline":false,"result":"already_admitted","role":"staff","scan_id":"s-1","seq":1,"staff_id":"staff-7","ticket_id":"00000000000000000000000000000000"}"#
        );
    }

    #[test]
    fn a_late_entry_says_so_in_its_canonical_text() {
        let mut late = entry(1, ScanResult::Admitted);
        late.late = true;
        let text = String::from_utf8(late.canonical()).unwrap();
        assert!(text.contains(r#""gps":{"acc_m":5,"lat_e6":-6175392,"lon_e6":106827153},"late":true,"offline":false"#), "{text}");
        let back: AuditEntry = serde_json::from_str(&text).unwrap();
        assert!(back.late);
    }

    #[test]
    fn an_intact_chain_verifies() {
        let links = chain(5);
        let report = verify_chain(&links);
        assert!(report.valid);
        assert_eq!(report.checked, 5);
        assert_eq!(report.head, links[4].hash_hex);
        assert!(verify_chain(&[]).valid);
    }

    #[test]
    fn any_alteration_is_detected() {
        let mut edited = chain(5);
        edited[2].entry = edited[2].entry.replace("admitted", "invalid");
        assert_eq!(verify_chain(&edited).first_bad_seq, Some(3));

        let mut removed = chain(5);
        removed.remove(1);
        assert!(!verify_chain(&removed).valid);

        let mut rehashed = chain(5);
        let text = rehashed[1].entry.replace("staff-7", "staff-8");
        let prev: [u8; 32] = hex::decode(&rehashed[0].hash_hex)
            .unwrap()
            .try_into()
            .unwrap();
        rehashed[1].hash_hex = hex::encode(chain_hash(&prev, text.as_bytes()));
        rehashed[1].entry = text;
        // Re-hashing one entry breaks the next link.
        assert_eq!(verify_chain(&rehashed).first_bad_seq, Some(3));

        // A page from the middle verifies against the stored hash before it, and only that.
        let links = chain(6);
        let before: [u8; 32] = hex::decode(&links[2].hash_hex).unwrap().try_into().unwrap();
        let page = verify_chain_from(before, 4, &links[3..]);
        assert!(page.valid);
        assert_eq!(page.checked, 3);
        assert_eq!(page.head, links[5].hash_hex);
        assert_eq!(page.previous, links[2].hash_hex);
        assert!(!verify_chain_from(GENESIS, 4, &links[3..]).valid);
        assert_eq!(
            verify_chain_from(before, 3, &links[3..]).first_bad_seq,
            Some(4)
        );

        let mut spaced = chain(2);
        spaced[0].entry = spaced[0].entry.replace(",\"gate_id\"", ", \"gate_id\"");
        assert!(!verify_chain(&spaced).valid);
    }
}
