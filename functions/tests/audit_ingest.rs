//! audit-ingest against moto: batches built by the edge worker's own audit code
//! (`edge-worker/src/audit.rs`, compiled natively below) and sent as its `EventDoor` sends them
//! (`door.rs::post_batch`): accepted, retried idempotently, tampered or gapped batches refused
//! with nothing written, worker authentication, and the finance/admin report.

#![allow(clippy::unwrap_used, clippy::too_many_lines)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use functions::audit_ingest::{
    self, router, AuditLog, DynamoAuditLog, IngestService, IngestTokens, Stream,
};
use functions::ports::OsRng;
use functions::staff::{
    create_signing_key, DynamoDirectory, KmsSigner, MemberSpec, Purpose, Role, Settings,
    StaffService, TokenRequest,
};
use functions::testing::{TestClock, TestEnv};
use tower::ServiceExt as _;

// The edge worker's own modules, unchanged: its entries, canonical form and chain.
#[allow(dead_code, unused_imports, clippy::all, clippy::pedantic)]
#[path = "../../edge-worker/src/api.rs"]
mod api;
#[allow(dead_code, unused_imports, clippy::all, clippy::pedantic)]
#[path = "../../edge-worker/src/audit.rs"]
mod audit;

const NOW: u64 = 1_800_000_000;
const TOKEN: &str = "worker-token-0123456789abcdefghijklmnopqrstuvwxyz";
const EVENT: &str = "evt-a";

struct World {
    env: TestEnv,
    log: Arc<DynamoAuditLog>,
    service: IngestService,
    staff: StaffService,
}

async fn world() -> World {
    let env = TestEnv::new().await;
    let log = Arc::new(DynamoAuditLog::new(
        env.clients.dynamodb.clone(),
        env.config.table_name.clone(),
    ));
    let clock = Arc::new(TestClock::new(NOW));
    let key_id = create_signing_key(&env.clients.kms, "staff").await.unwrap();
    let staff = StaffService::new(
        Settings::default(),
        Arc::new(
            KmsSigner::load(env.clients.kms.clone(), &key_id)
                .await
                .unwrap(),
        ),
        vec![],
        Arc::new(DynamoDirectory::new(
            env.clients.dynamodb.clone(),
            env.config.table_name.clone(),
        )),
        log.clone(),
        clock.clone(),
        Arc::new(OsRng),
    )
    .unwrap();
    let service = IngestService {
        log: log.clone(),
        tokens: IngestTokens::from_hex_list(&IngestTokens::hash_hex(TOKEN)).unwrap(),
        heads: None,
        clock,
        console: Some(staff.console.clone()),
    };
    World {
        env,
        log,
        service,
        staff,
    }
}

/// The door's chain of `n` attempts, built by the worker's code: (seq, canonical, hash hex).
fn door_chain(event: &str, n: u64) -> Vec<(u64, String, String)> {
    let mut previous = audit::GENESIS;
    (1..=n)
        .map(|seq| {
            let entry = audit::AuditEntry {
                at_ms: 1_800_000_000_000 + i64::try_from(seq).unwrap() * 1000,
                detail: (seq % 3 == 0).then(|| "stale_proof".to_owned()),
                event_id: event.to_owned(),
                gate_id: if seq % 2 == 0 { "B" } else { "A" }.to_owned(),
                gps: (seq % 2 == 1).then_some(api::Gps {
                    acc_m: Some(8),
                    lat_e6: -6_175_392,
                    lon_e6: 106_827_153,
                }),
                // The offline one was synced late: the ingest takes the worker's flag too.
                late: seq == 4,
                offline: seq == 4,
                result: if seq % 3 == 0 {
                    api::ScanResult::Stale
                } else {
                    api::ScanResult::Admitted
                },
                role: Some("staff".to_owned()),
                scan_id: format!("scan-{seq}"),
                seq,
                staff_id: Some("staff-7".to_owned()),
                ticket_id: Some(format!("{seq:032x}")),
            };
            let canonical = entry.canonical();
            previous = audit::chain_hash(&previous, &canonical);
            (
                seq,
                String::from_utf8(canonical).unwrap(),
                hex::encode(previous),
            )
        })
        .collect()
}

