//! The dev stack: everything `make demo` and the e2e tests run, on 127.0.0.1, started and
//! stopped here.
//!
//! - `moto_server` (H1's launcher, DynamoDB serialised as real transactions are) as DynamoDB,
//!   KMS and SQS; the table, the three KMS keys and the queues with their DLQs are created with
//!   the functions' own definitions (`store::create_table`, `aws::provision`).
//! - The HTTP functions (checkout, payment-callback, tickets) behind [`crate::api::LocalApi`].
//! - mint and notify fed by [`crate::poller::Poller`] (the SQS event source mapping).
//! - The gateways' create-payment APIs: H2's `GatewayStub`; checkout reaches it through the real
//!   adapter and transport. Webhooks are signed with the providers' documented schemes.
//! - Staff door tokens from the backend's own issuer (`functions::staff`, KMS-signed).
//! - The edge worker in workerd ([`crate::edge::EdgeWorker`]), started once an event's keys
//!   exist (as an operator would `set-keys` and deploy).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use functions::aws::provision::{self, QueuePair};
use functions::aws::Clients;
use functions::checkout::Checkout;
use functions::deps::Deps;
use functions::gateway::adapter::GatewayPayments;
use functions::gateway::hosted::GatewayEndpoints;
use functions::gateway::stub::GatewayStub;
use functions::gateway::testing::{test_secrets, TEST_SECRETS_JSON};
use functions::gateway::transport::HyperTransport;
use functions::gateway::GatewaySecrets;
use functions::mint::Minter;
use functions::notify::Notifier;
use functions::payment_callback::{load_gateway_secrets, PaymentCallback};
use functions::ports::{KeyPurpose, Notification, NotificationSender};
use functions::testing::{unique_name, Moto, MAX_RECEIVE_COUNT};
use functions::tickets::TicketsService;
use functions::Config;

use crate::api::{Functions, LocalApi};
use crate::edge::{EdgeWorker, StaffIssuer};
use crate::poller::{Consumer, Poller};

/// The local queues' visibility timeout. infra/ uses 180 s (6x the function timeout); locally a
/// failed message reappears after 5 s so retries and the DLQ show within a demo run.
pub const LOCAL_VISIBILITY_SECS: u32 = 5;

/// The repository root (the parent of this crate).
pub fn repo_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.parent().map_or(here.clone(), PathBuf::from)
}

/// Stands in for the email/SMS provider: counts deliveries, keeps no personal data.
#[derive(Debug, Default)]
pub struct CountingSender {
    pub sent: AtomicU64,
}

#[async_trait]
impl NotificationSender for CountingSender {
    async fn send(&self, notification: &Notification) -> functions::Result<()> {
        // Touch the recipient only to prove it was unsealed; never print it.
        if notification.recipient_email.is_empty() {
            return Err(functions::Error::internal("empty recipient"));
        }
        self.sent.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// The buyers' inboxes for one-time codes (the privacy function sends them directly through
/// its notification adapter). In memory only; never printed.
#[derive(Default)]
pub struct Mailbox {
    codes: std::sync::Mutex<std::collections::HashMap<String, Vec<String>>>,
}

impl std::fmt::Debug for Mailbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Mailbox(<redacted>)")
    }
}

impl Mailbox {
    /// The latest unread code sent to `email`.
    pub fn take_code(&self, email: &str) -> Option<String> {
        self.codes
            .lock()
            .ok()?
            .get_mut(&email.to_ascii_lowercase())?
            .pop()
    }
}

#[async_trait]
impl NotificationSender for Mailbox {
    async fn send(&self, notification: &Notification) -> functions::Result<()> {
        if let Some(code) = notification.params.get("code") {
            if let Ok(mut m) = self.codes.lock() {
                m.entry(notification.recipient_email.to_ascii_lowercase())
                    .or_default()
                    .push(code.clone());
            }
        }
        Ok(())
    }
}

/// The notify function's sender in the stack: counts every delivery (as [`CountingSender`]) and
/// puts purchase one-time codes (the step-up) in the buyers' inbox, which
/// `karcis-demo purchase-otp EMAIL` reads.
#[derive(Debug)]
pub struct NotifySender {
    pub counter: Arc<CountingSender>,
    pub purchase_codes: Arc<Mailbox>,
}

