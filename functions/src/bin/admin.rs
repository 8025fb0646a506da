//! Ops tool. AWS credentials and region come from the environment.
//!
//! - `admin create-event < spec.json` creates an event, its tiers and its ticket key set
//!   (envelope-encrypted with `ISSUER_KEY_ID`) in `TABLE_NAME`. Prints the kid and the issuer's
//!   public key (public material only).
//! - `admin restore-drill --target-table NAME (--point-in-time [UNIX] | --backup ARN |
//!   --export s3://BUCKET/PREFIX)` restores `TABLE_NAME` into a new table, replays the erasure
//!   log (`ERASURE_LOG_TABLE`) over it, checks the invariants and prints the report (JSON on
//!   stdout, a summary on stderr); exits 1 when an invariant is broken.
//! - `admin pause-sales (--all | --event ID) --reason TEXT [--resume]` sets the kill switch of
//!   every sale or one event's `on_sale`, recorded in the staff audit chain as `$KARCIS_OPERATOR`.
//! - `admin export-evidence [--event ID ...]` prints the staff chain and each event's door
//!   chain, verified from genesis, as JSON; its SHA-256 goes to stderr. Exits 1 if a chain is
//!   broken.
//! - `admin rotate-event-keys --event ID --reason TEXT [--grace SECS] [--edge-keys CURRENT.json]
//!   --out EVENT_KEYS.json` makes a new key set the event's, re-issues its tickets under it
//!   (resends them) and writes the worker's `EVENT_KEYS` (mode 0600) with the old kid refused
//!   after the grace period (default 3600 s). `admin reissue-tickets --event ID [--max N]`
//!   resumes the re-issue.
//! - `admin mass-revoke --incident ID --event ID [--tier T | --orders FILE] [--max N]` revokes
//!   the tickets at the door through the revoke queue; a re-run resumes.
//! - `admin notify-customers --incident ID --event ID [--max N] [--per-second N]` queues the
//!   incident notice to each paid order's buyer, once per (incident, order).
//! - `admin revoke-staff-tokens --new-key-id KMS_KEY --reason TEXT --jwks-out FILE` refuses
//!   every staff token issued before now (a line in the table, checked by the functions at once)
//!   and writes the worker's `STAFF_JWKS` with the new signing key alone.
//! - `admin rotate-ingest-token (--start | --finish) --current-hashes LIST` prints the next
//!   `AuditIngestTokenSha256` (start: a new token for the worker's `AUDIT_INGEST_TOKEN`, its
//!   hash first and the current one kept; finish: the new hash alone).
//! - `admin rotate-webhook-secret (--start | --finish) --current-ciphertext B64` prints the next
//!   `GatewaySecretsCiphertext` with Stripe's endpoint secret rotated (start: the new secret,
//!   read from stdin, first and the current one kept; finish: the new one alone).

use std::io::Read as _;

use functions::admin::{create_event, EventSpec};
use functions::config::Config;
use functions::deps::Deps;
use functions::operations::restore::run_drill;
use functions::store::restore::{RestoreSource, Wait};

const USAGE: &str = "usage: admin create-event < event.json\n       admin restore-drill \
                     --target-table NAME (--point-in-time [UNIX] | --backup ARN | --export \
                     s3://BUCKET/PREFIX)\n       admin pause-sales (--all | --event ID) --reason \
                     TEXT [--resume]\n       admin export-evidence [--event ID ...]\n       admin \
                     rotate-event-keys --event ID --reason TEXT [--grace SECS] [--edge-keys \
                     FILE] --out FILE\n       admin reissue-tickets --event ID [--max N]\n       \
                     admin mass-revoke --incident ID --event ID [--tier T | --orders FILE] \
                     [--max N]\n       admin notify-customers --incident ID --event ID [--max N] \
                     [--per-second N]\n       admin revoke-staff-tokens --new-key-id KEY \
                     --reason TEXT --jwks-out FILE\n       admin rotate-ingest-token (--start | \
                     --finish) --current-hashes LIST\n       admin rotate-webhook-secret (--start \
                     | --finish) --current-ciphertext B64 < new-secret";

