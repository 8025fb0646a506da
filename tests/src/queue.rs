//! The flash sale through the waiting room (`make demo DEMO_QUEUE=1`): an event in queue mode,
//! the edge worker's line for it (`edge-worker/src/waiting_room.rs`) opened at a rate checkout
//! can take, a siteverify stub on loopback for the Turnstile check at the entry of the line.
//! The line admits one a second while the buyers arrive, then the configured rate from the
//! on-sale. Every buyer joins (the arrivals), most poll their place until admitted and then check out with
//! the admission; every tenth walks away after joining (never polls again) and is skipped when
//! its turn comes. A client without an admission and a second use of a spent one are refused by
//! checkout. The summary shows the line (arrivals, admitted, abandoned, max wait) and the sale.
//!
//! The reservations are the checkout's as in the default demo; payment, mint and the door are
//! not repeated here (the default `make demo` runs them).

use std::fmt::Write as _;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use functions::captcha::stub::SiteverifyStub;
use functions::staff::Role;
use p256::ecdsa::SigningKey;
use serde_json::{json, Value};

use crate::client::HttpClient;
use crate::edge::DoorCredential;
use crate::scenario::{bounded, random_hex};
use crate::stack::DevStack;

const SECRET: &str = "karcis-demo-turnstile-secret";
const HOSTNAME: &str = "karcis.local";

/// This process's waiting-room key (the edge signs with it; the stack's checkout verifies).
fn key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::random(&mut rand_core::OsRng))
}

/// The public key, uncompressed SEC1 hex (`WAITING_ROOM_PUBLIC_KEY`).
pub fn public_key_hex() -> String {
    hex::encode(key().verifying_key().to_encoded_point(false).as_bytes())
}

/// Sizes of a queued sale.
#[derive(Debug, Clone)]
pub struct QueueOptions {
    pub tickets: u32,
    pub buyers: u32,
    /// Admissions a second.
    pub rate: u32,
    pub concurrency: usize,
    pub quiet: bool,
}

/// What a queued sale did.
#[derive(Debug, Clone, Default)]
pub struct QueueSummary {
    pub tickets: u32,
    pub rate: u32,
    pub arrivals: u64,
    pub admitted: u64,
    pub abandoned: u64,
    pub walked_away: u32,
    pub max_wait_ms: u64,
    pub joins_refused: u32,
    pub orders: u32,
    pub sold: u32,
    pub sold_out: u32,
    pub checkout_errors: u32,
    pub never_admitted: u32,
    /// Buyers who polled but were skipped all the same (their polls too far apart).
    pub pollers_skipped: u32,
    pub no_admission_refused: bool,
    pub reused_admission_refused: bool,
    pub elapsed: Duration,
    pub problems: Vec<String>,
}

impl QueueSummary {
    /// The invariants that must hold.
    pub fn violations(&self) -> Vec<String> {
        let mut v = Vec::new();
        if self.sold > self.tickets {
            v.push(format!("oversold: {} of {}", self.sold, self.tickets));
        }
        if u64::from(self.orders) > self.admitted {
            v.push(format!(
                "{} orders but {} admitted",
                self.orders, self.admitted
            ));
        }
        if !self.no_admission_refused {
            v.push("a checkout without an admission was not refused".into());
        }
        if !self.reused_admission_refused {
            v.push("a spent admission was accepted again".into());
        }
        if self.checkout_errors > 0 || self.never_admitted > 0 {
            v.push(format!(
                "{} checkout errors, {} buyers never admitted",
                self.checkout_errors, self.never_admitted
            ));
        }
        v
    }