#[async_trait]
impl NotificationSender for NotifySender {
    async fn send(&self, notification: &Notification) -> functions::Result<()> {
        self.counter.send(notification).await?;
        if notification.template == functions::sale::stepup::TEMPLATE {
            self.purchase_codes.send(notification).await?;
        }
        Ok(())
    }
}

/// The running stack.
#[derive(Debug)]
pub struct DevStack {
    pub moto: Option<Moto>,
    pub clients: Clients,
    pub deps: Deps,
    pub mint: QueuePair,
    pub notify: QueuePair,
    /// Refunded and disputed orders, consumed by the revoke function once the edge is up.
    pub revoke: QueuePair,
    /// The machine credential shared by the revoke function and the worker (`REVOKER_KEY`).
    revoker_key: zeroize::Zeroizing<Vec<u8>>,
    pub revoke_poller: Option<Poller>,
    pub api: Option<LocalApi>,
    pub gateway: Option<GatewayStub>,
    /// The secrets the gateways sign webhooks with (test values).
    pub gateway_secrets: Arc<GatewaySecrets>,
    pub mint_poller: Option<Poller>,
    pub notify_poller: Option<Poller>,
    pub sender: Arc<CountingSender>,
    /// Privacy codes (sent by the privacy function directly).
    pub mailbox: Arc<Mailbox>,
    /// Purchase codes of stepped-up orders (sent through the notify queue and function).
    pub purchase_codes: Arc<Mailbox>,
    pub edge: Option<EdgeWorker>,
    /// The backend's staff-token issuer (KMS-signed), whose JWKS the edge trusts.
    pub staff: StaffIssuer,
    /// The worker's `AUDIT_SIGNING_KEY` (hex scalar): forwarding is on, as wrangler.toml ships
    /// it, to this stack's audit-ingest function, which checks the signed heads.
    audit_key: zeroize::Zeroizing<String>,
}

/// The door's audit chain for one event, at the door and as forwarded into the table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ForwardedAudit {
    /// Entries in the event's Durable Object.
    pub at_door: u64,
    /// Entries in the back end's table, their chain verified from the genesis.
    pub forwarded: u64,
    pub chain_valid: bool,
    /// The table's chain ends in the door's last hash.
    pub heads_match: bool,
}

fn step(msg: &str) {
    eprintln!("[stack] {msg}");
}

impl DevStack {
    /// Starts moto, provisions, serves the functions and the pollers. `quiet` hides progress.
    pub async fn start(quiet: bool) -> Result<Self, String> {
        Self::start_with(quiet, None).await
    }