/// The body `EventDoor::alarm` builds for entries `from..=to`.
fn batch_body(event: &str, chain: &[(u64, String, String)], from: u64, to: u64) -> String {
    let entries: Vec<serde_json::Value> = chain
        .iter()
        .filter(|(seq, _, _)| (from..=to).contains(seq))
        .map(|(seq, c, h)| serde_json::json!({"seq": seq, "hash": h, "canonical": c}))
        .collect();
    serde_json::json!({"event_id": event, "entries": entries}).to_string()
}

async fn post(
    w: &World,
    token: Option<&str>,
    idempotency_key: Option<String>,
    body: String,
) -> (StatusCode, String, serde_json::Value) {
    let mut req = Request::builder()
        .method("POST")
        .uri("/v1/audit/batches")
        .header("content-type", "application/json");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    if let Some(k) = idempotency_key {
        req = req.header("idempotency-key", k);
    }
    let res = router(w.service.clone())
        .oneshot(req.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let ctype = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 22)
        .await
        .unwrap();
    (
        status,
        ctype,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

async fn send(
    w: &World,
    chain: &[(u64, String, String)],
    from: u64,
    to: u64,
) -> (StatusCode, String, serde_json::Value) {
    post(
        w,
        Some(TOKEN),
        Some(format!("audit:{EVENT}:{from}")),
        batch_body(EVENT, chain, from, to),
    )
    .await
}

async fn stored(w: &World) -> Vec<audit_ingest::Link> {
    w.log
        .range(&Stream::Door(EVENT.into()), 0, 500)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_are_verified_stored_once_and_refused_when_broken() {
    let w = world().await;
    let chain = door_chain(EVENT, 12);

    // Accepted, in two batches.
    let (status, _, out) = send(&w, &chain, 1, 3).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(
        (out["stored"].as_u64(), out["head_seq"].as_u64()),
        (Some(3), Some(3))
    );
    let (status, _, out) = send(&w, &chain, 4, 6).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(out["head_hash"], chain[5].2);
    let items_after_6 = w.env.raw_items().await.len();

    // A retried batch (the worker's cursor did not move) writes nothing; an overlapping one
    // writes only what is new.
    let (status, _, out) = send(&w, &chain, 4, 6).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (out["stored"].as_u64(), out["already_stored"].as_u64()),
        (Some(0), Some(3))
    );
    assert_eq!(w.env.raw_items().await.len(), items_after_6);
    let (status, _, out) = send(&w, &chain, 5, 8).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (out["stored"].as_u64(), out["already_stored"].as_u64()),
        (Some(2), Some(2))
    );

    // Five concurrent deliveries of the same batch: every one answers 200, stored once.
    let mut tasks = Vec::new();
    for _ in 0..5 {
        let service = w.service.clone();
        let body = batch_body(EVENT, &chain, 9, 10);
        tasks.push(tokio::spawn(async move {
            let req = Request::builder()
                .method("POST")
                .uri("/v1/audit/batches")
                .header("content-type", "application/json")
                .header("authorization", format!("Bearer {TOKEN}"))
                .body(Body::from(body))
                .unwrap();
            let res = router(service).oneshot(req).await.unwrap();
            let status = res.status();
            let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
                .await
                .unwrap();
            let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            (status, v["stored"].as_u64().unwrap_or(99))
        }));
    }
    let mut total = 0;
    for t in tasks {
        let (status, n) = t.await.unwrap();
        assert_eq!(status, StatusCode::OK);
        total += n;
    }
    assert_eq!(total, 2, "two new entries, written once");

    // What is stored is the worker's chain, byte for byte: the worker's verifier agrees.
    let links = stored(&w).await;
    assert_eq!(links.len(), 10);
    let as_worker: Vec<audit::StoredLink> = links
        .iter()
        .map(|l| audit::StoredLink {
            seq: l.seq,
            entry: l.canonical.clone(),
            hash_hex: hex::encode(l.hash),
        })
        .collect();
    let report = audit::verify_chain(&as_worker);
    assert!(report.valid && report.checked == 10, "{report:?}");
    assert_eq!(report.head, chain[9].2);
    let items_after_10 = w.env.raw_items().await.len();

    // Tampered: entry 12's text altered (admitted -> its hash unchanged): refused, nothing stored.
    let mut tampered = chain.clone();
    tampered[11].1 = tampered[11]
        .1
        .replace("\"gate_id\":\"B\"", "\"gate_id\":\"C\"");
    let (status, ctype, problem) = send(&w, &tampered, 11, 12).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert_eq!(ctype, "application/problem+json");
    assert!(
        problem["detail"].as_str().unwrap().contains("seq 12"),
        "{problem}"
    );
    // Tampered first entry: it no longer continues the stored head.
    let mut tampered = chain.clone();
    tampered[10].1 = tampered[10].1.replace("scan-11", "scan-99");
    let (status, _, problem) = send(&w, &tampered, 11, 12).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        problem["detail"].as_str().unwrap().contains("seq 11"),
        "{problem}"
    );
    // A rewritten history (entry 5 altered and every hash recomputed): a fork, refused.
    let mut rewritten = chain.clone();
    rewritten[4].1 = rewritten[4]
        .1
        .replace("\"result\":\"admitted\"", "\"result\":\"invalid\"");
    let mut previous: [u8; 32] = hex::decode(&rewritten[3].2).unwrap().try_into().unwrap();
    for link in rewritten.iter_mut().skip(4) {
        previous = audit::chain_hash(&previous, link.1.as_bytes());
        link.2 = hex::encode(previous);
    }
    let (status, _, problem) = send(&w, &rewritten, 5, 12).await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("seq 5"),
        "{problem}"
    );
    // A gap: the batch starts after the stored head + 1.
    let (status, ctype, problem) = send(&w, &chain, 12, 12).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(ctype, "application/problem+json");
    assert!(
        problem["detail"].as_str().unwrap().contains("gap"),
        "{problem}"
    );
    // Another event's entries under this event: refused.
    let other = door_chain("evt-b", 11);
    let (status, _, _) = post(&w, Some(TOKEN), None, batch_body(EVENT, &other, 11, 11)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        w.env.raw_items().await.len(),
        items_after_10,
        "nothing was written"
    );

    // The real continuation is then accepted.
    let (status, _, out) = send(&w, &chain, 11, 12).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(out["head_hash"], chain[11].2);
    let check = audit_ingest::verify_stream(w.log.as_ref(), &Stream::Door(EVENT.into()), 1000)
        .await
        .unwrap();
    assert!(check.valid && check.checked == 12);
}

