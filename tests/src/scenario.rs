//! The flash sale, from checkout to the door, driven through the dev stack's public
//! interfaces only (HTTP API, signed webhooks, the edge worker), and its summary.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use functions::gateway::testing::{signed_webhook, SignedWebhook, TestPayment};
use functions::gateway::{GatewaySecrets, PaymentStatus, Provider};
use functions::staff::Role;
use p256::ecdsa::SigningKey;
use serde_json::{json, Value};
use ticket::{Claims, IssuerKey, QrKey, SealedCredential, TicketId};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::client::{HttpClient, Reply};
use crate::stack::DevStack;
use crate::stats::{Latencies, LatencyRow, Progress, Ticker};

/// Sizes and knobs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Capacity of the event (M).
    pub tickets: u32,
    /// Buyers racing to check out (N).
    pub buyers: u32,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// No progress lines.
    pub quiet: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            tickets: 500,
            buyers: 2000,
            concurrency: 64,
            quiet: false,
        }
    }
}

/// What happened to the buyer who asked for their data and then its deletion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrivacyOutcome {
    Done {
        exported_own_data: bool,
        deleted_unreadable: bool,
    },
}

/// The summary table's numbers.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub capacity: u32,
    pub buyers: u32,
    pub orders: u32,
    pub sold: u32,
    pub available_after: u32,
    pub oversold: u32,
    pub sold_out_refused: u32,
    pub checkout_errors: u32,
    pub idempotent_retries: u32,
    pub idempotent_retries_same_order: u32,
    pub webhooks_delivered: u32,
    pub webhooks_paid: u32,
    pub webhooks_duplicate_noop: u32,
    pub webhooks_late_pending_noop: u32,
    pub forged_webhooks_sent: u32,
    pub forged_webhooks_rejected: u32,
    pub webhook_errors: u32,
    pub orders_minted: u32,
    pub tickets_minted: u32,
    pub dead_letters: u64,
    pub notifications_sent: u64,
    pub bound: u32,
    pub scanned: u32,
    pub admitted: u32,
    pub max_admissions_per_ticket: u32,
    pub race_pairs: u32,
    pub race_pairs_one_winner: u32,
    pub second_scans: u32,
    pub second_scans_refused: u32,
    pub replays: u32,
    pub replays_refused: u32,
    pub forged_qr: u32,
    pub forged_qr_refused: u32,
    pub static_copies: u32,
    pub static_copies_refused: u32,
    pub revoked_scans: u32,
    pub revoked_refused: u32,
    pub privacy: Option<PrivacyOutcome>,
    /// The door's audit chain: entries at the door, and as forwarded into the back end.
    pub audit: crate::stack::ForwardedAudit,
    /// Real buyers refused by the rate limit or the fraud rules (must be 0).
    pub real_refused: u32,
    /// The bot farm.
    pub farm: crate::bots::FarmStats,
    /// Seats the blacklisted-card bot's order took (paid, held, never minted).
    pub card_seats: u32,
    pub latencies: Vec<LatencyRow>,
    pub elapsed: Duration,
    /// Unexpected answers (first few), for diagnosis.
    pub problems: Vec<String>,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub(crate) fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut b);
    hex::encode(b)
}

/// Runs `f` over `items` with at most `limit` in flight; results in completion order.
pub(crate) async fn bounded<T, F, Fut>(items: Vec<T>, limit: usize, f: F) -> Vec<Fut::Output>
where
    F: Fn(T) -> Fut,
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    let permits = Arc::new(Semaphore::new(limit.max(1)));
    let mut set = JoinSet::new();
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let fut = f(item);
        set.spawn(async move {
            let _permit = permit;
            fut.await
        });
        // Collect what is done so the set stays small.
        while let Some(Ok(r)) = set.try_join_next() {
            out.push(r);
        }
    }
    while let Some(r) = set.join_next().await {
        if let Ok(r) = r {
            out.push(r);
        }
    }
    out
}

/// A buyer who got an order.
#[derive(Debug, Clone)]
struct Winner {
    n: u32,
    order_id: String,
    token: String,
    amount: u64,
    currency: String,
    provider: Provider,
    quantity: u32,
}

enum CheckoutResult {
    Won(Winner, Option<bool>),
    SoldOut,
    /// `403` (fraud rules) or `429` (rate limit).
    Refused(String),
    Failed(String),
}

/// How long a buyer keeps retrying a checkout that failed transiently (503/500 or transport).
const CHECKOUT_RETRY_WINDOW: Duration = Duration::from_secs(60);
/// How long a buyer waits for their paid order's tickets: far above the demo's own p99 of
/// "paid -> tickets" on a loaded machine; the wait ends as soon as they are minted.
const MINT_WAIT: Duration = Duration::from_secs(600);
/// How long the run waits for the notify queue to drain; ends as soon as it has.
const NOTIFY_DRAIN_WAIT: Duration = Duration::from_secs(300);
/// How long the door's audit may take to reach the back end (the forwarding alarm retries every
/// second in the stack; a generous bound, met in about a second when idle).
const AUDIT_FORWARD_WAIT: Duration = Duration::from_secs(120);