    /// As [`Self::start`]; with `site_url`, the gateways send buyers back to that site's
    /// `return.html?order=<id>` (as `CHECKOUT_SUCCESS_URL` does when deployed).
    #[allow(clippy::too_many_lines)]
    pub async fn start_with(quiet: bool, site_url: Option<&str>) -> Result<Self, String> {
        let say = |m: &str| {
            if !quiet {
                step(m);
            }
        };
        let moto = tokio::task::spawn_blocking(Moto::start)
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("moto_server: {e} (run `make moto-venv`)"))?;
        say(&format!(
            "moto_server (DynamoDB, KMS, SQS) on {}",
            moto.endpoint
        ));
        let sdk = functions::aws::sdk_config_for_endpoint(&moto.endpoint, "us-east-1").await;
        let clients = Clients::new(&sdk);
        let table = unique_name("karcis-demo");
        functions::store::create_table(&clients.dynamodb, &table)
            .await
            .map_err(|e| e.to_string())?;
        let erasure_log = unique_name("karcis-demo-erasures");
        functions::store::create_erasure_log_table(&clients.dynamodb, &erasure_log)
            .await
            .map_err(|e| e.to_string())?;
        let mut vars = BTreeMap::new();
        vars.insert("ERASURE_LOG_TABLE", erasure_log);
        for (var, what) in [
            ("PII_KEY_ID", "pii"),
            ("ISSUER_KEY_ID", "issuer"),
            ("CONFIG_KEY_ID", "config"),
        ] {
            let id = provision::create_kms_key(&clients.kms, what)
                .await
                .map_err(|e| e.to_string())?;
            vars.insert(var, id);
        }
        let mint = provision::create_queue_with_dlq(
            &clients.sqs,
            &unique_name("mint"),
            MAX_RECEIVE_COUNT,
            LOCAL_VISIBILITY_SECS,
        )
        .await
        .map_err(|e| e.to_string())?;
        let notify = provision::create_queue_with_dlq(
            &clients.sqs,
            &unique_name("notify"),
            MAX_RECEIVE_COUNT,
            LOCAL_VISIBILITY_SECS,
        )
        .await
        .map_err(|e| e.to_string())?;
        vars.insert("TABLE_NAME", table.clone());
        let revoke = provision::create_queue_with_dlq(
            &clients.sqs,
            &unique_name("revoke"),
            MAX_RECEIVE_COUNT,
            LOCAL_VISIBILITY_SECS,
        )
        .await
        .map_err(|e| e.to_string())?;
        vars.insert("REVOKE_QUEUE_URL", revoke.url.clone());
        vars.insert("MINT_QUEUE_URL", mint.url.clone());
        vars.insert("NOTIFY_QUEUE_URL", notify.url.clone());
        vars.insert("PAYMENT_PROVIDERS", "stripe,midtrans".to_owned());
        // The demo's bot farm comes partly from a country the organiser calls high-risk.
        vars.insert(
            "RISK_HIGH_RISK_COUNTRIES",
            crate::bots::HIGH_RISK_COUNTRY.to_owned(),
        );
        // Browser tests all come from 127.0.0.1 (the demo gives its buyers their own addresses,
        // `bots::SOURCE_HEADER`): the per-address bulk rule would step up a long test session.
        vars.insert("RISK_MAX_ORDERS_PER_IP", "1000000".to_owned());
        // Events in queue mode take admissions signed by this process's waiting-room key.
        vars.insert("WAITING_ROOM_PUBLIC_KEY", crate::queue::public_key_hex());
        let config = Config::from_lookup(|k| vars.get(k).cloned()).map_err(|e| e.to_string())?;
        let deps = Deps::from_clients(config, &clients);
        say(&format!(
            "provisioned table {table} (pk/sk, gsi1, ttl), 3 KMS keys, mint + notify queues with DLQs (maxReceiveCount {MAX_RECEIVE_COUNT})"
        ));