    pub fn render(&self) -> String {
        let mut out = format!(
            "karcis flash sale through the waiting room ({} tickets, line at {}/s), {:.1} s\n\
             the line: {} arrivals, {} admitted, {} abandoned (of {} who walked away; {} polling buyers skipped), max wait {:.1} s, {} joins refused\n\
             the sale: {} sold in {} orders, {} admitted buyers found it sold out, {} checkout errors\n\
             attacks: checkout without an admission refused: {}; a spent admission reused refused: {}\n",
            self.tickets,
            self.rate,
            self.elapsed.as_secs_f64(),
            self.arrivals,
            self.admitted,
            self.abandoned,
            self.walked_away,
            self.pollers_skipped,
            Duration::from_millis(self.max_wait_ms).as_secs_f64(),
            self.joins_refused,
            self.sold,
            self.orders,
            self.sold_out,
            self.checkout_errors,
            yes(self.no_admission_refused),
            yes(self.reused_admission_refused),
        );
        for p in self.problems.iter().take(5) {
            let _ = writeln!(out, "problem: {p}");
        }
        for v in self.violations() {
            let _ = writeln!(out, "VIOLATION: {v}");
        }
        out
    }
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "NO"
    }
}

/// A place in line.
struct Place {
    n: u32,
    token: String,
}

/// Opens a queue-mode event with its line at the edge; returns (event id, edge url, siteverify,
/// an admin token for the event).
async fn open(
    stack: &mut DevStack,
    opts: &QueueOptions,
) -> Result<(String, String, SiteverifyStub, DoorCredential), String> {
    let event_id = format!("queued-{}", random_hex(4));
    let spec =
        crate::scenario::sale_spec(&event_id, "Karcis Flash Sale, queued", opts.tickets, true);
    let created = functions::admin::create_event(&stack.deps, &spec)
        .await
        .map_err(|e| format!("create event: {e}"))?;
    let keys = crate::edge::event_keys_json(&stack.deps, &event_id, created.kid)
        .await
        .map_err(|e| format!("event keys: {e}"))?;
    let siteverify = SiteverifyStub::start(SECRET)
        .await
        .map_err(|e| format!("siteverify stub: {e}"))?;
    let vars = json!({
        "WAITING_ROOM_SIGNING_KEY": hex::encode(key().to_bytes()),
        "TURNSTILE_SECRET": SECRET,
        "TURNSTILE_HOSTNAMES": HOSTNAME,
        "TURNSTILE_SITEVERIFY_URL": siteverify.url(),
        // Every demo buyer comes from loopback: the per-address limit would refuse them.
        "QUEUE_JOINS_PER_IP_PER_MIN": "1000000",
    });
    let edge_url = stack.start_edge_with(&keys, opts.quiet, &vars).await?;
    let admin = stack
        .staff
        .door_token("queue-admin", Role::Admin, &[&event_id], &["*"])
        .await?;
    // Before the sale the line admits one a second: arrivals queue for the on-sale.
    set_rate(&edge_url, &event_id, &admin, 1).await?;
    Ok((event_id, edge_url, siteverify, admin))
}

/// Sets the line's rate (an admin token for the event).
async fn set_rate(
    edge_url: &str,
    event_id: &str,
    admin: &DoorCredential,
    rate: u32,
) -> Result<(), String> {
    let path = format!("/v1/queue/{event_id}/config");
    let mut headers = admin.headers("PUT", &path).to_vec();
    headers.push(("content-type", "application/json".to_owned()));
    let answer = HttpClient::new(edge_url)
        .request(
            "PUT",
            &path,
            &crate::edge::header_refs(&headers),
            json!({"rate_per_sec": rate, "abandon_after_secs": 30})
                .to_string()
                .into_bytes(),
        )
        .await?;
    if answer.status == 200 {
        Ok(())
    } else {
        Err(format!("setting the line's rate: {}", answer.status))
    }
}

enum Bought {
    Won(u32),
    SoldOut,
    Failed(String),
}

