//! The world of the fraud tests: checkout (with the fraud admin routes) and the payment
//! callback on moto, a gateway stub, console tokens issued by the staff service.

#![allow(dead_code, clippy::unwrap_used)]

use std::sync::Arc;

use axum::http::{Request, StatusCode};
use functions::audit_ingest::{DynamoAuditLog, Stream};
use functions::checkout::{router, Checkout};
use functions::deps::Deps;
use functions::fraud::routes::FraudAdmin;
use functions::gateway::adapter::GatewayPayments;
use functions::gateway::hosted::GatewayEndpoints;
use functions::gateway::stub::GatewayStub;
use functions::gateway::testing::{signed_webhook, test_secrets, TestPayment};
use functions::gateway::transport::HyperTransport;
use functions::gateway::{PaymentStatus, Provider};
use functions::ports::OsRng;
use functions::staff::{
    create_signing_key, DynamoDirectory, KmsSigner, MemberSpec, Purpose, Role, Settings,
    StaffService, TokenRequest,
};
use functions::testing::{sample_checkout_body, sample_event_spec, TestClock, TestEnv};
use serde_json::{json, Value};
use tower::ServiceExt as _;

pub const NOW: u64 = 1_800_000_000;
pub const EVENT: &str = "fest";

pub struct World {
    pub env: TestEnv,
    pub deps: Deps,
    pub clock: Arc<TestClock>,
    pub staff: StaffService,
    pub stub: GatewayStub,
    pub app: axum::Router,
    pub log: Arc<DynamoAuditLog>,
}

pub async fn world_with(adjust: impl FnOnce(&mut functions::config::Config)) -> World {
    let env = TestEnv::with_config(|c| {
        c.payment_providers = vec!["stripe".into(), "midtrans".into()];
        adjust(c);
    })
    .await;
    let clock = Arc::new(TestClock::new(NOW));
    let deps = env.deps().with_clock(clock.clone());
    functions::admin::create_event(&deps, &sample_event_spec(EVENT, 100, NOW))
        .await
        .unwrap();
    let log = Arc::new(DynamoAuditLog::new(
        env.clients.dynamodb.clone(),
        env.config.table_name.clone(),
    ));
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
    let stub = GatewayStub::start(test_secrets()).await.unwrap();
    let payments = GatewayPayments::new(
        Arc::new(test_secrets()),
        GatewayEndpoints::all_at(&stub.base_url()),
        HyperTransport::new(std::time::Duration::from_secs(5)).unwrap(),
        clock.clone(),
        "http://127.0.0.1/orders/{order_id}/paid",
        "http://127.0.0.1/orders/{order_id}/cancelled",
    );
    let admin = FraudAdmin {
        deps: deps.clone(),
        console: staff.console.clone(),
        log: log.clone(),
    };
    let app = router(Checkout::new(deps.clone(), Arc::new(payments)).with_fraud_admin(admin));
    World {
        env,
        deps,
        clock,
        staff,
        stub,
        app,
        log,
    }
}

pub async fn world() -> World {
    world_with(|_| {}).await
}

/// A console token of a new member `id` with `role` over `events`.
pub async fn console_token(w: &World, id: &str, role: Role, events: &[&str]) -> String {
    let spec = MemberSpec {
        role,
        events: events.iter().map(|s| (*s).to_owned()).collect(),
        gates: vec![],
        active: true,
    };
    w.staff.put_member("cli:ops", id, &spec).await.unwrap();
    let request = TokenRequest {
        purpose: Purpose::Console,
        events: None,
        gates: None,
        ttl_secs: None,
        jwk: None,
    };
    w.staff
        .issue_token("cli:ops", id, &request)
        .await
        .unwrap()
        .token
}

pub async fn admin(
    w: &World,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    call(&w.app, method, path, token, body).await
}

/// A request to `app` with a console token: the status and JSON body.
pub async fn call(
    app: &axum::Router,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let body = body.map_or_else(axum::body::Body::empty, |b| {
        axum::body::Body::from(b.to_string())
    });
    read(app.clone().oneshot(req.body(body).unwrap()).await.unwrap()).await
}