fn with_event_id(body: &str, event: &str) -> String {
    let mut v: serde_json::Value = serde_json::from_str(body).unwrap();
    v["event_id"] = serde_json::Value::String(event.to_owned());
    v.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_worker_may_post_and_bad_input_is_refused() {
    let w = world().await;
    let chain = door_chain(EVENT, 3);
    let body = batch_body(EVENT, &chain, 1, 3);
    for token in [None, Some("wrong-token"), Some("")] {
        let (status, ctype, _) = post(&w, token, None, body.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(ctype, "application/problem+json");
    }
    let bad: Vec<(String, StatusCode)> = vec![
        ("{not json".into(), StatusCode::BAD_REQUEST),
        (r#"{"event_id":"evt-a"}"#.into(), StatusCode::BAD_REQUEST),
        (
            r#"{"event_id":"evt-a","entries":[]}"#.into(),
            StatusCode::BAD_REQUEST,
        ),
        (with_event_id(&body, "evt a"), StatusCode::BAD_REQUEST),
        (
            body.replace("\"seq\":2", "\"seq\":7"),
            StatusCode::BAD_REQUEST,
        ),
        (
            body.replace("\"entries\"", "\"extra\":1,\"entries\""),
            StatusCode::BAD_REQUEST,
        ),
        (
            batch_body(EVENT, &door_chain(EVENT, 101), 1, 101),
            StatusCode::BAD_REQUEST,
        ),
        ("x".repeat(600 * 1024), StatusCode::PAYLOAD_TOO_LARGE),
    ];
    for (b, want) in bad {
        let (status, ctype, problem) = post(&w, Some(TOKEN), None, b).await;
        assert_eq!(status, want, "{problem}");
        assert_eq!(ctype, "application/problem+json");
    }
    // The idempotency key must name this batch.
    let (status, _, _) = post(&w, Some(TOKEN), Some("audit:evt-a:2".into()), body.clone()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(stored(&w).await.is_empty(), "nothing was written");
    let (status, _, _) = post(&w, Some(TOKEN), Some("audit:evt-a:1".into()), body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stored(&w).await.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finance_and_admins_read_the_report_of_their_events() {
    let w = world().await;
    let chain = door_chain(EVENT, 6);
    assert_eq!(send(&w, &chain, 1, 6).await.0, StatusCode::OK);
    let member = |role, events: &[&str], gates: &[&str]| MemberSpec {
        role,
        events: events.iter().map(|s| (*s).to_owned()).collect(),
        gates: gates.iter().map(|s| (*s).to_owned()).collect(),
        active: true,
    };
    let s = &w.staff;
    s.put_member("cli:ops", "fin-a", &member(Role::Finance, &[EVENT], &[]))
        .await
        .unwrap();
    s.put_member("cli:ops", "fin-b", &member(Role::Finance, &["evt-b"], &[]))
        .await
        .unwrap();
    s.put_member("cli:ops", "door-a", &member(Role::Staff, &[EVENT], &["A"]))
        .await
        .unwrap();
    let token = |id: &'static str, purpose| async move {
        let request = TokenRequest {
            purpose,
            events: None,
            gates: None,
            ttl_secs: None,
            jwk: None,
        };
        s.issue_token("cli:ops", id, &request).await.unwrap().token
    };
    let fin_a = token("fin-a", Purpose::Console).await;
    let fin_b = token("fin-b", Purpose::Console).await;
    let door = token("door-a", Purpose::Door).await;

    let get = |token: String, query: &'static str| {
        let service = w.service.clone();
        async move {
            let req = Request::builder()
                .uri(format!("/v1/audit/events/{EVENT}/entries{query}"))
                .header("authorization", format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap();
            let res = router(service).oneshot(req).await.unwrap();
            let status = res.status();
            let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
                .await
                .unwrap();
            (
                status,
                serde_json::from_slice::<serde_json::Value>(&bytes).unwrap_or_default(),
            )
        }
    };
    let (status, page) = get(fin_a.clone(), "").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["entries"].as_array().unwrap().len(), 6);
    assert_eq!(page["chain"]["valid"], true);
    assert_eq!(page["results"]["admitted"], 4);
    assert_eq!(page["results"]["stale"], 2);
    let (status, page) = get(fin_a.clone(), "?after=4&limit=1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["entries"][0]["seq"], 5);
    assert_eq!(page["chain"]["valid"], true);
    assert_eq!(page["next_after"], 5);
    assert_eq!(get(fin_a, "?limit=x").await.0, StatusCode::BAD_REQUEST);
    assert_eq!(get(fin_b, "").await.0, StatusCode::FORBIDDEN);
    assert_eq!(get(door, "").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(get("x.y.z".into(), "").await.0, StatusCode::UNAUTHORIZED);
}

fn fixture(name: &str, replace: &str, with: &str) -> Request<Body> {
    let path = format!("{}/../events/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path)
        .unwrap()
        .replace(replace, with);
    functions::http::request_from_event(&text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_fixtures_are_accepted() {
    let w = world().await;
    let req = fixture(
        "audit-post-batch.json",
        "REPLACE_WITH_AUDIT_INGEST_TOKEN",
        TOKEN,
    );
    let res = router(w.service.clone()).oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(stored(&w).await.len(), 2);
    w.staff
        .put_member(
            "cli:ops",
            "fin-a",
            &MemberSpec {
                role: Role::Finance,
                events: vec![EVENT.to_owned()],
                gates: vec![],
                active: true,
            },
        )
        .await
        .unwrap();
    let token = w
        .staff
        .issue_token(
            "cli:ops",
            "fin-a",
            &TokenRequest {
                purpose: Purpose::Console,
                events: None,
                gates: None,
                ttl_secs: None,
                jwk: None,
            },
        )
        .await
        .unwrap()
        .token;
    let req = fixture(
        "audit-get-entries.json",
        "REPLACE_WITH_FINANCE_CONSOLE_TOKEN",
        &token,
    );
    let res = router(w.service.clone()).oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    let page: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(page["chain"]["valid"], true);
    assert_eq!(page["results"]["already_admitted"], 1);
}

#[allow(dead_code, unused_imports, clippy::all, clippy::pedantic)]
#[path = "../../edge-worker/src/audit_forward.rs"]
mod audit_forward;

/// Per-event tokens and signed heads ("The door" issue, item 9), made by the worker's own code
/// (`edge-worker/src/audit_forward.rs`): accepted for their event; another event's token, the
/// old shared token, a missing or wrong head (a token holder planting a chain) are 401 and
/// nothing is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_event_tokens_and_signed_heads_are_required_with_the_head_key() {
    let mut w = world().await;
    let key = ticket::p256::ecdsa::SigningKey::from_slice(&[5u8; 32]).unwrap();
    let public = hex::encode(key.verifying_key().to_encoded_point(false).as_bytes());
    w.service.heads = Some(functions::audit_heads::HeadKey::from_hex(&public).unwrap());
    let chain = door_chain(EVENT, 3);
    let signed = |event_for_head: &str, seq: u64| {
        let mut body: serde_json::Value =
            serde_json::from_str(&batch_body(EVENT, &chain, 1, 3)).unwrap();
        let hash = chain[usize::try_from(seq).unwrap() - 1].2.clone();
        body["head"] = audit_forward::head(&key, event_for_head, seq, &hash);
        body.to_string()
    };
    let idem = || Some(format!("audit:{EVENT}:1"));
    let token_a = audit_forward::event_token(&key, EVENT);
    let token_b = audit_forward::event_token(&key, "evt-b");

    let refused = [
        // Event B's token on event A's chain.
        post(&w, Some(&token_b), idem(), signed(EVENT, 3)).await,
        // The old shared token.
        post(&w, Some(TOKEN), idem(), signed(EVENT, 3)).await,
        // The right token, no head: a token holder planting a chain.
        post(&w, Some(&token_a), idem(), batch_body(EVENT, &chain, 1, 3)).await,
        // A head signed for another position, or for another event.
        post(&w, Some(&token_a), idem(), signed(EVENT, 2)).await,
        post(&w, Some(&token_a), idem(), signed("evt-b", 3)).await,
        // A token forged without the key.
        post(&w, Some("ev1.AAAA"), idem(), signed(EVENT, 3)).await,
    ];
    for (i, (status, _, out)) in refused.iter().enumerate() {
        assert_eq!(*status, StatusCode::UNAUTHORIZED, "case {i}: {out}");
    }
    assert!(stored(&w).await.is_empty(), "nothing stored");

    let (status, _, out) = post(&w, Some(&token_a), idem(), signed(EVENT, 3)).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(stored(&w).await.len(), 3);
}