/// One buyer: `POST /v1/orders`, retried with the same idempotency key on a transient error
/// (backing off from 100 ms to 2 s, for at most [`CHECKOUT_RETRY_WINDOW`], as a patient client
/// would), so that a loaded machine's slow answers are not counted as failures; every 10th buyer
/// also retries once after success, as a double-click would.
async fn checkout(
    api: HttpClient,
    event_id: String,
    n: u32,
    lat: Arc<Latencies>,
) -> CheckoutResult {
    let quantity = if n % 3 == 0 { 2 } else { 1 };
    let provider = if n % 2 == 0 {
        Provider::Stripe
    } else {
        Provider::Midtrans
    };
    let mut body = functions::testing::sample_checkout_body(&event_id, quantity, n);
    body["payment_provider"] = json!(provider.as_str());
    let key = format!("demo-{}-{n}", random_hex(8));
    let me = crate::bots::buyer(n);
    let headers = crate::bots::headers(&me, &key);
    let mut last_error = String::new();
    let give_up = Instant::now() + CHECKOUT_RETRY_WINDOW;
    let mut backoff = Duration::from_millis(100);
    // Bounded by the window and by the attempt count.
    for _attempt in 0..40 {
        if Instant::now() >= give_up {
            break;
        }
        if !last_error.is_empty() {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
        let started = Instant::now();
        let reply = api.post_json("/v1/orders", &headers, &body).await;
        lat.record("checkout", started.elapsed());
        match reply {
            Ok(r) if r.status == 201 => {
                let v = r.json();
                let winner = Winner {
                    n,
                    order_id: v["order"]["order_id"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    token: v["access_token"].as_str().unwrap_or_default().to_owned(),
                    amount: v["order"]["total"]["amount_minor"].as_u64().unwrap_or(0),
                    currency: v["order"]["total"]["currency"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    provider,
                    quantity,
                };
                let mut same = None;
                if n % 10 == 3 {
                    let again = api.post_json("/v1/orders", &headers, &body).await;
                    same = Some(again.is_ok_and(|r| {
                        r.status == 200
                            && r.json()["order"]["order_id"].as_str()
                                == Some(winner.order_id.as_str())
                    }));
                }
                return CheckoutResult::Won(winner, same);
            }
            Ok(r) if r.status == 409 && r.problem_type().ends_with("sold-out") => {
                return CheckoutResult::SoldOut
            }
            Ok(r) if r.status == 403 || r.status == 429 => {
                return CheckoutResult::Refused(format!(
                    "checkout {}: {}",
                    r.status,
                    r.problem_type()
                ))
            }
            Ok(r) if r.status == 503 || r.status == 500 => {
                last_error = format!("checkout {}: {}", r.status, r.problem_type());
            }
            Ok(r) => {
                return CheckoutResult::Failed(format!(
                    "checkout {}: {}",
                    r.status,
                    r.problem_type()
                ))
            }
            Err(e) => last_error = e,
        }
    }
    CheckoutResult::Failed(last_error)
}

/// How a webhook is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Delivery {
    Genuine,
    /// Signed with a secret that is not the merchant's.
    ForgedSecret,
    /// Genuine signature, body altered afterwards (amount raised by 1).
    Tampered,
}

async fn deliver(api: &HttpClient, hook: &SignedWebhook) -> Result<Reply, String> {
    let headers: Vec<(&str, &str)> = hook.header_pairs();
    api.request("POST", &hook.path, &headers, hook.body.clone())
        .await
}

fn forged_secrets() -> GatewaySecrets {
    let json = r#"{
      "stripe":   { "webhook_secrets": ["whsec_attacker_guess"], "api_key": "sk_test_attacker" },
      "midtrans": { "server_key": "SB-Mid-server-attacker" }
    }"#;
    GatewaySecrets::from_json(json.as_bytes()).expect("forged secrets parse")
}

#[derive(Default)]
struct PayResult {
    delivered: u32,
    paid: u32,
    duplicate_noop: u32,
    late_pending_noop: u32,
    forged_sent: u32,
    forged_rejected: u32,
    errors: Vec<String>,
}

/// The gateway's side of one paid order: the signed notifications it sends, with the
/// real-world mess (duplicates, a stale `pending` after `paid`, forgeries by third parties).
async fn pay(
    api: HttpClient,
    secrets: Arc<GatewaySecrets>,
    (index, w): (usize, Winner),
    lat: Arc<Latencies>,
    progress: Arc<Progress>,
) -> PayResult {
    let mut out = PayResult::default();
    let sent_at = now();
    let payment = TestPayment::paid(&w.order_id, w.amount, &w.currency)
        .with_event_id(&format!("evt_{}", &w.order_id[4..]));
    let mut plan: Vec<(Delivery, TestPayment)> = Vec::new();
    if index < 2 || index % 25 == 13 {
        plan.push((Delivery::ForgedSecret, payment.clone()));
        plan.push((Delivery::Tampered, payment.clone()));
    }
    plan.push((Delivery::Genuine, payment.clone()));
    if index % 7 == 3 {
        plan.push((Delivery::Genuine, payment.clone())); // gateway retry: same event
    }
    if index % 5 == 2 {
        // Out of order: an older "pending" notification arrives after "paid".
        plan.push((
            Delivery::Genuine,
            payment
                .clone()
                .with_status(PaymentStatus::Pending)
                .with_event_id(&format!("evt_{}_pending", &w.order_id[4..])),
        ));
    }
    for (kind, p) in plan {
        let hook = match kind {
            Delivery::Genuine => signed_webhook(w.provider, &secrets, &p, sent_at),
            Delivery::ForgedSecret => signed_webhook(w.provider, &forged_secrets(), &p, sent_at),
            Delivery::Tampered => {
                let mut hook = signed_webhook(w.provider, &secrets, &p, sent_at);
                let text = String::from_utf8_lossy(&hook.body).into_owned();
                let amount = p.amount.to_string();
                hook.body = text
                    .replacen(&amount, &(p.amount + 1).to_string(), 1)
                    .into_bytes();
                hook
            }
        };
        let started = Instant::now();
        let reply = deliver(&api, &hook).await;
        lat.record("webhook", started.elapsed());
        Progress::add(&progress.webhooks, 1);
        out.delivered += 1;
        match (kind, reply) {
            (Delivery::Genuine, Ok(reply)) if reply.status == 200 => {
                match reply.field("outcome").as_str() {
                    "paid" => out.paid += 1,
                    "duplicate" | "already_paid" => out.duplicate_noop += 1,
                    "acknowledged" => out.late_pending_noop += 1,
                    other => out.errors.push(format!("webhook outcome {other}")),
                }
            }
            (Delivery::Genuine, Ok(reply)) => out.errors.push(format!(
                "webhook {}: {}",
                reply.status,
                reply.problem_type()
            )),
            (_, Ok(reply)) => {
                out.forged_sent += 1;
                if matches!(reply.status, 400 | 401) {
                    out.forged_rejected += 1;
                } else {
                    out.errors
                        .push(format!("forged webhook answered {}", reply.status));
                }
            }
            (_, Err(e)) => out.errors.push(e),
        }
    }
    out
}

/// A minted ticket in the buyer's app.
#[derive(Debug, Clone)]
struct HeldTicket {
    ticket_id: String,
    event_id: String,
    sealed: SealedCredential,
    device: Option<Arc<SigningKey>>,
}

impl HeldTicket {
    /// The rotating code, with a device proof `age` seconds old.
    fn code(&self, age: u64) -> String {
        let id = TicketId::from_hex(&self.ticket_id).expect("ticket id");
        match &self.device {
            Some(d) => ticket::present_with_device(
                &self.sealed,
                &id,
                &self.event_id,
                now().saturating_sub(age),
                d,
            ),
            None => self.sealed.to_static_qr(),
        }
    }
}

fn sealed_from(view: &Value) -> Option<SealedCredential> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(view["credential"].as_str()?)
        .ok()?;
    SealedCredential::from_bytes(bytes).ok()
}