        // Gateway secrets as in production: KMS ciphertext under CONFIG_KEY_ID in
        // GATEWAY_SECRETS, decrypted by the functions at cold start.
        let ciphertext = deps
            .keys
            .encrypt(&KeyPurpose::GatewaySecrets, TEST_SECRETS_JSON.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let gateway_secrets_env = base64::engine::general_purpose::STANDARD.encode(ciphertext);
        let lookup = |k: &str| (k == "GATEWAY_SECRETS").then(|| gateway_secrets_env.clone());
        let secrets = Arc::new(
            load_gateway_secrets(deps.keys.as_ref(), lookup)
                .await
                .map_err(|e| e.to_string())?,
        );

        let gateway = GatewayStub::start(test_secrets())
            .await
            .map_err(|e| format!("gateway stub: {e}"))?;
        let payments = GatewayPayments::new(
            secrets.clone(),
            GatewayEndpoints::all_at(&gateway.base_url()),
            HyperTransport::new(Duration::from_secs(10)).map_err(|e| e.to_string())?,
            deps.clock.clone(),
            site_url.map_or_else(
                || "http://127.0.0.1/orders/{order_id}/paid".to_owned(),
                |site| format!("{site}/return.html?order={{order_id}}"),
            ),
            site_url.map_or_else(
                || "http://127.0.0.1/orders/{order_id}/cancelled".to_owned(),
                |site| format!("{site}/return.html?order={{order_id}}"),
            ),
        );
        // payment-callback asks the same stub's status APIs (Midtrans, Xendit).
        let statuses = GatewayPayments::status_api(
            secrets.clone(),
            GatewayEndpoints::all_at(&gateway.base_url()),
            HyperTransport::new(Duration::from_secs(5)).map_err(|e| e.to_string())?,
            deps.clock.clone(),
        );
        say(&format!(
            "payment gateway stub (Stripe, Midtrans, Xendit, DOKU APIs) on {}",
            gateway.base_url()
        ));

        let staff = StaffIssuer::start(&clients, &deps.config.table_name, &deps).await?;
        say("staff tokens: ES256 signed by a KMS key, members and issuances in the staff log");
        let mailbox = Arc::new(Mailbox::default());
        let audit_signing = p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
        let records = Arc::new(functions::store::DynamoStore::new(
            clients.dynamodb.clone(),
            deps.config.table_name.clone(),
        ));
        let functions = Functions {
            checkout: functions::checkout::router(Checkout::new(deps.clone(), Arc::new(payments))),
            payment_callback: functions::payment_callback::router(
                PaymentCallback::new(&deps, secrets.clone(), Arc::new(statuses))
                    .map_err(|e| e.to_string())?,
            ),
            tickets: functions::tickets::router(TicketsService::new(deps.clone())),
            privacy: Some(functions::privacy::router(
                functions::privacy::Privacy::new(deps.clone(), records, mailbox.clone()),
            )),
            audit_ingest: Some(functions::audit_ingest::router(
                functions::audit_ingest::IngestService {
                    log: Arc::new(functions::audit_ingest::DynamoAuditLog::new(
                        clients.dynamodb.clone(),
                        &table,
                    )),
                    tokens: functions::audit_ingest::IngestTokens::default(),
                    heads: Some(
                        functions::audit_heads::HeadKey::from_hex(&hex::encode(
                            audit_signing
                                .verifying_key()
                                .to_encoded_point(false)
                                .as_bytes(),
                        ))
                        .map_err(|e| e.to_string())?,
                    ),
                    clock: deps.clock.clone(),
                    console: None,
                },
            )),
            staff: Some(staff.router()),
        };
        let api = LocalApi::start(functions)
            .await
            .map_err(|e| format!("local API: {e}"))?;
        // The stub's hosted pages deliver their signed notifications to this API.
        gateway.notify_to(&api.url());
        say(&format!(
            "API (checkout, payment-callback, tickets, privacy, staff) on {} as API Gateway v2 events",
            api.url()
        ));

        let sender = Arc::new(CountingSender::default());
        let purchase_codes = Arc::new(Mailbox::default());
        let mint_poller = Poller::start(
            &clients,
            &mint.url,
            &Consumer::Mint(Arc::new(Minter::new(deps.clone()))),
            2,
        );
        let notify_poller = Poller::start(
            &clients,
            &notify.url,
            &Consumer::Notify(Arc::new(Notifier::new(
                deps.clone(),
                Arc::new(NotifySender {
                    counter: sender.clone(),
                    purchase_codes: purchase_codes.clone(),
                }),
            ))),
            1,
        );
        say("SQS pollers: mint (2 concurrent batches of <= 10), notify (1)");
        Ok(Self {
            moto: Some(moto),
            clients,
            deps,
            mint,
            notify,
            revoke,
            revoker_key: {
                let mut key = zeroize::Zeroizing::new(vec![0u8; 32]);
                rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut key);
                key
            },
            revoke_poller: None,
            api: Some(api),
            gateway: Some(gateway),
            gateway_secrets: secrets,
            mint_poller: Some(mint_poller),
            notify_poller: Some(notify_poller),
            sender,
            mailbox,
            purchase_codes,
            edge: None,
            staff,
            audit_key: zeroize::Zeroizing::new(hex::encode(audit_signing.to_bytes())),
        })
    }

    pub fn api_url(&self) -> String {
        self.api.as_ref().map(LocalApi::url).unwrap_or_default()
    }

    /// Starts the edge worker with `event_keys` (`EVENT_KEYS` JSON) and this stack's staff keys.
    pub async fn start_edge(&mut self, event_keys: &str, quiet: bool) -> Result<String, String> {
        self.start_edge_with(event_keys, quiet, &serde_json::json!({}))
            .await
    }

    /// As [`Self::start_edge`], with more worker variables (`extra`, an object).
    pub async fn start_edge_with(
        &mut self,
        event_keys: &str,
        quiet: bool,
        extra: &serde_json::Value,
    ) -> Result<String, String> {
        let mut vars = serde_json::json!({
            "ACCEPT_STATIC": "false",
            "FRESHNESS_SECS": "30",
            "REVOKER_KEY": hex::encode(&*self.revoker_key),
            "AUDIT_FORWARDING": "on",
            "AUDIT_INGEST_URL": format!("{}/v1/audit/batches", self.api_url()),
            "AUDIT_SIGNING_KEY": self.audit_key.as_str(),
            "AUDIT_FORWARD_RETRY_SECS": "1",
            // As deployed: door tokens are bound to their scanner's key (DPoP).
            "ALLOW_UNBOUND_DOOR_TOKENS": "false",
        });
        if let (Some(vars), Some(extra)) = (vars.as_object_mut(), extra.as_object()) {
            vars.extend(extra.clone());
        }
        let edge = EdgeWorker::start(&repo_root(), event_keys, &self.staff.jwks(), &vars).await?;
        // The revoke function, as its event source mapping would run it, calling this worker.
        let door = functions::edge_client::EdgeRevocations::new(
            &edge.url,
            self.revoker_key.clone(),
            functions::gateway::transport::HyperTransport::new(
                functions::gateway::transport::DEFAULT_TIMEOUT,
            )
            .map_err(|e| e.to_string())?,
            self.deps.clock.clone(),
        );
        self.revoke_poller = Some(Poller::start(
            &self.clients,
            &self.revoke.url,
            &Consumer::Revoke(Arc::new(functions::revoke::Revoker::new(
                &self.deps,
                Arc::new(door),
            ))),
            1,
        ));
        if !quiet {
            step(&format!(
                "edge worker (release .wasm) in workerd on {}: SQLite Durable Object, REVOKED KV",
                edge.url
            ));
        }
        let url = edge.url.clone();
        self.edge = Some(edge);
        Ok(url)
    }

    /// Waits (bounded by `limit`, polling every 100 ms) until the revoke function has handled
    /// `messages` messages without a failure and its queue is empty.
    pub async fn revocations_done(&self, messages: u64, limit: Duration) -> bool {
        let Some(poller) = &self.revoke_poller else {
            return false;
        };
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            let handled = poller
                .stats
                .messages
                .load(std::sync::atomic::Ordering::Relaxed);
            let failed = poller
                .stats
                .failures
                .load(std::sync::atomic::Ordering::Relaxed);
            let waiting = provision::depth(&self.clients.sqs, &self.revoke.url)
                .await
                .unwrap_or(1);
            if handled >= messages && failed == 0 && waiting == 0 {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    /// The event's door audit at the door (read with an admin token, every page) and in the
    /// table, waiting (bounded by `limit`, polling every 200 ms) until forwarding caught up.
    pub async fn forwarded_audit(
        &self,
        event_id: &str,
        limit: Duration,
    ) -> Result<ForwardedAudit, String> {
        let edge = self.edge.as_ref().ok_or("the edge is not started")?;
        let token = self
            .staff
            .door_token(
                "audit-reader",
                functions::staff::Role::Admin,
                &[event_id],
                &["*"],
            )
            .await?;
        let client = crate::client::HttpClient::new(&edge.url);
        let (mut at_door, mut door_head, mut after) = (0u64, String::new(), 0u64);
        for _ in 0..10_000 {
            let headers = token.headers("GET", "/v1/audit");
            let reply = client
                .get(
                    &format!("/v1/audit?event_id={event_id}&after={after}&limit=1000"),
                    &crate::edge::header_refs(&headers),
                )
                .await?;
            let page = reply.json();
            if reply.status != 200 || page["chain"]["valid"] != true {
                return Err(format!("door audit answered {}: {page}", reply.status));
            }
            if let Some(last) = page["entries"].as_array().and_then(|e| e.last()) {
                at_door = last["seq"].as_u64().unwrap_or(0);
                last["hash"]
                    .as_str()
                    .unwrap_or("")
                    .clone_into(&mut door_head);
            }
            match page["next_after"].as_u64() {
                Some(next) => after = next,
                None => break,
            }
        }
        let log = functions::audit_ingest::DynamoAuditLog::new(
            self.clients.dynamodb.clone(),
            &self.deps.config.table_name,
        );
        let stream = functions::audit_ingest::Stream::Door(event_id.to_owned());
        let deadline = std::time::Instant::now() + limit;
        loop {
            let check = functions::audit_ingest::verify_stream(&log, &stream, 1_000_000)
                .await
                .map_err(|e| e.to_string())?;
            let seen = ForwardedAudit {
                at_door,
                forwarded: check.checked,
                chain_valid: check.valid,
                heads_match: check.head == door_head,
            };
            if (seen.forwarded >= at_door && seen.heads_match)
                || !seen.chain_valid
                || std::time::Instant::now() >= deadline
            {
                return Ok(seen);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Messages left in the dead-letter queues.
    pub async fn dead_letters(&self) -> u64 {
        let mut n = 0;
        for url in [
            &self.mint.dlq_url,
            &self.notify.dlq_url,
            &self.revoke.dlq_url,
        ] {
            n += provision::depth(&self.clients.sqs, url).await.unwrap_or(0);
        }
        n
    }

    /// Stops everything, in reverse order. Idempotent; also done (less gracefully) on drop.
    pub async fn shutdown(&mut self) {
        if let Some(p) = self.mint_poller.take() {
            p.stop(Duration::from_secs(5)).await;
        }
        if let Some(p) = self.notify_poller.take() {
            p.stop(Duration::from_secs(5)).await;
        }
        if let Some(p) = self.revoke_poller.take() {
            p.stop(Duration::from_secs(5)).await;
        }
        if let Some(edge) = self.edge.take() {
            edge.stop().await;
        }
        drop(self.api.take());
        drop(self.gateway.take());
        if let Some(moto) = self.moto.take() {
            let port = moto
                .endpoint
                .rsplit(':')
                .next()
                .unwrap_or_default()
                .to_owned();
            // Free moto's state first: a big heap makes its exit slow.
            let client = crate::client::HttpClient::new(&moto.endpoint);
            let _ = tokio::time::timeout(
                Duration::from_secs(10),
                client.request("POST", "/moto-api/reset", &[], Vec::new()),
            )
            .await;
            let _ = tokio::task::spawn_blocking(move || {
                drop(moto);
                reap_moto(&port);
            })
            .await;
        }
    }
}

/// The pids of `moto_server` processes listening on `port` (found by their command line).
fn moto_pids(port: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let pid = e.file_name().to_string_lossy().into_owned();
            if !pid.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            // The launcher is `karcis_moto_server-<content hash>.py` (functions::testing).
            let is_launcher = |a: &[u8]| {
                a.ends_with(b".py")
                    && a.rsplit(|b| *b == b'/')
                        .next()
                        .is_some_and(|f| f.starts_with(b"karcis_moto_server"))
            };
            let is_moto = args
                .iter()
                .any(|a| is_launcher(a) || a.ends_with(b"moto_server"));
            let on_port = args
                .windows(2)
                .any(|w| w[0] == b"-p" && w[1] == port.as_bytes());
            (is_moto && on_port).then_some(pid)
        })
        .collect()
}

/// Makes sure the moto this stack started is gone (its watchdog normally sees to it; under heavy
/// load it has been seen to miss): TERM, then KILL, by pid, bounded to about 5 s.
fn reap_moto(port: &str) {
    if port.is_empty() {
        return;
    }
    for round in 0..10 {
        let pids = moto_pids(port);
        if pids.is_empty() {
            return;
        }
        if round == 0 || round == 6 {
            let signal = if round == 0 { "-TERM" } else { "-KILL" };
            let _ = std::process::Command::new("kill")
                .arg(signal)
                .args(&pids)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}