async fn checkout(api: &HttpClient, event_id: &str, n: u32, admission: Option<&str>) -> Bought {
    let mut body = functions::testing::sample_checkout_body(event_id, 1 + n % 2, n);
    if let Some(a) = admission {
        body["admission"] = json!(a);
    }
    let key = format!("queued-{n:06}-{}", random_hex(4));
    let ip = format!("10.9.{}.{}", n >> 8 & 255, n & 255);
    let headers = [
        ("idempotency-key", key.as_str()),
        (crate::bots::SOURCE_HEADER, ip.as_str()),
    ];
    match api.post_json("/v1/orders", &headers, &body).await {
        Ok(r) if r.status == 201 => Bought::Won(1 + n % 2),
        Ok(r) if r.problem_type().ends_with(":sold-out") => Bought::SoldOut,
        Ok(r) => Bought::Failed(format!("checkout {}: {}", r.status, r.problem_type())),
        Err(e) => Bought::Failed(e),
    }
}

/// Runs the queued sale.
///
/// # Errors
/// When the stack cannot be set up.
pub async fn run(stack: &mut DevStack, opts: &QueueOptions) -> Result<QueueSummary, String> {
    let started = Instant::now();
    let say = |m: &str| {
        if !opts.quiet {
            eprintln!("[queue] {m}");
        }
    };
    let (event_id, edge_url, siteverify, admin) = open(stack, opts).await?;
    let siteverify = Arc::new(siteverify);
    say(&format!(
        "event {event_id} in queue mode: {} tickets; its line at the edge admits {}/s; {} buyers arrive",
        opts.tickets, opts.rate, opts.buyers
    ));
    let edge = HttpClient::new(&edge_url);
    let api = HttpClient::new(&stack.api_url());
    let mut s = QueueSummary {
        tickets: opts.tickets,
        rate: opts.rate,
        ..QueueSummary::default()
    };

    // 1. Everyone arrives and joins (Turnstile token, device id).
    let joins = join_all(&edge, &event_id, &siteverify, opts).await;
    let mut waiting = Vec::new();
    for j in joins {
        match j {
            Ok(p) if p.n % 10 == 9 => s.walked_away += 1,
            Ok(p) => waiting.push(p),
            Err(e) => {
                s.joins_refused += 1;
                note(&mut s.problems, e);
            }
        }
    }
    // The on-sale: the line moves at the rate checkout can take.
    set_rate(&edge_url, &event_id, &admin, opts.rate).await?;
    say(&format!(
        "{} joined ({} walk away at once); the sale starts: the line admits {}/s, the rest poll their place every 500 ms",
        opts.buyers - s.joins_refused,
        s.walked_away,
        opts.rate
    ));

    // 2. Poll in rounds; whoever is admitted checks out with the admission.
    let deadline =
        Instant::now() + Duration::from_secs(u64::from(opts.buyers / opts.rate.max(1)) + 60);
    let mut spent: Option<String> = None;
    let permits = Arc::new(tokio::sync::Semaphore::new(opts.concurrency.max(1)));
    let mut buying = Buying::new();
    while !waiting.is_empty() && Instant::now() < deadline {
        let round = Instant::now();
        waiting = poll_round(
            &edge,
            &api,
            &event_id,
            std::mem::take(&mut waiting),
            opts.concurrency,
            &permits,
            &mut buying,
            &mut s,
        )
        .await;
        tokio::time::sleep(Duration::from_millis(500).saturating_sub(round.elapsed())).await;
    }
    s.never_admitted = u32::try_from(waiting.len()).unwrap_or(u32::MAX);
    while let Some(done) = buying.join_next().await {
        match done {
            Ok((Bought::Won(q), a)) => {
                s.orders += 1;
                s.sold += q;
                spent.get_or_insert(a);
            }
            Ok((Bought::SoldOut, _)) => s.sold_out += 1,
            Ok((Bought::Failed(e), _)) => {
                s.checkout_errors += 1;
                note(&mut s.problems, e);
            }
            Err(e) => note(&mut s.problems, e.to_string()),
        }
    }

    // 3. The attacks checkout must refuse.
    let none = checkout(&api, &event_id, 900_001, None).await;
    s.no_admission_refused =
        matches!(none, Bought::Failed(ref e) if e.contains("admission-required"));
    if let Some(a) = spent {
        let again = checkout(&api, &event_id, 900_002, Some(&a)).await;
        s.reused_admission_refused =
            matches!(again, Bought::Failed(ref e) if e.contains("admission-used"));
    }

    let stats = edge
        .get(&format!("/v1/queue/{event_id}/stats"), &[])
        .await?;
    let line: Value = stats.json();
    s.arrivals = line["arrivals"].as_u64().unwrap_or(0);
    s.admitted = line["admitted"].as_u64().unwrap_or(0);
    s.abandoned = line["abandoned"].as_u64().unwrap_or(0);
    s.max_wait_ms = line["max_wait_ms"].as_u64().unwrap_or(0);
    s.elapsed = started.elapsed();
    Ok(s)
}

