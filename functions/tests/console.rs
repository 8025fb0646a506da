//! console: every route per role against moto, with console tokens issued by the staff
//! service (KMS ECC key) as the staff tests issue them: finance reads reports of its events and
//! nothing else (no staff management, no scanning, no personal data), door staff never reach
//! the console, an admin of event A cannot act on event B, bad input changes nothing, and each
//! action (or refusal) is a link of the staff audit chain.

#![allow(clippy::unwrap_used, clippy::too_many_lines)]

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use functions::audit_ingest::{self, next_link, AuditLog, DynamoAuditLog, Stream};
use functions::console::{router, ConsoleService, DynamoConsoleStore};
use functions::staff::{MemberSpec, Purpose, Role, StaffService, TokenRequest};
use functions::testing::{at_once, sample_event_spec, TestEnv};
use tower::ServiceExt as _;

#[path = "common/staff_signin.rs"]
mod common;

use common::NOW; // 1_800_000_000: 2027-01-15T08:00:00Z
const EVT_A: &str = "evt-a";
const EVT_B: &str = "evt-b";
/// Personal data planted in the stored orders: no report may carry it.
const BUYER_EMAIL: &[u8] = b"siti.rahma@example.co.id";
const CUSTOMER: &str = "cus_private_0001";

struct World {
    env: TestEnv,
    staff: StaffService,
    console: ConsoleService,
    log: Arc<DynamoAuditLog>,
    ops: String,
    admin_a: String,
    finance_a: String,
    door_a: String,
}

fn spec(role: Role, events: &[&str], gates: &[&str]) -> MemberSpec {
    MemberSpec {
        role,
        events: events.iter().map(|s| (*s).to_owned()).collect(),
        gates: gates.iter().map(|s| (*s).to_owned()).collect(),
        active: true,
    }
}

async fn token(staff: &StaffService, id: &str, purpose: Purpose) -> String {
    staff
        .issue_token(
            "cli:ops",
            id,
            &TokenRequest {
                purpose,
                events: None,
                gates: None,
                ttl_secs: None,
                jwk: None,
            },
        )
        .await
        .unwrap()
        .token
}

async fn world() -> World {
    // The staff service on moto with the bootstrap admin `ops-1` (tests/common/staff_signin.rs).
    let common::World {
        env,
        service: staff,
        clock,
        log,
        admin_token: ops,
    } = common::world().await;
    for (id, s) in [
        ("adm-a", spec(Role::Admin, &[EVT_A], &["*"])),
        ("fin-a", spec(Role::Finance, &[EVT_A], &[])),
        ("door-a", spec(Role::Staff, &[EVT_A], &["A"])),
    ] {
        staff.put_member("cli:ops", id, &s).await.unwrap();
    }
    let mut deps = env.deps();
    deps.clock = clock.clone();
    for e in [EVT_A, EVT_B] {
        functions::admin::create_event(&deps, &sample_event_spec(e, 100, NOW))
            .await
            .unwrap();
    }
    let console = ConsoleService {
        console: staff.console.clone(),
        log: log.clone(),
        store: Arc::new(DynamoConsoleStore::new(
            env.clients.dynamodb.clone(),
            env.config.table_name.clone(),
        )),
        deps,
    };
    World {
        ops,
        admin_a: token(&staff, "adm-a", Purpose::Console).await,
        finance_a: token(&staff, "fin-a", Purpose::Console).await,
        door_a: token(&staff, "door-a", Purpose::Door).await,
        env,
        staff,
        console,
        log,
    }
}

struct Answer {
    status: StatusCode,
    ctype: String,
    text: String,
}

impl Answer {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.text).unwrap_or(serde_json::Value::Null)
    }
}

