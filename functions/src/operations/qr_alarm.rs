//! The forged-or-stale QR alarm's source: the door's refusals as the audit-ingest function
//! stores them. The edge forwards every door audit entry (on by default); for each batch the
//! ingest function logs how many newly stored entries refused a code as `invalid` (does not
//! open or verify: forged, tampered, an unknown or retired key) or `stale` (a device proof too
//! old: a replayed screenshot), and the template's `ForgedOrStaleQrFilter` sums the field.
//! Only newly stored entries count, so a redelivered batch counts nothing twice.

use crate::audit_ingest::Link;

/// Refusals among door entries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Refusals {
    pub forged: u64,
    pub stale: u64,
}

/// Counts the `invalid` and `stale` results of `links` (pure; entries were checked to be
/// canonical door entries before).
pub fn door_refusals(links: &[Link]) -> Refusals {
    let mut out = Refusals::default();
    for l in links {
        let result = serde_json::from_str::<serde_json::Value>(&l.canonical)
            .ok()
            .and_then(|v| v.get("result").and_then(|r| r.as_str()).map(str::to_owned));
        match result.as_deref() {
            Some("invalid") => out.forged += 1,
            Some("stale") => out.stale += 1,
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(result: &str) -> Link {
        Link {
            seq: 1,
            hash: [0; 32],
            canonical: format!(r#"{{"result":"{result}","seq":1}}"#),
        }
    }

    #[test]
    fn counts_invalid_and_stale_only() {
        let links: Vec<Link> = [
            "invalid", "stale", "admitted", "invalid", "revoked", "expired",
        ]
        .into_iter()
        .map(link)
        .collect();
        assert_eq!(
            door_refusals(&links),
            Refusals {
                forged: 2,
                stale: 1
            }
        );
        assert_eq!(door_refusals(&[]), Refusals::default());
    }
}
