//! The world of the sign-in tests: a staff service on moto with password sign-in.

#![allow(dead_code, clippy::unwrap_used)]

use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use functions::audit_ingest::{AuditLog, DynamoAuditLog, Stream};
use functions::ports::OsRng;
use functions::staff::{
    create_signing_key, router, DynamoCredentials, DynamoDirectory, KmsSigner, MemberSpec, Purpose,
    Role, Settings, StaffSecrets, StaffService, TokenRequest,
};
use functions::testing::{TestClock, TestEnv};
use tower::ServiceExt as _;

pub const NOW: u64 = 1_800_000_000;
pub const GOOD: &str = "plum kettle violet 42";

pub struct World {
    pub env: TestEnv,
    pub service: StaffService,
    pub clock: Arc<TestClock>,
    pub log: Arc<DynamoAuditLog>,
    pub admin_token: String,
}

pub async fn world() -> World {
    let env = TestEnv::new().await;
    let key_id = create_signing_key(&env.clients.kms, "staff tokens")
        .await
        .unwrap();
    let signer = KmsSigner::load(env.clients.kms.clone(), &key_id)
        .await
        .unwrap();
    let clock = Arc::new(TestClock::new(NOW));
    let table = env.config.table_name.clone();
    let log = Arc::new(DynamoAuditLog::new(
        env.clients.dynamodb.clone(),
        table.clone(),
    ));
    let service = StaffService::new(
        Settings::default(),
        Arc::new(signer),
        vec![],
        Arc::new(DynamoDirectory::new(
            env.clients.dynamodb.clone(),
            table.clone(),
        )),
        log.clone(),
        clock.clone(),
        Arc::new(OsRng),
    )
    .unwrap()
    .with_credentials(
        Arc::new(DynamoCredentials::new(env.clients.dynamodb.clone(), table)),
        StaffSecrets::new(env.keys(), env.store()),
    );
    let admin = MemberSpec {
        role: Role::Admin,
        events: vec!["*".into()],
        gates: vec!["*".into()],
        active: true,
    };
    service
        .put_member("cli:ops", "ops-1", &admin)
        .await
        .unwrap();
    let admin_token = service
        .issue_token(
            "cli:ops",
            "ops-1",
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
    World {
        env,
        service,
        clock,
        log,
        admin_token,
    }
}

pub async fn call(
    w: &World,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<String>,
) -> (StatusCode, serde_json::Value) {
    call_service(w.service.clone(), method, path, token, body).await
}

pub async fn call_service(
    service: StaffService,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<String>,
) -> (StatusCode, serde_json::Value) {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let req = req.body(body.map_or_else(Body::empty, Body::from)).unwrap();
    let res = router(service).oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

/// The admin creates `staff_id` (a door member of evt-a, gate A) and gives it `password`
/// through a setup code; returns the code (spent).
pub async fn member_with_password(w: &World, staff_id: &str, role: &str, password: &str) -> String {
    member_with_password_answer(w, staff_id, role, password)
        .await
        .0
}

/// [`member_with_password`], with the answer of `POST /v1/staff/password` (the TOTP enrolment
/// of admins and finance).
pub async fn member_with_password_answer(
    w: &World,
    staff_id: &str,
    role: &str,
    password: &str,
) -> (String, serde_json::Value) {
    let gates = if role == "finance" { "[]" } else { r#"["A"]"# };
    let events = if role == "admin" {
        r#"["*"]"#
    } else {
        r#"["evt-a"]"#
    };
    let body = format!(r#"{{"role":"{role}","events":{events},"gates":{gates}}}"#);
    let path = format!("/v1/staff/members/{staff_id}");
    let (status, member) = call(w, "PUT", &path, Some(&w.admin_token), Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{member}");
    let path = format!("/v1/staff/members/{staff_id}/password-setup");
    let (status, setup) = call(w, "POST", &path, Some(&w.admin_token), Some("{}".into())).await;
    assert_eq!(status, StatusCode::OK, "{setup}");
    let code = setup["setup_code"].as_str().unwrap().to_owned();
    let body = serde_json::json!({"username": staff_id, "setup_code": code, "password": password});
    let (status, set) = call(
        w,
        "POST",
        "/v1/staff/password",
        None,
        Some(body.to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{set}");
    (code, set)
}

pub fn sign_in_body(username: &str, password: &str) -> String {
    serde_json::json!({"username": username, "password": password, "purpose": "door"}).to_string()
}

pub async fn sign_in(w: &World, username: &str, password: &str) -> (StatusCode, serde_json::Value) {
    call(
        w,
        "POST",
        "/v1/staff/sign-in",
        None,
        Some(sign_in_body(username, password)),
    )
    .await
}

pub async fn counter(w: &World, pk: &str) -> Option<u64> {
    let out = w
        .env
        .clients
        .dynamodb
        .get_item()
        .table_name(&w.env.config.table_name)
        .key("pk", AttributeValue::S(pk.into()))
        .key("sk", AttributeValue::S("LOCK".into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    out.item()
        .and_then(|i| i.get("failures"))
        .and_then(|v| v.as_n().ok())
        .map(|v| v.parse().unwrap())
}

pub async fn log_actions(w: &World) -> Vec<String> {
    let last = w.log.last(&Stream::Staff).await.unwrap().unwrap().seq;
    let page = functions::audit_ingest::page(w.log.as_ref(), &Stream::Staff, 0, 500)
        .await
        .unwrap();
    let page = serde_json::to_value(page).unwrap();
    assert_eq!(page["chain"]["valid"], true, "{page}");
    let entries = page["entries"].as_array().unwrap();
    assert_eq!(entries.len() as u64, last);
    entries
        .iter()
        .map(|e| {
            let record: serde_json::Value =
                serde_json::from_str(e["canonical"].as_str().unwrap()).unwrap();
            record["action"].as_str().unwrap().to_owned()
        })
        .collect()
}