fn usage() -> ! {
    eprintln!("{USAGE}");
    std::process::exit(2);
}

/// The restore source and target table of `restore-drill`'s arguments.
fn drill_args(args: &[String], table: &str) -> Option<(RestoreSource, String)> {
    let mut target = None;
    let mut source = None;
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).filter(|v| !v.starts_with("--"));
        match args[i].as_str() {
            "--target-table" => target = value.cloned(),
            "--point-in-time" => {
                source = Some(RestoreSource::PointInTime {
                    table: table.to_owned(),
                    at: match value {
                        Some(v) => Some(v.parse().ok()?),
                        None => None,
                    },
                });
            }
            "--backup" => source = value.map(|arn| RestoreSource::Backup { arn: arn.clone() }),
            "--export" => {
                let (bucket, prefix) = value?.strip_prefix("s3://")?.split_once('/')?;
                source = Some(RestoreSource::Export {
                    bucket: bucket.to_owned(),
                    prefix: prefix.to_owned(),
                });
            }
            _ => return None,
        }
        i += if value.is_some() { 2 } else { 1 };
    }
    Some((source?, target?))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("create-event") => {
            let mut text = String::new();
            std::io::stdin().take(1 << 20).read_to_string(&mut text)?;
            let spec: EventSpec = functions::http::parse_json(text.as_bytes())?;
            let deps = Deps::from_env().await?;
            let created = create_event(&deps, &spec).await?;
            println!("{}", serde_json::to_string_pretty(&created)?);
        }
        Some("restore-drill") => {
            let config = Config::from_env()?;
            let Some((source, target)) = drill_args(&args[1..], &config.table_name) else {
                usage()
            };
            let clients = functions::aws::Clients::from_env().await;
            let report = run_drill(&clients, &config, &source, &target, Wait::AWS).await?;
            eprint!("{}", report.summary());
            println!("{}", serde_json::to_string_pretty(&report)?);
            if !report.ok {
                std::process::exit(1);
            }
        }
        Some("pause-sales") => pause_sales(&args[1..]).await?,
        Some("export-evidence") => export_evidence(&args[1..]).await?,
        Some(cmd @ ("rotate-ingest-token" | "rotate-webhook-secret")) => {
            rotate_secret(cmd, &args[1..]).await?;
        }
        Some("revoke-staff-tokens") => {
            let Some(flags) = flags(&args[1..]) else {
                usage()
            };
            revoke_staff_tokens(&flags).await?;
        }
        Some(
            cmd @ ("rotate-event-keys" | "reissue-tickets" | "mass-revoke" | "notify-customers"),
        ) => {
            let Some(flags) = flags(&args[1..]) else {
                usage()
            };
            incident(cmd, &flags).await?;
        }
        _ => usage(),
    }
    Ok(())
}

async fn pause_sales(args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    use functions::operations::pause::{set_sales, Scope};
    let (mut scope, mut reason, mut paused) = (None, None, true);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--all" => scope = Some(Scope::All),
            "--event" => scope = it.next().map(|e| Scope::Event(e.clone())),
            "--reason" => reason = it.next().cloned(),
            "--resume" => paused = false,
            _ => usage(),
        }
    }
    let (Some(scope), Some(reason)) = (scope, reason) else {
        usage()
    };
    let actor = std::env::var("KARCIS_OPERATOR").unwrap_or_else(|_| "operator".into());
    let deps = Deps::from_env().await?;
    let (_, store, log) = handles(&deps).await;
    let now = deps.clock.now();
    let link = set_sales(&store, &log, &scope, paused, &actor, &reason, now).await?;
    println!("{}", link.canonical);
    Ok(())
}