async fn call_router(
    app: axum::Router,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Answer {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let req = req
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_owned())))
        .unwrap();
    let res = app.oneshot(req).await.unwrap();
    let status = res.status();
    let ctype = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = axum::body::to_bytes(res.into_body(), 4 << 20)
        .await
        .unwrap();
    Answer {
        status,
        ctype,
        text: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

async fn call(
    w: &World,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Answer {
    call_router(router(w.console.clone()), method, path, token, body).await
}

async fn staff_call(
    w: &World,
    method: &str,
    path: &str,
    token: &str,
    body: Option<&str>,
) -> Answer {
    call_router(
        functions::staff::router(w.staff.clone()),
        method,
        path,
        Some(token),
        body,
    )
    .await
}

/// The staff chain's head seq (0 when empty).
async fn staff_head(w: &World) -> u64 {
    w.log
        .last(&Stream::Staff)
        .await
        .unwrap()
        .map_or(0, |l| l.seq)
}

async fn last_record(w: &World) -> serde_json::Value {
    let l = w.log.last(&Stream::Staff).await.unwrap().unwrap();
    serde_json::from_str(&l.canonical).unwrap()
}

/// An order item as the store writes it (functions/src/store/orders.rs), personal data planted.
async fn put_order(
    w: &World,
    order_id: &str,
    event: &str,
    extra: &[(&str, serde_json::Value)],
    status: &str,
) {
    let s = |v: &str| AttributeValue::S(v.to_owned());
    let n = |v: u64| AttributeValue::N(v.to_string());
    let mut item: HashMap<String, AttributeValue> = HashMap::from([
        ("pk".into(), s(&format!("ORDER#{order_id}"))),
        ("sk".into(), s("ORDER")),
        ("type".into(), s("order")),
        ("order_id".into(), s(order_id)),
        ("event_id".into(), s(event)),
        ("tier_id".into(), s("ga")),
        ("quantity".into(), n(2)),
        ("unit_price_minor".into(), n(150_000)),
        ("amount_minor".into(), n(300_000)),
        ("currency".into(), s("IDR")),
        ("status".into(), s(status)),
        ("customer_id".into(), s(CUSTOMER)),
        ("created_at".into(), n(NOW - 7200)),
        ("expires_at".into(), n(NOW - 6300)),
        ("buyer_sealed".into(), AttributeValue::B(BUYER_EMAIL.into())),
        (
            "access_token_hash".into(),
            AttributeValue::B(vec![1; 32].into()),
        ),
        (
            "access_token_sealed".into(),
            AttributeValue::B(BUYER_EMAIL.into()),
        ),
        (
            "consent".into(),
            s(r#"{"privacy_policy_version":"2026-01","accepted_at":0,"marketing":false}"#),
        ),
        ("payment_provider".into(), s("stripe")),
    ]);
    for (k, v) in extra {
        item.insert((*k).to_owned(), s(&v.to_string()));
    }
    w.env
        .clients
        .dynamodb
        .put_item()
        .table_name(&w.env.config.table_name)
        .set_item(Some(item))
        .send()
        .await
        .unwrap();
}

fn paid(provider: &str, reference: &str, amount: u64, at: u64) -> serde_json::Value {
    serde_json::json!({"provider": provider, "provider_ref": reference, "amount_minor": amount, "currency": "IDR", "paid_at": at})
}

/// Event A: a minted stripe order, a refunded xendit order, a late (refund due) midtrans
/// payment, an unpaid reservation; event B: one paid order.
async fn seed_orders(w: &World) {
    put_order(
        w,
        "ord-1",
        EVT_A,
        &[("paid", paid("stripe", "cs_test_1", 300_000, NOW - 3600))],
        "MINTED",
    )
    .await;
    put_order(
        w,
        "ord-2",
        EVT_A,
        &[
            ("paid", paid("xendit", "inv-2", 300_000, NOW - 3000)),
            ("reversal", serde_json::json!({"kind": "refunded", "provider": "xendit", "provider_ref": "inv-2", "amount_minor": 300_000, "currency": "IDR", "at": NOW - 60})),
        ],
        "REFUNDED",
    )
    .await;
    put_order(
        w,
        "ord-3",
        EVT_A,
        &[("refund_due", paid("midtrans", "mt-3", 300_000, NOW - 100))],
        "EXPIRED",
    )
    .await;
    put_order(w, "ord-4", EVT_A, &[], "RESERVED").await;
    put_order(
        w,
        "ord-b",
        EVT_B,
        &[("paid", paid("stripe", "cs_test_b", 300_000, NOW - 3600))],
        "PAID",
    )
    .await;
}

fn no_personal_data(text: &str) {
    assert!(!text.contains("siti"), "personal data in {text}");
    assert!(!text.contains(CUSTOMER), "customer id in {text}");
    assert!(!text.contains("buyer"), "buyer field in {text}");
}

async fn revoke_messages(w: &World) -> Vec<String> {
    w.env
        .peek_all_messages()
        .await
        .into_iter()
        .filter(|m| m.contains("\"reason\""))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finance_reads_sales_refunds_and_reconciliation_without_personal_data() {
    let w = world().await;
    seed_orders(&w).await;
    let before = staff_head(&w).await;

    let a = call(
        &w,
        "GET",
        "/v1/console/events/evt-a/sales",
        Some(&w.finance_a),
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    no_personal_data(&a.text);
    let r = a.json();
    assert_eq!(r["total"]["orders"], 2);
    assert_eq!(r["total"]["tickets"], 4);
    assert_eq!(r["total"]["gross_minor"], 600_000);
    assert_eq!(r["total"]["refunded_minor"], 300_000);
    assert_eq!(r["total"]["net_minor"], 300_000);
    assert_eq!(r["total"]["currency"], "IDR");
    assert_eq!(r["by_provider"]["stripe"]["gross_minor"], 300_000);
    assert_eq!(r["by_provider"]["xendit"]["net_minor"], 0);
    assert_eq!(r["by_tier"]["ga"]["orders"], 2);
    // 2027-01-15T07:00Z is 14:00 in Jakarta, the event's zone.
    assert_eq!(r["by_day"]["2027-01-15"]["orders"], 2);
    assert_eq!(r["time_zone"], "Asia/Jakarta");
    assert_eq!(last_record(&w).await["action"], "console_report_read");
    assert_eq!(last_record(&w).await["actor"], "fin-a");

    let a = call(
        &w,
        "GET",
        "/v1/console/events/evt-a/refunds",
        Some(&w.finance_a),
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    no_personal_data(&a.text);
    let r = a.json();
    assert_eq!(r["refunds"][0]["provider_ref"], "inv-2");
    assert_eq!(r["refunds_due"][0]["order_id"], "ord-3");
    assert_eq!(r["due_minor"]["IDR"], 300_000);

    let a = call(
        &w,
        "GET",
        "/v1/console/events/evt-a/reconciliation/xendit",
        Some(&w.finance_a),
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert!(a.ctype.starts_with("text/csv"), "{}", a.ctype);
    no_personal_data(&a.text);
    let rows: Vec<&str> = a.text.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(rows.len(), 2, "{}", a.text);
    assert!(
        rows[1].starts_with("ord-2,ga,2,xendit,inv-2,"),
        "{}",
        rows[1]
    );
    assert!(
        !a.text.contains("cs_test"),
        "another provider's payment: {}",
        a.text
    );
    let a = call(
        &w,
        "GET",
        "/v1/console/events/evt-a/reconciliation/midtrans",
        Some(&w.finance_a),
        None,
    )
    .await;
    assert!(a.text.contains("ord-3,ga,2,midtrans,mt-3,"), "{}", a.text);

    let a = call(
        &w,
        "GET",
        "/v1/console/events/evt-a",
        Some(&w.finance_a),
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.json()["tiers"][0]["price_minor"], 150_000);

    // One record per read, the chain intact.
    assert_eq!(staff_head(&w).await, before + 5);
    let chain = audit_ingest::verify_stream(w.log.as_ref(), &Stream::Staff, 10_000)
        .await
        .unwrap();
    assert!(chain.valid, "{chain:?}");

    // Finance of A reads nothing of B.
    let a = call(
        &w,
        "GET",
        "/v1/console/events/evt-b/sales",
        Some(&w.finance_a),
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.text);
    assert!(!a.text.contains("cs_test_b"));
    assert_eq!(last_record(&w).await["action"], "console_refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finance_cannot_reach_admin_routes_staff_management_or_scanning() {
    let w = world().await;
    seed_orders(&w).await;
    let t = w.finance_a.clone();
    let spec = serde_json::to_string(&sample_event_spec("evt-new", 10, NOW)).unwrap();
    let before = staff_head(&w).await;
    for (method, path, body) in [
        ("POST", "/v1/console/events", Some(spec.as_str())),
        (
            "PUT",
            "/v1/console/events/evt-a/on-sale",
            Some(r#"{"on_sale":false}"#),
        ),
        (
            "POST",
            "/v1/console/events/evt-a/orders/ord-2/revocation",
            Some("{}"),
        ),
        ("GET", "/v1/console/events/evt-a/scan-audit", None),
    ] {
        let a = call(&w, method, path, Some(&t), body).await;
        assert_eq!(
            a.status,
            StatusCode::FORBIDDEN,
            "{method} {path}: {}",
            a.text
        );
        assert!(a.ctype.starts_with("application/problem+json"));
        assert_eq!(last_record(&w).await["action"], "console_refused", "{path}");
    }
    assert_eq!(staff_head(&w).await, before + 4, "each refusal recorded");
    // Nothing changed.
    let deps = &w.console.deps;
    assert!(deps.events.get_event("evt-new").await.unwrap().is_none());
    assert!(deps.events.get_event(EVT_A).await.unwrap().unwrap().on_sale);
    assert!(revoke_messages(&w).await.is_empty());
    // Staff management (the staff function's routes) refuses finance too.
    let a = staff_call(
        &w,
        "PUT",
        "/v1/staff/members/x-1",
        &t,
        Some(r#"{"role":"staff","events":["evt-a"],"gates":["A"]}"#),
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.text);
    let a = staff_call(&w, "GET", "/v1/staff/members/door-a", &t, None).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.text);
    let a = staff_call(
        &w,
        "POST",
        "/v1/staff/members/door-a/password-setup",
        &t,
        Some("{}"),
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.text);
    // Scanning: finance is never issued a door token.
    let refused = w
        .staff
        .issue_token(
            "cli:ops",
            "fin-a",
            &TokenRequest {
                purpose: Purpose::Door,
                events: None,
                gates: None,
                ttl_secs: None,
                jwk: None,
            },
        )
        .await;
    assert!(refused.is_err(), "{refused:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn door_staff_cannot_reach_the_console() {
    let w = world().await;
    seed_orders(&w).await;
    let paths = [
        ("GET", "/v1/console/session", None),
        ("GET", "/v1/console/events/evt-a", None),
        ("GET", "/v1/console/events/evt-a/sales", None),
        ("GET", "/v1/console/events/evt-a/refunds", None),
        (
            "GET",
            "/v1/console/events/evt-a/reconciliation/stripe",
            None,
        ),
        (
            "PUT",
            "/v1/console/events/evt-a/on-sale",
            Some(r#"{"on_sale":false}"#),
        ),
        ("GET", "/v1/console/events/evt-a/scan-audit", None),
    ];
    // A door token (the scanner's), an admin's door token, no token, garbage.
    let admin_door = token(&w.staff, "adm-a", Purpose::Door).await;
    let before = staff_head(&w).await;
    for t in [
        Some(w.door_a.as_str()),
        Some(admin_door.as_str()),
        None,
        Some("not.a.token"),
    ] {
        for (method, path, body) in paths {
            let a = call(&w, method, path, t, body).await;
            assert_eq!(
                a.status,
                StatusCode::UNAUTHORIZED,
                "{method} {path}: {}",
                a.text
            );
        }
    }
    // A staff member can hold no console token at all.
    let refused = w
        .staff
        .issue_token(
            "cli:ops",
            "door-a",
            &TokenRequest {
                purpose: Purpose::Console,
                events: None,
                gates: None,
                ttl_secs: None,
                jwk: None,
            },
        )
        .await;
    assert!(refused.is_err());
    assert!(
        w.console
            .deps
            .events
            .get_event(EVT_A)
            .await
            .unwrap()
            .unwrap()
            .on_sale
    );
    assert_eq!(
        staff_head(&w).await,
        before,
        "unauthenticated calls write nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_of_event_a_cannot_act_on_event_b() {
    let w = world().await;
    seed_orders(&w).await;
    put_order(&w, "ord-b2", EVT_B, &[("paid", paid("stripe", "cs_b2", 1, NOW)), ("reversal", serde_json::json!({"kind": "refunded", "provider": "stripe", "provider_ref": "cs_b2", "amount_minor": 1, "currency": "IDR", "at": NOW}))], "REFUNDED").await;
    let t = w.admin_a.clone();
    let spec = serde_json::to_string(&sample_event_spec("evt-new", 10, NOW)).unwrap();
    for (method, path, body) in [
        ("GET", "/v1/console/events/evt-b", None),
        ("GET", "/v1/console/events/evt-b/sales", None),
        ("GET", "/v1/console/events/evt-b/refunds", None),
        (
            "GET",
            "/v1/console/events/evt-b/reconciliation/stripe",
            None,
        ),
        (
            "PUT",
            "/v1/console/events/evt-b/on-sale",
            Some(r#"{"on_sale":false}"#),
        ),
        (
            "POST",
            "/v1/console/events/evt-b/orders/ord-b2/revocation",
            Some("{}"),
        ),
        ("GET", "/v1/console/events/evt-b/scan-audit", None),
        ("POST", "/v1/console/events", Some(spec.as_str())),
        // Event A's route naming event B's order: not found, not revoked.
        (
            "POST",
            "/v1/console/events/evt-a/orders/ord-b2/revocation",
            Some("{}"),
        ),
    ] {
        let a = call(&w, method, path, Some(&t), body).await;
        let want = if path.starts_with("/v1/console/events/evt-a/") {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(a.status, want, "{method} {path}: {}", a.text);
        assert!(!a.text.contains("cs_test_b"));
    }
    assert!(
        w.console
            .deps
            .events
            .get_event(EVT_B)
            .await
            .unwrap()
            .unwrap()
            .on_sale
    );
    assert!(w
        .console
        .deps
        .events
        .get_event("evt-new")
        .await
        .unwrap()
        .is_none());
    assert!(revoke_messages(&w).await.is_empty());
    // Nor manage event B's staff through the staff routes.
    let a = staff_call(
        &w,
        "PUT",
        "/v1/staff/members/door-b",
        &t,
        Some(r#"{"role":"staff","events":["evt-b"],"gates":["A"]}"#),
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_create_events_switch_sales_resend_revocations_and_read_the_verified_scan_audit() {
    let w = world().await;
    seed_orders(&w).await;
    // Create (an admin of every event).
    let spec = serde_json::to_string(&sample_event_spec("evt-new", 10, NOW)).unwrap();
    let a = call(&w, "POST", "/v1/console/events", Some(&w.ops), Some(&spec)).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    assert!(a.json()["audit_seq"].as_u64().unwrap() > 0);
    let created = w
        .console
        .deps
        .events
        .get_event("evt-new")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(created.tiers[0].capacity, 10);
    assert_eq!(last_record(&w).await["action"], "console_event_created");
    // Again: a conflict, nothing doubled.
    let a = call(&w, "POST", "/v1/console/events", Some(&w.ops), Some(&spec)).await;
    assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.text);

    // The on-sale switch, by event A's admin, several at once: one conditional write each,
    // every one recorded, the chain intact.
    let before = staff_head(&w).await;
    let app = router(w.console.clone());
    let t = w.admin_a.clone();
    let results = at_once(6, |_| {
        let app = app.clone();
        let t = t.clone();
        async move {
            call_router(
                app,
                "PUT",
                "/v1/console/events/evt-a/on-sale",
                Some(&t),
                Some(r#"{"on_sale":false}"#),
            )
            .await
            .status
        }
    })
    .await;
    assert!(results.iter().all(|s| *s == StatusCode::OK), "{results:?}");
    assert!(
        !w.console
            .deps
            .events
            .get_event(EVT_A)
            .await
            .unwrap()
            .unwrap()
            .on_sale
    );
    assert_eq!(staff_head(&w).await, before + 6);
    assert!(
        audit_ingest::verify_stream(w.log.as_ref(), &Stream::Staff, 10_000)
            .await
            .unwrap()
            .valid
    );
    assert_eq!(last_record(&w).await["action"], "console_on_sale_changed");

    // Revocation of a refunded order: queued for the revoke function; a minted one: refused.
    let a = call(
        &w,
        "POST",
        "/v1/console/events/evt-a/orders/ord-2/revocation",
        Some(&w.admin_a),
        Some("{}"),
    )
    .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.text);
    let sent = revoke_messages(&w).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(
        sent[0].contains("ord-2") && sent[0].contains("refunded"),
        "{sent:?}"
    );
    let a = call(
        &w,
        "POST",
        "/v1/console/events/evt-a/orders/ord-1/revocation",
        Some(&w.admin_a),
        Some("{}"),
    )
    .await;
    assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.text);
    assert_eq!(revoke_messages(&w).await.len(), 1);

    // The scan audit: a door chain of event A, verified; then one link tampered in the table.
    let door = Stream::Door(EVT_A.to_owned());
    let mut prev = [0u8; 32];
    let mut links = Vec::new();
    for seq in 1..=3 {
        let l = next_link(seq, &prev, format!(r#"{{"entry":{seq}}}"#));
        prev = l.hash;
        links.push(l);
    }
    assert!(w.log.append(&door, &links, NOW).await.unwrap());
    let a = call(
        &w,
        "GET",
        "/v1/console/events/evt-a/scan-audit?after=0&limit=2",
        Some(&w.admin_a),
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let r = a.json();
    assert_eq!(r["chain"]["valid"], true, "{r}");
    assert_eq!(r["chain"]["checked"], 3);
    assert_eq!(r["page"]["entries"].as_array().unwrap().len(), 2);
    assert_eq!(r["page"]["next_after"], 2);
    assert_eq!(last_record(&w).await["action"], "console_audit_read");
    w.env
        .clients
        .dynamodb
        .update_item()
        .table_name(&w.env.config.table_name)
        .key("pk", AttributeValue::S(door.partition()))
        .key("sk", AttributeValue::S(format!("SEQ#{:020}", 2)))
        .update_expression("SET canonical = :c")
        .expression_attribute_values(":c", AttributeValue::S(r#"{"entry":"forged"}"#.into()))
        .send()
        .await
        .unwrap();
    let a = call(
        &w,
        "GET",
        "/v1/console/events/evt-a/scan-audit",
        Some(&w.admin_a),
        None,
    )
    .await;
    let r = a.json();
    assert_eq!(r["chain"]["valid"], false, "{r}");
    assert_eq!(r["chain"]["first_bad_seq"], 2);

    // Session: who the console talks to.
    let a = call(&w, "GET", "/v1/console/session", Some(&w.finance_a), None).await;
    assert_eq!(a.json()["role"], "finance");
    assert_eq!(a.json()["events"], serde_json::json!([EVT_A]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_changes_nothing_and_deactivation_takes_effect_at_once() {
    let w = world().await;
    seed_orders(&w).await;
    let before = staff_head(&w).await;
    let mut bad_spec = sample_event_spec("evt-bad", 10, NOW);
    bad_spec.ends_at = 1; // before it starts
    let bad_spec = serde_json::to_string(&bad_spec).unwrap();
    for (method, path, body, want) in [
        (
            "POST",
            "/v1/console/events",
            Some("{not json"),
            StatusCode::BAD_REQUEST,
        ),
        (
            "POST",
            "/v1/console/events",
            Some(bad_spec.as_str()),
            StatusCode::BAD_REQUEST,
        ),
        (
            "POST",
            "/v1/console/events",
            Some(r#"{"event_id":"x","surprise":1}"#),
            StatusCode::BAD_REQUEST,
        ),
        (
            "PUT",
            "/v1/console/events/evt-a/on-sale",
            Some(r#"{"on_sale":"no"}"#),
            StatusCode::BAD_REQUEST,
        ),
        (
            "PUT",
            "/v1/console/events/evt-a/on-sale",
            Some(r#"{"on_sale":false,"x":1}"#),
            StatusCode::BAD_REQUEST,
        ),
        (
            "PUT",
            "/v1/console/events/no%20such/on-sale",
            Some(r#"{"on_sale":false}"#),
            StatusCode::BAD_REQUEST,
        ),
        (
            "GET",
            "/v1/console/events/evt-a/scan-audit?limit=lots",
            None,
            StatusCode::BAD_REQUEST,
        ),
        (
            "POST",
            "/v1/console/events/evt-a/orders/ord%20x/revocation",
            Some("{}"),
            StatusCode::BAD_REQUEST,
        ),
        (
            "POST",
            "/v1/console/events/evt-a/orders/ord-404/revocation",
            Some("{}"),
            StatusCode::NOT_FOUND,
        ),
        (
            "PUT",
            "/v1/console/events/evt-gone/on-sale",
            Some(r#"{"on_sale":false}"#),
            StatusCode::FORBIDDEN,
        ),
    ] {
        // Event creation is for admins of every event: `ops`.
        let t = if path == "/v1/console/events" {
            &w.ops
        } else {
            &w.admin_a
        };
        let a = call(&w, method, path, Some(t), body).await;
        assert_eq!(a.status, want, "{method} {path}: {}", a.text);
        assert!(a.ctype.starts_with("application/problem+json"), "{path}");
    }
    let a = call(
        &w,
        "GET",
        "/v1/console/events/evt-a/reconciliation/paypal",
        Some(&w.finance_a),
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.text);
    // The one refusal above (event of another admin) is the only record written.
    assert_eq!(staff_head(&w).await, before + 1);
    assert_eq!(last_record(&w).await["action"], "console_refused");
    assert!(w
        .console
        .deps
        .events
        .get_event("evt-bad")
        .await
        .unwrap()
        .is_none());
    assert!(
        w.console
            .deps
            .events
            .get_event(EVT_A)
            .await
            .unwrap()
            .unwrap()
            .on_sale
    );
    assert!(revoke_messages(&w).await.is_empty());
    // An unknown route is a problem too.
    let a = call(&w, "GET", "/v1/console/nothing", Some(&w.admin_a), None).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);

    // Deactivating finance: its next request is refused, though its token has not expired.
    let a = call(
        &w,
        "GET",
        "/v1/console/events/evt-a/sales",
        Some(&w.finance_a),
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    let mut off = spec(Role::Finance, &[EVT_A], &[]);
    off.active = false;
    w.staff.put_member("cli:ops", "fin-a", &off).await.unwrap();
    let a = call(
        &w,
        "GET",
        "/v1/console/events/evt-a/sales",
        Some(&w.finance_a),
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.text);
}
