//! The restore drill, end to end: restore the table into a new one, replay the erasure log over
//! it (erased buyers stay erased), read it back and check the invariants ([`super::drill`]).
//! The live table is never written.

use crate::aws::Clients;
use crate::config::Config;
use crate::deps::Deps;
use crate::error::Result;
use crate::operations::drill::{check, DrillReport};
use crate::privacy::{replay_erasures, MAX_REPLAYED};
use crate::store::restore::{restore_table, RestoreSource, Wait};
use crate::store::snapshot::scan_snapshot;
use crate::store::DynamoStore;

/// Restores `source` into `target` (a new table), replays the erasure log of `config` over it
/// and checks it.
///
/// # Errors
/// If the restore, the replay or the scan fails (a broken invariant is a finding, not an error).
pub async fn run_drill(
    clients: &Clients,
    config: &Config,
    source: &RestoreSource,
    target: &str,
    wait: Wait,
) -> Result<DrillReport> {
    restore_table(&clients.dynamodb, source, target, wait).await?;
    let mut restored = config.clone();
    target.clone_into(&mut restored.table_name);
    let deps = Deps::from_clients(restored, clients);
    let records = DynamoStore::new(clients.dynamodb.clone(), target);
    let replay = replay_erasures(&deps, &records).await?;
    let erased = deps
        .erasures
        .erasures(MAX_REPLAYED)
        .await?
        .into_iter()
        .map(|e| e.customer_id)
        .collect();
    let snapshot = scan_snapshot(&clients.dynamodb, target).await?;
    Ok(DrillReport::new(
        source.to_string(),
        target.to_owned(),
        &replay,
        check(&snapshot, &erased),
    ))
}