async fn export_evidence(args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let mut events = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match (a.as_str(), it.next()) {
            ("--event", Some(e)) => events.push(e.clone()),
            _ => usage(),
        }
    }
    let deps = Deps::from_env().await?;
    let clients = functions::aws::Clients::from_env().await;
    let log = functions::audit_ingest::DynamoAuditLog::new(
        clients.dynamodb,
        deps.config.table_name.clone(),
    );
    let evidence =
        functions::operations::evidence::export_evidence(&log, &events, deps.clock.now()).await?;
    let (text, digest) = evidence.to_json_with_digest()?;
    println!("{text}");
    eprintln!("sha256 {digest}");
    if !evidence.verified {
        eprintln!("a chain is BROKEN: see first_bad_seq");
        std::process::exit(1);
    }
    Ok(())
}

/// `--name value` pairs (every flag of the incident commands takes a value).
fn flags(args: &[String]) -> Option<std::collections::BTreeMap<String, String>> {
    let mut out = std::collections::BTreeMap::new();
    for pair in args.chunks(2) {
        let [name, value] = pair else { return None };
        out.insert(name.strip_prefix("--")?.to_owned(), value.clone());
    }
    Some(out)
}

fn number(flags: &std::collections::BTreeMap<String, String>, name: &str, default: u64) -> u64 {
    match flags.get(name).map(|v| v.parse()) {
        None => default,
        Some(Ok(v)) => v,
        Some(Err(_)) => usage(),
    }
}