/// Polls the buyer's tickets until the order is minted (bounded).
async fn await_tickets(
    api: HttpClient,
    w: Winner,
    lat: Arc<Latencies>,
    progress: Arc<Progress>,
    paid_at: Instant,
) -> Result<(Winner, Vec<Value>), String> {
    let path = format!("/v1/orders/{}/tickets", w.order_id);
    let auth = format!("Bearer {}", w.token);
    let give_up = Instant::now() + MINT_WAIT;
    // Bounded by the deadline (and the count, should the clock misbehave).
    for _ in 0..30_000 {
        if Instant::now() >= give_up {
            break;
        }
        let reply = api.get(&path, &[("authorization", &auth)]).await?;
        if reply.status != 200 {
            return Err(format!(
                "tickets {}: {}",
                reply.status,
                reply.problem_type()
            ));
        }
        let v = reply.json();
        if v["status"] == "MINTED" || v["status"] == "minted" {
            lat.record("paid -> tickets", paid_at.elapsed());
            Progress::add(&progress.minted_orders, 1);
            let tickets = v["tickets"].as_array().cloned().unwrap_or_default();
            return Ok((w, tickets));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(format!(
        "order {} not minted in {} s",
        w.order_id,
        MINT_WAIT.as_secs()
    ))
}

/// Binds a ticket to the buyer's phone key (`POST /v1/tickets/{id}/device`), naming its order
/// so the API reads the ticket strongly consistently (right after minting).
async fn bind(
    api: HttpClient,
    token: String,
    order_id: String,
    ticket_id: String,
    device: Arc<SigningKey>,
    lat: Arc<Latencies>,
    progress: Arc<Progress>,
) -> Result<HeldTicket, String> {
    let public = hex::encode(device.verifying_key().to_encoded_point(false).as_bytes());
    let started = Instant::now();
    let reply = api
        .post_json(
            &format!("/v1/tickets/{ticket_id}/device"),
            &[("authorization", &format!("Bearer {token}"))],
            &json!({"device_public_key": public, "order_id": order_id}),
        )
        .await?;
    lat.record("bind device", started.elapsed());
    if reply.status != 200 {
        return Err(format!("bind {}: {}", reply.status, reply.problem_type()));
    }
    let v = reply.json();
    let sealed = sealed_from(&v).ok_or("bind: no credential")?;
    Progress::add(&progress.bound, 1);
    Ok(HeldTicket {
        ticket_id,
        event_id: v["event_id"].as_str().unwrap_or_default().to_owned(),
        sealed,
        device: Some(device),
    })
}

/// The door: scans with a staff token for one event, timed and counted.
#[derive(Clone)]
struct Door {
    edge: HttpClient,
    credential: Arc<crate::edge::DoorCredential>,
    event_id: Arc<String>,
    lat: Arc<Latencies>,
    progress: Arc<Progress>,
}

impl Door {
    /// One scan; returns the worker's `result` (or the error) and the ticket id it names.
    async fn scan(&self, gate: &'static str, qr: String) -> (String, Option<String>) {
        let (result, _, ticket_id) = self.scan_with_detail(gate, qr).await;
        (result, ticket_id)
    }

    /// The result, the refusal's code (`detail`) and the ticket id.
    async fn scan_with_detail(
        &self,
        gate: &'static str,
        qr: String,
    ) -> (String, Option<String>, Option<String>) {
        let body = json!({"qr": qr, "gate_id": gate, "scan_id": format!("scan-{}", random_hex(12)),
                          "event_id": *self.event_id});
        let started = Instant::now();
        let reply = self
            .edge
            .post_json(
                "/v1/scan",
                &crate::edge::header_refs(&self.credential.headers("POST", "/v1/scan")),
                &body,
            )
            .await;
        self.lat.record("scan", started.elapsed());
        Progress::add(&self.progress.scans, 1);
        match reply {
            Ok(r) => {
                let v = r.json();
                let result = v["result"].as_str().unwrap_or("?").to_owned();
                if result == "admitted" {
                    Progress::add(&self.progress.admitted, 1);
                }
                (
                    result,
                    v["detail"].as_str().map(str::to_owned),
                    v["ticket_id"].as_str().map(str::to_owned),
                )
            }
            Err(e) => (format!("error: {e}"), None, None),
        }
    }
}

/// Admissions per ticket id, as the worker's answers report them.
#[derive(Default)]
struct Admissions(HashMap<String, u32>);

impl Admissions {
    /// Counts `result` if it admitted someone.
    fn record(&mut self, result: &str, ticket_id: Option<String>) {
        if result == "admitted" {
            *self.0.entry(ticket_id.unwrap_or_default()).or_default() += 1;
        }
    }
}
/// A code the issuer never made: a ticket sealed with an attacker's own keys.
fn forged_code(event_id: &str, kid: u32) -> String {
    let mut rng = rand_core::OsRng;
    let issuer = IssuerKey::generate(kid, &mut rng);
    let qr = QrKey::generate(&mut rng);
    let device = SigningKey::random(&mut rng);
    let t = now();
    let claims = Claims {
        kid,
        ticket_id: TicketId::random(&mut rng),
        event_id: event_id.to_owned(),
        gates: vec!["*".into()],
        not_before: t - 3600,
        not_after: t + 86_400,
        issued_at: t,
        device_key: Some(
            ticket::DevicePublicKey::from_sec1(
                device.verifying_key().to_encoded_point(true).as_bytes(),
            )
            .expect("device key"),
        ),
    };
    let mut nonce = [0u8; 12];
    rand_core::RngCore::fill_bytes(&mut rng, &mut nonce);
    let sealed = ticket::issue(&claims, &issuer, &qr, nonce).expect("issue");
    ticket::present_with_device(&sealed, &claims.ticket_id, event_id, t, &device)
}

/// A genuine code with one payload byte flipped (a doctored screenshot).
fn flipped_code(code: &str, at: usize) -> String {
    let payload = code.strip_prefix(ticket::QR_PREFIX).unwrap_or(code);
    let mut bytes = ticket::base45::decode(payload).unwrap_or_default();
    if !bytes.is_empty() {
        let i = at % bytes.len();
        bytes[i] ^= 0x01;
    }
    format!("{}{}", ticket::QR_PREFIX, ticket::base45::encode(&bytes))
}

fn note(problems: &mut Vec<String>, p: String) {
    if problems.len() < 20 {
        problems.push(p);
    }
}

/// `POST /v1/privacy/challenge`, reading the one-time code from the buyer's inbox.
async fn privacy_proof(
    stack: &DevStack,
    api: &HttpClient,
    email: &str,
) -> Result<Option<Value>, String> {
    let reply = api
        .post_json("/v1/privacy/challenge", &[], &json!({"email": email}))
        .await?;
    if reply.status != 202 && reply.status != 200 {
        return Err(format!(
            "privacy challenge {}: {}",
            reply.status,
            reply.problem_type()
        ));
    }
    let challenge = reply.field("challenge");
    Ok(stack
        .mailbox
        .take_code(email)
        .map(|code| json!({"email": email, "challenge": challenge, "code": code})))
}

/// Export, delete, then prove the data is gone: no code is sent any more, a guessed proof is
/// refused, and the customer's data key no longer exists, so the sealed order details cannot be
/// opened.
async fn privacy(stack: &DevStack, api: &HttpClient, w: &Winner) -> Result<PrivacyOutcome, String> {
    let buyer = functions::testing::sample_buyer(w.n);
    let email = buyer["email"].as_str().unwrap_or_default().to_owned();
    let name = buyer["name"].as_str().unwrap_or_default().to_owned();
    let proof = privacy_proof(stack, api, &email)
        .await?
        .ok_or("no one-time code arrived")?;
    let export = api.post_json("/v1/privacy/export", &[], &proof).await?;
    if export.status != 200 {
        return Err(format!(
            "privacy export {}: {}",
            export.status,
            export.problem_type()
        ));
    }
    let doc = export.json();
    let customer_id = doc["customer"]["customer_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let exported_own_data = doc["customer"]["email"] == email.as_str()
        && doc["orders"].as_array().is_some_and(|o| {
            o.iter().any(|o| {
                o["order_id"] == w.order_id.as_str() && o["buyer"]["name"] == name.as_str()
            })
        });
    let proof = privacy_proof(stack, api, &email)
        .await?
        .ok_or("no one-time code arrived for the deletion")?;
    let deleted = api.post_json("/v1/privacy/delete", &[], &proof).await?;
    if deleted.status != 200 {
        return Err(format!(
            "privacy delete {}: {}",
            deleted.status,
            deleted.problem_type()
        ));
    }
    // After deletion: nothing to send a code to, a guessed proof is refused ...
    let after = privacy_proof(stack, api, &email).await?;
    let guessed = api
        .post_json(
            "/v1/privacy/export",
            &[],
            &json!({"email": email, "challenge": proof["challenge"], "code": "00000000"}),
        )
        .await?;
    // ... and at rest: the data key is gone, so the sealed buyer details cannot be opened.
    let key_gone = matches!(
        stack.deps.pii.customer_key_by_id(&customer_id).await,
        Err(functions::Error::NotFound)
    );
    let record = stack
        .deps
        .customers
        .get_customer(&customer_id)
        .await
        .map_err(|e| e.to_string())?;
    let shredded = record.is_none_or(|r| r.wrapped_key.is_none() && r.email_sealed.is_none());
    Ok(PrivacyOutcome::Done {
        exported_own_data,
        deleted_unreadable: after.is_none() && guessed.status == 401 && key_gone && shredded,
    })
}

/// Creates an on-sale event of `tickets` (admitting from now), then starts the edge worker with
/// its keys, as an operator would. Returns the event id, its kid and the edge URL.
/// The demo's event: one tier at IDR 350000, two tickets an order and a buyer, starting in an
/// hour; `queue_mode` sends its buyers through the waiting room.
pub fn sale_spec(
    event_id: &str,
    name: &str,
    tickets: u32,
    queue_mode: bool,
) -> functions::admin::EventSpec {
    let t = now();
    functions::admin::EventSpec {
        event_id: event_id.to_owned(),
        name: name.into(),
        currency: "IDR".into(),
        starts_at: t + 3600,
        ends_at: t + 6 * 3600,
        time_zone: None,
        max_per_order: Some(2),
        max_per_buyer: Some(2),
        on_sale: true,
        queue_mode,
        tiers: vec![functions::admin::TierSpec {
            tier_id: "ga".into(),
            name: "General admission".into(),
            price_minor: 350_000,
            capacity: tickets,
            gates: vec!["*".into()],
            stock_shards: None,
        }],
    }
}

/// The event `karcis-demo serve` puts on sale: the sale's general admission and a VIP tier whose
/// one ticket (Rp1.500.000) is above the step-up threshold (Rp1.000.000), so that a buyer in the
/// browser meets the step-up code before the payment.
pub fn serve_spec(tickets: u32) -> functions::admin::EventSpec {
    let event_id = format!("flash-{}", random_hex(4));
    let mut spec = sale_spec(&event_id, "Karcis Flash Sale Live", tickets, false);
    spec.tiers.push(functions::admin::TierSpec {
        tier_id: "vip".into(),
        name: "VIP".into(),
        price_minor: 1_500_000,
        capacity: tickets,
        gates: vec!["*".into()],
        stock_shards: None,
    });
    spec
}

pub async fn open_event(
    stack: &mut DevStack,
    tickets: u32,
    quiet: bool,
) -> Result<(String, u32, String), String> {
    let event_id = format!("flash-{}", random_hex(4));
    let spec = sale_spec(&event_id, "Karcis Flash Sale Live", tickets, false);
    open_event_spec(stack, &spec, quiet).await
}

/// Creates the event of `spec` (on sale) and starts the edge with its keys.
pub async fn open_event_spec(
    stack: &mut DevStack,
    spec: &functions::admin::EventSpec,
    quiet: bool,
) -> Result<(String, u32, String), String> {
    let event_id = spec.event_id.clone();
    let created = functions::admin::create_event(&stack.deps, spec)
        .await
        .map_err(|e| format!("create event: {e}"))?;
    let keys = crate::edge::event_keys_json(&stack.deps, &event_id, created.kid)
        .await
        .map_err(|e| format!("event keys: {e}"))?;
    let edge_url = stack.start_edge(&keys, quiet).await?;
    Ok((event_id, created.kid, edge_url))
}

/// The gateway's signed `paid` webhook for an order, delivered to the API (what the stub's
/// hosted page would trigger). Returns the callback's HTTP status.
pub async fn pay_order(stack: &DevStack, order_id: &str) -> Result<u16, String> {
    let order = stack
        .deps
        .orders
        .get_order(order_id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("no such order")?;
    let provider: Provider = order
        .payment_provider
        .parse()
        .map_err(|_| "unknown provider".to_owned())?;
    // The buyer pays at the gateway, whose status API then says so.
    if let Some(gateway) = &stack.gateway {
        gateway.set_status(order_id, PaymentStatus::Paid);
    }
    let payment = TestPayment::paid(order_id, order.amount_minor, &order.currency)
        .with_event_id(&format!("evt_{}", random_hex(8)));
    let hook = signed_webhook(provider, &stack.gateway_secrets, &payment, now());
    let api = HttpClient::new(&stack.api_url());
    Ok(deliver(&api, &hook).await?.status)
}

/// Runs the whole scenario against a started stack.
#[allow(clippy::too_many_lines)]
pub async fn run(stack: &mut DevStack, opts: &Options) -> Result<Summary, String> {
    let started = Instant::now();
    let lat = Arc::new(Latencies::default());
    let progress = Arc::new(Progress::default());
    let mut s = Summary {
        capacity: opts.tickets,
        buyers: opts.buyers,
        ..Summary::default()
    };
    let say = |m: &str| {
        if !opts.quiet {
            eprintln!("[demo] {m}");
        }
    };

    // 1. Ops: the event (tickets admit from now; sale open), its key set, the edge's keys.
    let (event_id, kid, edge_url) = open_event(stack, opts.tickets, opts.quiet).await?;
    say(&format!(
        "event {event_id}: {} tickets at IDR 350000, kid {kid} (issuer key sealed under KMS)",
        opts.tickets
    ));
    let api = HttpClient::new(&stack.api_url());
    let edge = HttpClient::new(&edge_url);
    let ticker =
        (!opts.quiet).then(|| Ticker::start(progress.clone(), opts.buyers, opts.tickets, started));

    // 2. The race.
    progress.phase("checkout");
    let mut card_order: Option<String> = None;
    say(&format!(
        "{} buyers race for {} tickets ({} requests in flight)",
        opts.buyers, opts.tickets, opts.concurrency
    ));
    let bots = (opts.buyers / 10).max(30);
    say(&format!(
        "a bot farm of {bots} scripted clients races them (no CAPTCHA, reused devices, throwaway emails, bulk from one phone, a high-risk country) and one carder pays with a blacklisted card"
    ));
    let real_race = async {
        bounded((0..opts.buyers).collect(), opts.concurrency, |n| {
            let (api, event_id, lat, progress) =
                (api.clone(), event_id.clone(), lat.clone(), progress.clone());
            async move {
                let r = checkout(api, event_id, n, lat).await;
                Progress::add(&progress.checkouts, 1);
                if let CheckoutResult::Won(w, _) = &r {
                    Progress::add(&progress.sold, u64::from(w.quantity));
                }
                r
            }
        })
        .await
    };
    let farm_race = bounded((0..bots).collect(), (opts.concurrency / 4).max(1), |i| {
        let (api, event_id) = (api.clone(), event_id.clone());
        async move { crate::bots::checkout(&api, &event_id, i).await }
    });
    // The carder goes first: a small sale can sell out before it would get a seat, and its
    // order is what shows the card check at payment.
    let card = crate::bots::card_bot(stack, &api, &stack.gateway_secrets, &event_id).await;
    let (results, farm_results) = tokio::join!(real_race, farm_race);
    for r in farm_results {
        s.farm.add(r);
    }
    match card {
        Ok((order_id, held)) => {
            s.card_seats = 1;
            s.farm.card_order_held = Some(held);
            card_order = Some(order_id);
        }
        Err(e) => note(&mut s.problems, e),
    }
    let mut winners = Vec::new();
    for r in results {
        match r {
            CheckoutResult::Won(w, same) => {
                if let Some(same) = same {
                    s.idempotent_retries += 1;
                    s.idempotent_retries_same_order += u32::from(same);
                }
                s.sold += w.quantity;
                winners.push(w);
            }
            CheckoutResult::SoldOut => s.sold_out_refused += 1,
            CheckoutResult::Refused(e) => {
                s.real_refused += 1;
                note(&mut s.problems, e);
            }
            CheckoutResult::Failed(e) => {
                s.checkout_errors += 1;
                note(&mut s.problems, e);
            }
        }
    }
    winners.sort_by_key(|w| w.n);
    s.orders = u32::try_from(winners.len()).unwrap_or(u32::MAX);
    s.oversold = s.sold.saturating_sub(s.capacity);
    let view = api.get(&format!("/v1/events/{event_id}"), &[]).await?;
    s.available_after = view.json()["tiers"][0]["available"]
        .as_u64()
        .and_then(|v| u32::try_from(v).ok())
        .unwrap_or(u32::MAX);
    say(&format!(
        "sold {} of {} in {} orders; {} buyers refused as sold out; event now shows {} available",
        s.sold, s.capacity, s.orders, s.sold_out_refused, s.available_after
    ));

    // 3. Payments: every winner pays at the gateway (whose status API then says so), and the
    // gateway calls back with signed webhooks.
    progress.phase("payment");
    if let Some(gateway) = &stack.gateway {
        for w in &winners {
            gateway.set_status(&w.order_id, PaymentStatus::Paid);
        }
    }
    let paid_at = Instant::now();
    let pays = bounded(
        winners.clone().into_iter().enumerate().collect(),
        opts.concurrency / 2,
        |w| {
            pay(
                api.clone(),
                stack.gateway_secrets.clone(),
                w,
                lat.clone(),
                progress.clone(),
            )
        },
    )
    .await;
    for p in pays {
        s.webhooks_delivered += p.delivered;
        s.webhooks_paid += p.paid;
        s.webhooks_duplicate_noop += p.duplicate_noop;
        s.webhooks_late_pending_noop += p.late_pending_noop;
        s.forged_webhooks_sent += p.forged_sent;
        s.forged_webhooks_rejected += p.forged_rejected;
        s.webhook_errors += u32::try_from(p.errors.len()).unwrap_or(u32::MAX);
        for e in p.errors {
            note(&mut s.problems, e);
        }
    }
    say(&format!(
        "{} webhooks delivered: {} paid, {} duplicates and {} late 'pending' changed nothing, {}/{} forged refused",
        s.webhooks_delivered, s.webhooks_paid, s.webhooks_duplicate_noop,
        s.webhooks_late_pending_noop, s.forged_webhooks_rejected, s.forged_webhooks_sent
    ));

    // 4. Minting through SQS; buyers poll their tickets.
    progress.phase("mint");
    let minted = bounded(winners.clone(), opts.concurrency / 2, |w| {
        await_tickets(api.clone(), w, lat.clone(), progress.clone(), paid_at)
    })
    .await;
    let mut holders: Vec<(Winner, Vec<Value>)> = Vec::new();
    for m in minted {
        match m {
            Ok((w, tickets)) => {
                s.orders_minted += 1;
                s.tickets_minted += u32::try_from(tickets.len()).unwrap_or(0);
                holders.push((w, tickets));
            }
            Err(e) => note(&mut s.problems, e),
        }
    }
    holders.sort_by_key(|(w, _)| w.n);
    if let Some(p) = &stack.mint_poller {
        let samples = p
            .stats
            .batch_latency
            .lock()
            .map(|v| v.clone())
            .unwrap_or_default();
        lat.extend("mint batch (SQS)", &samples);
    }
    say(&format!(
        "{} tickets minted for {} orders through the mint queue",
        s.tickets_minted, s.orders_minted
    ));
    if let Some(order_id) = &card_order {
        s.farm.card_order_minted = crate::bots::minted(&stack.deps, order_id).await;
    }
    s.farm.read_reasons(&stack.deps, &event_id).await?;
    say(&format!(
        "bots: {} of {} refused by the fraud rules, {} by the rate limit, {} stepped up (no code, no payment), the blacklisted card's order held: {}",
        s.farm.refused_by_rules, s.farm.bots, s.farm.rate_limited, s.farm.stepped_up,
        s.farm.card_order_held == Some(true)
    ));

    // 5. Most buyers bind their tickets to their phone; one in ten does not come.
    progress.phase("bind");
    let mut to_bind = Vec::new();
    for (i, (w, tickets)) in holders.iter().enumerate() {
        if i % 10 == 9 {
            continue;
        }
        let device = Arc::new(SigningKey::random(&mut rand_core::OsRng));
        for tk in tickets {
            let id = tk["ticket_id"].as_str().unwrap_or_default().to_owned();
            to_bind.push((w.token.clone(), w.order_id.clone(), id, device.clone()));
        }
    }
    let bound = bounded(
        to_bind,
        opts.concurrency / 2,
        |(token, order_id, id, device)| {
            bind(
                api.clone(),
                token,
                order_id,
                id,
                device,
                lat.clone(),
                progress.clone(),
            )
        },
    )
    .await;
    let mut held: Vec<HeldTicket> = Vec::new();
    for b in bound {
        match b {
            Ok(h) => held.push(h),
            Err(e) => note(&mut s.problems, e),
        }
    }
    held.sort_by(|a, b| a.ticket_id.cmp(&b.ticket_id));
    s.bound = u32::try_from(held.len()).unwrap_or(0);
    say(&format!(
        "{} tickets bound to a device key (P-256)",
        s.bound
    ));

    // 6. The door.
    progress.phase("door");
    let staff_token = stack
        .staff
        .door_token("staff-gate", Role::Staff, &[&event_id], &["*"])
        .await?;
    let door = Door {
        edge: edge.clone(),
        credential: Arc::new(staff_token),
        event_id: Arc::new(event_id.clone()),
        lat: lat.clone(),
        progress: progress.clone(),
    };
    // The ticket whose order is refunded before its holder arrives: one paid through Stripe
    // (its refund webhook names the PaymentIntent that paid).
    let stripe_order: HashMap<&str, &Winner> = holders
        .iter()
        .filter(|(w, _)| w.provider == Provider::Stripe)
        .flat_map(|(w, tickets)| {
            tickets
                .iter()
                .filter_map(|tk| tk["ticket_id"].as_str())
                .map(move |id| (id, w))
        })
        .collect();
    let refunded_at = held
        .iter()
        .position(|h| stripe_order.contains_key(h.ticket_id.as_str()))
        .ok_or("no bound ticket of a Stripe order to refund")?;
    let revoked = held.remove(refunded_at);
    let refunded_order = stripe_order[revoked.ticket_id.as_str()];
    let rest = &held[..];
    let race_count = rest.len().min(5);
    let (racers, queue) = rest.split_at(race_count);
    let mut admissions = Admissions::default();

    let scans = bounded(queue.to_vec(), 16, |h| {
        let gate = if h.ticket_id.as_bytes()[0] % 2 == 0 {
            "A"
        } else {
            "B"
        };
        let (door, code) = (door.clone(), h.code(0));
        async move { door.scan(gate, code).await }
    })
    .await;
    for (result, tid) in scans {
        s.scanned += 1;
        if result != "admitted" {
            note(&mut s.problems, format!("first scan: {result}"));
        }
        admissions.record(&result, tid);
    }
    // The same ticket at two gates at the same moment: exactly one may get in.
    for h in racers {
        let (a, b) = tokio::join!(door.scan("A", h.code(0)), door.scan("B", h.code(0)));
        s.race_pairs += 1;
        s.scanned += 2;
        let wins = [&a, &b].iter().filter(|r| r.0 == "admitted").count();
        let other_refused = [&a, &b].iter().any(|r| r.0 == "already_admitted");
        if wins == 1 && other_refused {
            s.race_pairs_one_winner += 1;
        }
        for (r, tid) in [a, b] {
            admissions.record(&r, tid);
        }
    }
    // Second scans, screenshot replays (proof 45 s old > 30 s window), doctored and forged codes.
    let sample: Vec<&HeldTicket> = queue.iter().step_by(10).take(20).collect();
    for h in &sample {
        let (r, tid) = door.scan("B", h.code(0)).await;
        s.second_scans += 1;
        if r == "already_admitted" {
            s.second_scans_refused += 1;
        }
        admissions.record(&r, tid);
        let (r, tid) = door.scan("A", h.code(45)).await;
        s.replays += 1;
        if r == "stale" {
            s.replays_refused += 1;
        } else {
            note(&mut s.problems, format!("replay answered {r}"));
        }
        admissions.record(&r, tid);
        let (r, detail, tid) = door.scan_with_detail("A", h.sealed.to_static_qr()).await;
        s.static_copies += 1;
        // A device-bound credential shown without its device proof is refused as exactly that
        // (FORMAT.md step 6a), not for any other reason.
        if r == "invalid" && detail.as_deref() == Some("device_proof_required") {
            s.static_copies_refused += 1;
        } else {
            note(
                &mut s.problems,
                format!("static copy answered {r} ({detail:?})"),
            );
        }
        admissions.record(&r, tid);
    }
    let mut forged = vec![forged_code(&event_id, kid)];
    for (i, h) in sample.iter().take(5).enumerate() {
        forged.push(flipped_code(&h.code(0), 7 + i * 13));
    }
    for code in forged {
        let (r, tid) = door.scan("A", code).await;
        s.forged_qr += 1;
        if r == "invalid" {
            s.forged_qr_refused += 1;
        } else {
            note(&mut s.problems, format!("forged QR answered {r}"));
        }
        admissions.record(&r, tid);
    }
    // The buyer of one order is refunded before arriving: Stripe's signed `charge.refunded`
    // reaches payment-callback, which queues the revocation; the revoke function calls the door.
    let refund = TestPayment::paid(
        &refunded_order.order_id,
        refunded_order.amount,
        &refunded_order.currency,
    )
    .with_status(PaymentStatus::Refunded)
    .with_event_id(&format!("evt_{}_refund", &refunded_order.order_id[4..]));
    let hook = signed_webhook(Provider::Stripe, &stack.gateway_secrets, &refund, now());
    let reply = deliver(&api, &hook).await?;
    if reply.status != 200 || reply.json()["outcome"] != "refunded" {
        note(
            &mut s.problems,
            format!("refund webhook answered {}: {}", reply.status, reply.json()),
        );
    }
    let revoke_started = Instant::now();
    if !stack.revocations_done(1, Duration::from_secs(60)).await {
        note(
            &mut s.problems,
            "the revocation was not processed in 60 s".into(),
        );
    }
    lat.record(
        "refund webhook -> revoked at the door",
        revoke_started.elapsed(),
    );
    let (r, tid) = door.scan("A", revoked.code(0)).await;
    s.revoked_scans += 1;
    if r == "revoked" {
        s.revoked_refused += 1;
    }
    admissions.record(&r, tid);
    s.admitted = admissions.0.values().sum();
    s.max_admissions_per_ticket = admissions.0.values().copied().max().unwrap_or(0);
    say(&format!(
        "door: {} admitted; second scans, replays, copies, forgeries and the revoked ticket refused",
        s.admitted
    ));

    // The door's audit, forwarded (on by default) into the back end's table.
    let forwarded_started = Instant::now();
    match stack.forwarded_audit(&event_id, AUDIT_FORWARD_WAIT).await {
        Ok(audit) => s.audit = audit,
        Err(e) => note(&mut s.problems, format!("door audit: {e}")),
    }
    lat.record("door audit forwarded", forwarded_started.elapsed());
    say(&format!(
        "door audit: {} of {} entries forwarded into the table, chain verified: {}",
        s.audit.forwarded, s.audit.at_door, s.audit.chain_valid
    ));

    // 7. Privacy: a buyer asks for their data, then for its deletion.
    progress.phase("privacy");
    if let Some((w, _)) = holders.first() {
        let started = Instant::now();
        s.privacy = Some(privacy(stack, &api, w).await.unwrap_or_else(|e| {
            note(&mut s.problems, e.clone());
            PrivacyOutcome::Done {
                exported_own_data: false,
                deleted_unreadable: false,
            }
        }));
        lat.record("privacy export+delete", started.elapsed());
        say("one buyer exported their data, then had it deleted (crypto-shredded)");
    }

    // Let notify drain (until every minted order's notification is sent, or a generous
    // deadline), then read the DLQs.
    let give_up = Instant::now() + NOTIFY_DRAIN_WAIT;
    for _ in 0..30_000 {
        let sent = stack.sender.sent.load(Ordering::Relaxed);
        if sent >= u64::from(s.orders_minted) || Instant::now() >= give_up {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    s.notifications_sent = stack.sender.sent.load(Ordering::Relaxed);
    s.dead_letters = stack.dead_letters().await;
    drop(ticker);
    s.latencies = lat.rows(&[
        "checkout",
        "webhook",
        "mint batch (SQS)",
        "paid -> tickets",
        "bind device",
        "scan",
        "door audit forwarded",
        "privacy export+delete",
    ]);
    s.elapsed = started.elapsed();
    Ok(s)
}

impl Summary {
    /// The invariants the demo and the e2e tests insist on; empty when all hold.
    #[allow(clippy::too_many_lines)] // a list: one check per invariant
    pub fn violations(&self) -> Vec<String> {
        let mut v = Vec::new();
        let mut check = |ok: bool, what: &str| {
            if !ok {
                v.push(what.to_owned());
            }
        };
        check(self.oversold == 0, "oversold");
        check(self.sold <= self.capacity, "sold more than capacity");
        check(
            self.available_after
                == self
                    .capacity
                    .saturating_sub(self.sold + self.farm.seats + self.card_seats),
            "event availability != capacity - sold - seats the bots hold",
        );
        check(
            self.real_refused == 0,
            "a real buyer was refused by a rate limit or a rule",
        );
        check(
            self.farm.bots == 0 || self.farm.refused_by_rules + self.farm.rate_limited > 0,
            "no bot was refused",
        );
        check(
            self.farm.card_order_held == Some(true) && !self.farm.card_order_minted,
            "the blacklisted card's order was not held",
        );
        check(self.webhook_errors == 0, "a genuine webhook failed");
        check(self.forged_webhooks_sent > 0, "no forged webhook was tried");
        check(
            self.max_admissions_per_ticket <= 1,
            "a ticket was admitted twice",
        );
        check(
            self.admitted + 1 == self.bound,
            "a bound ticket was not admitted",
        );
        check(self.dead_letters == 0, "messages in a dead-letter queue");
        check(self.audit.at_door > 0, "the door recorded no audit");
        check(
            self.audit.forwarded == self.audit.at_door
                && self.audit.chain_valid
                && self.audit.heads_match,
            "the door's audit did not reach the back end whole",
        );
        // (got, expected, what it means when they differ)
        for (got, expected, what) in [
            (
                self.tickets_minted,
                self.sold,
                "tickets minted != tickets sold",
            ),
            (self.orders_minted, self.orders, "an order was not minted"),
            (self.webhooks_paid, self.orders, "paid webhooks != orders"),
            (
                self.forged_webhooks_rejected,
                self.forged_webhooks_sent,
                "a forged webhook was accepted",
            ),
            (
                self.race_pairs_one_winner,
                self.race_pairs,
                "a race let two in",
            ),
            (
                self.second_scans_refused,
                self.second_scans,
                "a second scan got in",
            ),
            (
                self.replays_refused,
                self.replays,
                "a stale screenshot got in",
            ),
            (
                self.static_copies_refused,
                self.static_copies,
                "a static copy of a device-bound ticket got in",
            ),
            (self.forged_qr_refused, self.forged_qr, "a forged QR got in"),
            (
                self.revoked_refused,
                self.revoked_scans,
                "a revoked ticket got in",
            ),
            (
                self.idempotent_retries_same_order,
                self.idempotent_retries,
                "an idempotent retry made a second order",
            ),
        ] {
            check(got == expected, what);
        }
        match &self.privacy {
            Some(PrivacyOutcome::Done {
                exported_own_data,
                deleted_unreadable,
            }) => {
                check(*exported_own_data, "the export lacked the buyer's data");
                check(*deleted_unreadable, "deleted data is still readable");
            }
            None => check(false, "the privacy step did not run"),
        }
        v
    }

    /// The summary table.
    #[allow(clippy::too_many_lines)]
    pub fn render(&self) -> String {
        let mut out = String::new();
        let row = |out: &mut String, k: &str, v: String| {
            let _ = writeln!(out, "  {k:<44} {v}");
        };
        let frac = |a: u32, b: u32| format!("{a} / {b}");
        let _ = writeln!(
            out,
            "\n== karcis flash sale: summary =========================================="
        );
        row(&mut out, "buyers racing", self.buyers.to_string());
        row(&mut out, "sold / capacity", frac(self.sold, self.capacity));
        row(&mut out, "oversold (must be 0)", self.oversold.to_string());
        row(
            &mut out,
            "orders (1-2 tickets each)",
            self.orders.to_string(),
        );
        row(
            &mut out,
            "refused: sold out",
            self.sold_out_refused.to_string(),
        );
        row(
            &mut out,
            "checkout errors",
            self.checkout_errors.to_string(),
        );
        row(
            &mut out,
            "real buyers refused by rate limits or rules",
            format!("{} (must be 0)", self.real_refused),
        );
        let f = &self.farm;
        row(
            &mut out,
            "bots racing (no CAPTCHA token)",
            f.bots.to_string(),
        );
        row(
            &mut out,
            "  refused by the fraud rules",
            f.refused_by_rules.to_string(),
        );
        row(
            &mut out,
            "  refused by the rate limit (not in this stack)",
            f.rate_limited.to_string(),
        );
        row(
            &mut out,
            "  orders stepped up (no code: never paid)",
            format!(
                "{} of {} bot orders, {} seats held until expiry",
                f.stepped_up, f.orders, f.seats
            ),
        );
        for (code, count) in &f.reasons {
            row(
                &mut out,
                &format!("    rule fired: {code}"),
                count.to_string(),
            );
        }
        row(
            &mut out,
            "  blacklisted card: order held, not minted",
            match f.card_order_held {
                Some(true) if !f.card_order_minted => "yes".to_owned(),
                None => "not run".to_owned(),
                _ => "NO".to_owned(),
            },
        );
        row(
            &mut out,
            "idempotent retries -> same order",
            frac(self.idempotent_retries_same_order, self.idempotent_retries),
        );
        row(
            &mut out,
            "webhooks delivered (Stripe + Midtrans)",
            self.webhooks_delivered.to_string(),
        );
        row(&mut out, "  paid", self.webhooks_paid.to_string());
        row(
            &mut out,
            "  duplicates: no-op",
            self.webhooks_duplicate_noop.to_string(),
        );
        row(
            &mut out,
            "  out of order ('pending' after 'paid'): no-op",
            self.webhooks_late_pending_noop.to_string(),
        );
        row(
            &mut out,
            "  forged webhooks rejected",
            frac(self.forged_webhooks_rejected, self.forged_webhooks_sent),
        );
        row(
            &mut out,
            "tickets minted (via SQS)",
            frac(self.tickets_minted, self.sold),
        );
        row(
            &mut out,
            "notifications sent (via SQS)",
            self.notifications_sent.to_string(),
        );
        row(
            &mut out,
            "dead-lettered messages",
            self.dead_letters.to_string(),
        );
        row(
            &mut out,
            "tickets bound to a device key",
            self.bound.to_string(),
        );
        row(&mut out, "admitted at the door", self.admitted.to_string());
        row(
            &mut out,
            "max admissions of one ticket (must be 1)",
            self.max_admissions_per_ticket.to_string(),
        );
        row(
            &mut out,
            "same ticket at 2 gates at once: 1 admitted",
            frac(self.race_pairs_one_winner, self.race_pairs),
        );
        row(
            &mut out,
            "duplicates refused (second scan)",
            frac(self.second_scans_refused, self.second_scans),
        );
        row(
            &mut out,
            "replays refused (screenshot, proof 45 s old)",
            frac(self.replays_refused, self.replays),
        );
        row(
            &mut out,
            "static copies of bound tickets refused",
            frac(self.static_copies_refused, self.static_copies),
        );
        row(
            &mut out,
            "forged / doctored QR codes refused",
            frac(self.forged_qr_refused, self.forged_qr),
        );
        row(
            &mut out,
            "revoked ticket refused",
            frac(self.revoked_refused, self.revoked_scans),
        );
        row(
            &mut out,
            "door audit forwarded to the back end",
            format!(
                "{} (chain {}, heads {})",
                frac(
                    u32::try_from(self.audit.forwarded).unwrap_or(u32::MAX),
                    u32::try_from(self.audit.at_door).unwrap_or(u32::MAX)
                ),
                if self.audit.chain_valid {
                    "verified"
                } else {
                    "BROKEN"
                },
                if self.audit.heads_match {
                    "match"
                } else {
                    "DIFFER"
                }
            ),
        );
        let privacy = match &self.privacy {
            None => "not run".to_owned(),
            Some(PrivacyOutcome::Done {
                exported_own_data,
                deleted_unreadable,
            }) => format!(
                "export had the data: {}; after deletion unreadable: {}",
                if *exported_own_data { "yes" } else { "NO" },
                if *deleted_unreadable { "yes" } else { "NO" }
            ),
        };
        row(&mut out, "privacy: export, then delete", privacy);
        let _ = writeln!(
            out,
            "\n  {:<22} {:>7} {:>10} {:>10}",
            "latency", "n", "p50", "p99"
        );
        for r in &self.latencies {
            let _ = writeln!(
                out,
                "  {:<22} {:>7} {:>8.1}ms {:>8.1}ms",
                r.step,
                r.count,
                r.p50.as_secs_f64() * 1000.0,
                r.p99.as_secs_f64() * 1000.0
            );
        }
        let violations = self.violations();
        let _ = writeln!(out);
        if violations.is_empty() {
            let _ = writeln!(
                out,
                "  invariants: all hold   (run took {:.1} s)",
                self.elapsed.as_secs_f64()
            );
        } else {
            let _ = writeln!(out, "  INVARIANTS VIOLATED: {}", violations.join("; "));
            for p in &self.problems {
                let _ = writeln!(out, "    - {p}");
            }
        }
        out
    }
}
