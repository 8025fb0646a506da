//! Incident command: export the evidence. Every named event's door chain and the staff chain
//! (role changes, tokens, operators' incident actions: who did what when), each verified from
//! genesis, with every entry as stored. The JSON is the record; its SHA-256 is printed apart so
//! the copy handed over can be checked later.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::audit_ingest::{page, verify_stream, AuditLog, ChainCheck, ReportEntry, Stream};
use crate::error::Result;

/// Most entries exported per chain (a long festival's door chain stays far below).
pub const MAX_ENTRIES: u64 = 2_000_000;

/// One chain: its verification from genesis and its entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainEvidence {
    pub stream: String,
    pub check: ChainCheck,
    pub entries: Vec<ReportEntry>,
}

/// The evidence export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    pub generated_at: u64,
    pub chains: Vec<ChainEvidence>,
    /// Every chain verified.
    pub verified: bool,
}

impl Evidence {
    /// The export as JSON and its SHA-256 (hex).
    ///
    /// # Errors
    /// Never in practice (plain data).
    pub fn to_json_with_digest(&self) -> Result<(String, String)> {
        let text = serde_json::to_string_pretty(self).map_err(crate::error::Error::internal)?;
        let digest = hex::encode(Sha256::digest(text.as_bytes()));
        Ok((text, digest))
    }
}

/// Exports the staff chain and the door chains of `events`.
///
/// # Errors
/// If the log cannot be read.
pub async fn export_evidence(log: &dyn AuditLog, events: &[String], now: u64) -> Result<Evidence> {
    let mut streams = vec![Stream::Staff];
    streams.extend(events.iter().cloned().map(Stream::Door));
    let mut chains = Vec::new();
    for stream in &streams {
        let check = verify_stream(log, stream, MAX_ENTRIES).await?;
        let mut entries = Vec::new();
        let mut after = 0;
        // Bounded by MAX_ENTRIES: each page holds at least one entry or ends the walk.
        while (entries.len() as u64) < MAX_ENTRIES {
            let p = page(log, stream, after, u32::MAX).await?;
            entries.extend(p.entries);
            match p.next_after {
                Some(next) if next > after => after = next,
                _ => break,
            }
        }
        chains.push(ChainEvidence {
            stream: stream.partition(),
            check,
            entries,
        });
    }
    Ok(Evidence {
        generated_at: now,
        verified: chains.iter().all(|c| c.check.valid),
        chains,
    })
}