/// The status and JSON body of an answer (every refusal is problem+json).
pub async fn read(res: axum::response::Response) -> (StatusCode, Value) {
    let status = res.status();
    if !status.is_success() {
        assert_eq!(
            res.headers().get("content-type").unwrap(),
            "application/problem+json"
        );
    }
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// A client of a checkout.
#[derive(Clone, Copy)]
pub struct Client<'a> {
    pub ip: &'a str,
    pub device: Option<&'a str>,
    pub country: Option<&'a str>,
}

pub const HOME: Client<'static> = Client {
    ip: "198.51.100.10",
    device: None,
    country: Some("ID"),
};

/// `POST /v1/orders` as API Gateway delivers it.
pub async fn checkout(
    app: &axum::Router,
    client: Client<'_>,
    key: &str,
    body: &Value,
) -> (StatusCode, Value) {
    let mut event: Value =
        serde_json::from_str(include_str!("../../../events/checkout-post-order.json")).unwrap();
    event["requestContext"]["http"]["sourceIp"] = json!(client.ip);
    event["headers"]["idempotency-key"] = json!(key);
    if let Some(d) = client.device {
        event["headers"]["x-karcis-device"] = json!(d);
    }
    if let Some(c) = client.country {
        event["headers"]["cloudfront-viewer-country"] = json!(c);
    }
    event["body"] = json!(body.to_string());
    let req = functions::http::request_from_event(&event.to_string()).unwrap();
    read(app.clone().oneshot(req).await.unwrap()).await
}

pub fn buyer_body(n: u32, email: Option<&str>, phone: Option<&str>) -> Value {
    let mut body = sample_checkout_body(EVENT, 1, n);
    if let Some(e) = email {
        body["buyer"]["email"] = json!(e);
    }
    if let Some(p) = phone {
        body["buyer"]["phone"] = json!(p);
    }
    body
}

pub async fn available(w: &World) -> u64 {
    let app = w.app.clone();
    let req = Request::get(format!("/v1/events/{EVENT}"))
        .body(axum::body::Body::empty())
        .unwrap();
    let res = app.oneshot(req).await.unwrap();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    v["tiers"][0]["available"].as_u64().unwrap()
}

pub async fn staff_log(w: &World) -> Vec<Value> {
    functions::audit_ingest::page(w.log.as_ref(), &Stream::Staff, 0, 100)
        .await
        .unwrap()
        .entries
        .iter()
        .map(|e| serde_json::from_str(&e.canonical).unwrap())
        .collect()
}

/// A Midtrans order of buyer `n`, reserved through checkout: its id.
pub async fn midtrans_order(w: &World, n: u32) -> String {
    let mut body = sample_checkout_body(EVENT, 1, n);
    body["payment_provider"] = json!("midtrans");
    let (status, created) = checkout(&w.app, HOME, &format!("mt-key-{n:04}"), &body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created["order"]["order_id"].as_str().unwrap().to_owned()
}

pub fn callback(w: &World) -> axum::Router {
    let statuses = GatewayPayments::status_api(
        Arc::new(test_secrets()),
        GatewayEndpoints::all_at(&w.stub.base_url()),
        HyperTransport::new(std::time::Duration::from_secs(5)).unwrap(),
        w.clock.clone(),
    );
    functions::payment_callback::router(
        functions::payment_callback::PaymentCallback::new(
            &w.deps,
            Arc::new(test_secrets()),
            Arc::new(statuses),
        )
        .unwrap(),
    )
}

pub async fn notify(
    app: &axum::Router,
    now: u64,
    order_id: &str,
    status: PaymentStatus,
    event_id: &str,
) -> StatusCode {
    let payment = TestPayment::paid(order_id, 150_000, "IDR")
        .with_status(status)
        .with_event_id(event_id);
    let hook = signed_webhook(Provider::Midtrans, &test_secrets(), &payment, now);
    let mut req = Request::builder().method("POST").uri(&hook.path);
    for (k, v) in &hook.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let res = app
        .clone()
        .oneshot(req.body(axum::body::Body::from(hook.body.clone())).unwrap())
        .await
        .unwrap();
    res.status()
}

pub async fn mint_messages(w: &World) -> Vec<String> {
    w.env
        .peek_all_messages()
        .await
        .into_iter()
        .filter(|m| m.contains("order_id") && !m.contains("\"kind\""))
        .collect()
}