/// Checkouts under way: spawned as places are admitted, so that polling goes on meanwhile.
type Buying = tokio::task::JoinSet<(Bought, String)>;

/// One round: every waiting place polls; the admitted start their checkout (at most
/// `permits` at once) with their admission. Returns the places still waiting.
#[allow(clippy::too_many_arguments)]
async fn poll_round(
    edge: &HttpClient,
    api: &HttpClient,
    event_id: &str,
    places: Vec<Place>,
    concurrency: usize,
    permits: &Arc<tokio::sync::Semaphore>,
    buying: &mut Buying,
    s: &mut QueueSummary,
) -> Vec<Place> {
    let polls = bounded(places, concurrency, |p: Place| {
        let (edge, event_id) = (edge.clone(), event_id.to_owned());
        async move {
            let bearer = format!("Bearer {}", p.token);
            let r = edge
                .get(
                    &format!("/v1/queue/{event_id}/status"),
                    &[("authorization", bearer.as_str())],
                )
                .await;
            (p, r)
        }
    })
    .await;
    let mut waiting = Vec::new();
    for (p, r) in polls {
        match r {
            Ok(r) if r.status == 200 && r.field("state") == "admitted" => {
                let (api, event_id, permits) = (api.clone(), event_id.to_owned(), permits.clone());
                let admission = r.field("admission");
                buying.spawn(async move {
                    let _permit = permits.acquire_owned().await;
                    let b = checkout(&api, &event_id, p.n, Some(&admission)).await;
                    (b, admission)
                });
            }
            Ok(r) if r.status == 200 => waiting.push(p),
            // Skipped (not polled in time on a loaded machine): this buyer has lost the place.
            Ok(r) if r.status == 410 => s.pollers_skipped += 1,
            Ok(r) => {
                note(
                    &mut s.problems,
                    format!("status {}: {}", r.status, r.problem_type()),
                );
                waiting.push(p);
            }
            Err(e) => {
                note(&mut s.problems, e);
                waiting.push(p);
            }
        }
    }
    waiting
}

/// Every buyer joins the line (a Turnstile token from the stub, a device id, an address).
async fn join_all(
    edge: &HttpClient,
    event_id: &str,
    siteverify: &Arc<SiteverifyStub>,
    opts: &QueueOptions,
) -> Vec<Result<Place, String>> {
    bounded((0..opts.buyers).collect(), opts.concurrency, |n| {
        let (edge, event_id, siteverify) = (edge.clone(), event_id.to_owned(), siteverify.clone());
        async move {
            let token = siteverify.issue(HOSTNAME, "queue");
            let ip = format!("10.8.{}.{}", n >> 8 & 255, n & 255);
            let r = edge
                .post_json(
                    &format!("/v1/queue/{event_id}/join"),
                    &[("cf-connecting-ip", ip.as_str())],
                    &json!({"turnstile_token": token, "device_id": format!("demo-device-{n}")}),
                )
                .await;
            match r {
                Ok(r) if r.status == 200 => Ok(Place {
                    n,
                    token: r.field("place"),
                }),
                Ok(r) => Err(format!("join {}: {}", r.status, r.problem_type())),
                Err(e) => Err(e),
            }
        }
    })
    .await
}

fn note(problems: &mut Vec<String>, e: String) {
    if problems.len() < 20 {
        problems.push(e);
    }
}