async fn incident(
    cmd: &str,
    flags: &std::collections::BTreeMap<String, String>,
) -> Result<(), Box<dyn std::error::Error>> {
    use functions::operations::{mass_revoke, notify_customers, rotate_keys};
    let need = |name: &str| flags.get(name).cloned().unwrap_or_else(|| usage());
    let actor = std::env::var("KARCIS_OPERATOR").unwrap_or_else(|_| "operator".into());
    let deps = Deps::from_env().await?;
    let (_, store, log) = handles(&deps).await;
    let event = need("event");
    let max = usize::try_from(number(flags, "max", 100_000)).unwrap_or(usize::MAX);
    let report = match cmd {
        "rotate-event-keys" => {
            let out = need("out");
            let current = match flags.get("edge-keys") {
                Some(path) => Some(serde_json::from_str(&std::fs::read_to_string(path)?)?),
                None => None,
            };
            let rotation = rotate_keys::rotate_event_keys(
                &deps,
                &store,
                &log,
                &event,
                number(flags, "grace", 3600),
                &actor,
                &need("reason"),
            )
            .await?;
            let doc =
                rotate_keys::edge_event_keys(&deps, &event, &rotation, current.as_ref()).await?;
            write_secret_file(&out, &serde_json::to_string_pretty(&doc)?)?;
            eprintln!("EVENT_KEYS written to {out}: edge-worker/scripts/set-keys.sh {out} STAFF_JWKS.json");
            let keys = functions::eventkeys::EventKeyCache::new();
            let remint = rotate_keys::remint_event(&deps, &store, &keys, &event, max).await?;
            serde_json::json!({ "rotation": rotation, "reissue": remint })
        }
        "reissue-tickets" => {
            let keys = functions::eventkeys::EventKeyCache::new();
            serde_json::to_value(
                rotate_keys::remint_event(&deps, &store, &keys, &event, max).await?,
            )?
        }
        "mass-revoke" => {
            let selection = match (flags.get("tier"), flags.get("orders")) {
                (Some(_), Some(_)) => usage(),
                (tier, None) => mass_revoke::Selection::Event {
                    event_id: event,
                    tier: tier.cloned(),
                },
                (None, Some(path)) => mass_revoke::Selection::Orders {
                    event_id: event,
                    order_ids: mass_revoke::parse_order_list(&std::fs::read_to_string(path)?)?,
                },
            };
            let incident = need("incident");
            serde_json::to_value(
                mass_revoke::mass_revoke(&deps, &store, &log, &incident, &selection, max, &actor)
                    .await?,
            )?
        }
        _ => {
            let per_second = usize::try_from(number(flags, "per-second", 20)).unwrap_or(20);
            serde_json::to_value(
                notify_customers::notify_customers(
                    &deps,
                    &store,
                    &need("incident"),
                    &event,
                    max,
                    per_second,
                    || tokio::time::sleep(std::time::Duration::from_secs(1)),
                )
                .await?,
            )?
        }
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// Writes `text` to a new file readable by its owner only (it holds QR keys).
fn write_secret_file(path: &str, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())
}

async fn revoke_staff_tokens(
    flags: &std::collections::BTreeMap<String, String>,
) -> Result<(), Box<dyn std::error::Error>> {
    let need = |name: &str| flags.get(name).cloned().unwrap_or_else(|| usage());
    let (key_id, reason, out) = (need("new-key-id"), need("reason"), need("jwks-out"));
    let actor = std::env::var("KARCIS_OPERATOR").unwrap_or_else(|_| "operator".into());
    let deps = Deps::from_env().await?;
    let (clients, store, log) = handles(&deps).await;
    let public_key = functions::staff::public_key_of(&clients.kms, &key_id).await?;
    let done = functions::operations::staff_tokens::revoke_all_staff_tokens(
        &store,
        &log,
        &public_key,
        &actor,
        &reason,
        deps.clock.now(),
    )
    .await?;
    write_secret_file(&out, &serde_json::to_string_pretty(&done.jwks)?)?;
    eprintln!(
        "staff tokens before {} refused. Next: edge-worker/scripts/set-keys.sh EVENT_KEYS.json {out}; \
         point STAFF_SIGNING_KEY_ID at {key_id} and deploy with StaffPreviousKeyIds empty \
         (infra/README.md, staff signing key rotation)",
        done.not_before
    );
    println!("{}", serde_json::to_string_pretty(&done)?);
    Ok(())
}

async fn rotate_secret(cmd: &str, args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    use functions::operations::rotate_secrets::{ingest_hashes, rotate_gateway_ciphertext, Phase};
    let phase = match args.first().map(String::as_str) {
        Some("--start") => Phase::Start,
        Some("--finish") => Phase::Finish,
        _ => usage(),
    };
    let Some(flags) = flags(&args[1..]) else {
        usage()
    };
    if cmd == "rotate-ingest-token" {
        let current = flags
            .get("current-hashes")
            .cloned()
            .unwrap_or_else(|| usage());
        let fresh = (phase == Phase::Start)
            .then(|| functions::audit_ingest::new_ingest_token(&functions::ports::OsRng));
        let hashes = ingest_hashes(&current, fresh.as_ref().map(|(_, h)| h.as_str()), phase)?;
        let mut out = serde_json::json!({ "AuditIngestTokenSha256": hashes });
        if let Some((token, _)) = &fresh {
            out["AUDIT_INGEST_TOKEN"] = serde_json::Value::from(token.as_str());
        }
        println!("{out}");
        return Ok(());
    }
    let current = flags
        .get("current-ciphertext")
        .cloned()
        .unwrap_or_else(|| usage());
    let new = if phase == Phase::Start {
        let mut text = zeroize::Zeroizing::new(String::new());
        std::io::stdin().take(4097).read_to_string(&mut text)?;
        Some(zeroize::Zeroizing::new(text.trim().to_owned()))
    } else {
        None
    };
    let deps = Deps::from_env().await?;
    let next = rotate_gateway_ciphertext(
        deps.keys.as_ref(),
        &current,
        new.as_deref().map(String::as_str),
        phase,
    )
    .await?;
    println!(
        "{}",
        serde_json::json!({ "GatewaySecretsCiphertext": next })
    );
    Ok(())
}

/// The AWS clients, the table and the audit log of `deps`' configuration.
async fn handles(
    deps: &Deps,
) -> (
    functions::aws::Clients,
    functions::store::DynamoStore,
    functions::audit_ingest::DynamoAuditLog,
) {
    let clients = functions::aws::Clients::from_env().await;
    let table = deps.config.table_name.clone();
    let store = functions::store::DynamoStore::new(clients.dynamodb.clone(), table.clone());
    let log = functions::audit_ingest::DynamoAuditLog::new(clients.dynamodb.clone(), table);
    (clients, store, log)
}
