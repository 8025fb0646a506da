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

use std::io::Read as _;

use functions::admin::{create_event, EventSpec};
use functions::config::Config;
use functions::deps::Deps;
use functions::operations::restore::run_drill;
use functions::store::restore::{RestoreSource, Wait};

const USAGE: &str = "usage: admin create-event < event.json\n       admin restore-drill \
                     --target-table NAME (--point-in-time [UNIX] | --backup ARN | --export \
                     s3://BUCKET/PREFIX)\n       admin pause-sales (--all | --event ID) --reason \
                     TEXT [--resume]\n       admin export-evidence [--event ID ...]";

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
    let clients = functions::aws::Clients::from_env().await;
    let store = functions::store::DynamoStore::new(
        clients.dynamodb.clone(),
        deps.config.table_name.clone(),
    );
    let log = functions::audit_ingest::DynamoAuditLog::new(
        clients.dynamodb,
        deps.config.table_name.clone(),
    );
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
