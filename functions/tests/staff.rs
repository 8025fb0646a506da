//! staff: tokens signed by a KMS ECC_NIST_P256 key on moto, checked with the edge worker's own
//! verification code (`edge-worker/src/auth.rs`, compiled natively below), role separation,
//! caller authentication, bad input, and the hash-chained staff log.

#![allow(clippy::unwrap_used, clippy::too_many_lines)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use functions::audit_ingest::{self, AuditLog, DynamoAuditLog, Stream};
use functions::ports::OsRng;
use functions::staff::{
    create_signing_key, jwk, router, DynamoDirectory, KmsSigner, LocalSigner, MemberSpec, Purpose,
    Role, Settings, StaffService, TokenRequest, TokenSigner,
};
use functions::testing::{TestClock, TestEnv};
use p256::ecdsa::signature::Verifier as _;
use tower::ServiceExt as _;

// The edge worker's own modules, unchanged: its token parser and checks run on our tokens.
#[allow(dead_code, unused_imports, clippy::all, clippy::pedantic)]
#[path = "../../edge-worker/src/api.rs"]
mod api;
#[allow(dead_code, unused_imports, clippy::all, clippy::pedantic)]
#[path = "../../edge-worker/src/auth.rs"]
mod auth;
#[allow(dead_code, unused_imports, clippy::all, clippy::pedantic)]
#[path = "../../edge-worker/src/dpop.rs"]
mod dpop;

const NOW: u64 = 1_800_000_000;
const DOOR: &str = "karcis-door";

struct World {
    env: TestEnv,
    service: StaffService,
    clock: Arc<TestClock>,
    log: Arc<DynamoAuditLog>,
    admin_token: String,
}

async fn world() -> World {
    let env = TestEnv::new().await;
    let key_id = create_signing_key(&env.clients.kms, "staff tokens")
        .await
        .unwrap();
    let signer = KmsSigner::load(env.clients.kms.clone(), &key_id)
        .await
        .unwrap();
    let clock = Arc::new(TestClock::new(NOW));
    let log = Arc::new(DynamoAuditLog::new(
        env.clients.dynamodb.clone(),
        env.config.table_name.clone(),
    ));
    let service = StaffService::new(
        Settings::default(),
        Arc::new(signer),
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
    // Bootstrap as the `staff` binary does: an operator creates the first admin.
    service
        .put_member("cli:ops", "ops-1", &spec(Role::Admin, &["*"], &["*"]))
        .await
        .unwrap();
    let admin_token = service
        .issue_token("cli:ops", "ops-1", &token_req(Purpose::Console))
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

fn spec(role: Role, events: &[&str], gates: &[&str]) -> MemberSpec {
    MemberSpec {
        role,
        events: events.iter().map(|s| (*s).to_owned()).collect(),
        gates: gates.iter().map(|s| (*s).to_owned()).collect(),
        active: true,
    }
}

fn token_req(purpose: Purpose) -> TokenRequest {
    TokenRequest {
        purpose,
        events: None,
        gates: None,
        ttl_secs: None,
        jwk: None,
    }
}

async fn call(
    w: &World,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<String>,
) -> (StatusCode, String, serde_json::Value) {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let req = req.body(body.map_or_else(Body::empty, Body::from)).unwrap();
    let res = router(w.service.clone()).oneshot(req).await.unwrap();
    let status = res.status();
    let ctype = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (status, ctype, json)
}

/// Setup: the bootstrap admin puts a member through the API; it must succeed.
async fn admin_puts(w: &World, staff_id: &str, body: &str) {
    let path = format!("/v1/staff/members/{staff_id}");
    let (status, _, member) = call(w, "PUT", &path, Some(&w.admin_token), Some(body.into())).await;
    assert_eq!(status, StatusCode::OK, "{staff_id}: {member}");
}

/// A token issued by an operator with the `staff` binary.
async fn cli_token(w: &World, staff_id: &str, purpose: Purpose) -> String {
    w.service
        .issue_token("cli:ops", staff_id, &token_req(purpose))
        .await
        .unwrap()
        .token
}

async fn staff_log_len(w: &World) -> u64 {
    w.log
        .last(&Stream::Staff)
        .await
        .unwrap()
        .map_or(0, |l| l.seq)
}

fn worker_check(
    token: &str,
    jwks: &str,
    audience: &str,
    now: u64,
) -> Result<auth::Staff, auth::AuthError> {
    let keys = auth::StaffKeys::from_jwks(jwks).unwrap();
    let unverified = auth::parse(token, &keys)?;
    let valid = unverified.check.verify_with_p256();
    unverified.decide(valid, now, audience, "karcis")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_issued_door_token_passes_the_workers_own_checks() {
    let w = world().await;
    let (status, _, member) = call(
        &w,
        "PUT",
        "/v1/staff/members/staff-7",
        Some(&w.admin_token),
        Some(r#"{"role":"staff","events":["evt-a"],"gates":["A","B"]}"#.into()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{member}");
    assert_eq!(member["version"], 1);

    // The JWKS, as the route serves it and as `staff jwks` prints it.
    let (status, ctype, jwks) = call(&w, "GET", "/v1/staff/jwks", None, None).await;
    assert_eq!(
        (status, ctype.as_str()),
        (StatusCode::OK, "application/json")
    );
    assert_eq!(jwks, serde_json::to_value(w.service.jwks()).unwrap());
    let jwks_text = jwks.to_string();

    // Several tokens: KMS signatures have random r, s of varying DER length and high S values.
    for round in 0..6 {
        let body = if round % 2 == 0 {
            r#"{"purpose":"door"}"#
        } else {
            r#"{"purpose":"door","gates":["B"],"ttl_secs":3600}"#
        };
        let (status, _, issued) = call(
            &w,
            "POST",
            "/v1/staff/members/staff-7/tokens",
            Some(&w.admin_token),
            Some(body.into()),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{issued}");
        let token = issued["token"].as_str().unwrap();

        // Header: ES256 with the JWKS kid.
        let header: serde_json::Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(token.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(header["alg"], "ES256");
        assert_eq!(header["typ"], "JWT");
        assert_eq!(header["kid"], jwks["keys"][0]["kid"]);
        assert_eq!(issued["kid"], jwks["keys"][0]["kid"]);

        // The worker's own parser and checks.
        let staff = worker_check(token, &jwks_text, DOOR, NOW + 10).unwrap();
        assert_eq!(staff.id, "staff-7");
        assert_eq!(staff.role, auth::Role::Staff);
        assert!(staff.role.may_scan());
        assert_eq!(staff.events, vec!["evt-a".to_owned()]);
        assert_eq!(staff.only_event(), Some("evt-a"));
        if round % 2 == 0 {
            assert!(staff.may_scan_at("A") && staff.may_scan_at("B"));
            assert_eq!(staff.expires_at, NOW + 15 * 60);
        } else {
            assert!(!staff.may_scan_at("A") && staff.may_scan_at("B"));
            assert_eq!(staff.expires_at, NOW + 3600);
        }
        // ... and its refusals: another audience, after expiry.
        assert_eq!(
            worker_check(token, &jwks_text, "karcis-console", NOW).unwrap_err(),
            auth::AuthError::WrongAudience
        );
        assert_eq!(
            worker_check(token, &jwks_text, DOOR, staff.expires_at + 31).unwrap_err(),
            auth::AuthError::Expired
        );

        // Independently: p256 against the JWK coordinates.
        let x = URL_SAFE_NO_PAD
            .decode(jwks["keys"][0]["x"].as_str().unwrap())
            .unwrap();
        let y = URL_SAFE_NO_PAD
            .decode(jwks["keys"][0]["y"].as_str().unwrap())
            .unwrap();
        let mut sec1 = vec![4u8];
        sec1.extend_from_slice(&x);
        sec1.extend_from_slice(&y);
        let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).unwrap();
        let (input, sig) = token.rsplit_once('.').unwrap();
        let sig =
            p256::ecdsa::Signature::from_slice(&URL_SAFE_NO_PAD.decode(sig).unwrap()).unwrap();
        assert!(vk.verify(input.as_bytes(), &sig).is_ok());
    }

    // A token signed by another key under the same kid: the worker refuses it.
    let impostor = LocalSigner(p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap());
    let claims = functions::staff::plan_token(
        &w.service
            .directory
            .get_member("staff-7")
            .await
            .unwrap()
            .unwrap(),
        &token_req(Purpose::Door),
        &Settings::default(),
        NOW,
        "forged".into(),
    )
    .unwrap();
    let forged = functions::staff::encode_token(&claims, &impostor)
        .await
        .unwrap();
    let kid = jwk(&impostor.public_key()).kid;
    let real_kid = jwks["keys"][0]["kid"].as_str().unwrap();
    let (h, rest) = forged.split_once('.').unwrap();
    let header = String::from_utf8(URL_SAFE_NO_PAD.decode(h).unwrap())
        .unwrap()
        .replace(&kid, real_kid);
    let forged = format!("{}.{rest}", URL_SAFE_NO_PAD.encode(header));
    assert_eq!(
        worker_check(&forged, &jwks_text, DOOR, NOW).unwrap_err(),
        auth::AuthError::BadSignature
    );

    // The staff log: admin created, admin token, staff-7 created, 6 tokens; chain intact.
    assert_eq!(staff_log_len(&w).await, 9);
    let check = audit_ingest::verify_stream(w.log.as_ref(), &Stream::Staff, 1000)
        .await
        .unwrap();
    assert!(check.valid && check.checked == 9, "{check:?}");
    let records = w.log.range(&Stream::Staff, 0, 100).await.unwrap();
    let last: serde_json::Value = serde_json::from_str(&records[8].canonical).unwrap();
    assert_eq!(last["action"], "token_issued");
    assert_eq!(last["actor"], "ops-1");
    assert_eq!(last["subject"], "staff-7");
    assert_eq!(last["detail"]["role"], "staff");
    // The record names the token by jti; the token itself is never stored.
    let items = w.env.raw_items().await;
    let signature = w.admin_token.rsplit('.').next().unwrap();
    assert!(items
        .iter()
        .all(|i| !functions::testing::contains_bytes(i, signature)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finance_never_gets_a_scanning_scope() {
    let w = world().await;
    // A finance member with a gate is refused; without one it is created.
    let (status, ctype, problem) = call(
        &w,
        "PUT",
        "/v1/staff/members/fin-1",
        Some(&w.admin_token),
        Some(r#"{"role":"finance","events":["evt-a"],"gates":["A"]}"#.into()),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(ctype, "application/problem+json");
    assert_eq!(problem["field"], "gates");
    let (status, _, _) = call(
        &w,
        "PUT",
        "/v1/staff/members/fin-1",
        Some(&w.admin_token),
        Some(r#"{"role":"finance","events":["evt-a"]}"#.into()),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let before = staff_log_len(&w).await;

    // No door token, with or without gates.
    for body in [
        r#"{"purpose":"door"}"#,
        r#"{"purpose":"door","gates":["A"]}"#,
        r#"{"purpose":"door","gates":["*"],"events":["evt-a"]}"#,
    ] {
        let (status, ctype, problem) = call(
            &w,
            "POST",
            "/v1/staff/members/fin-1/tokens",
            Some(&w.admin_token),
            Some(body.into()),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}: {problem}");
        assert_eq!(ctype, "application/problem+json");
        assert_eq!(problem["type"], "urn:karcis:problem:forbidden");
    }
    // A console token with a gate: refused too.
    let (status, _, _) = call(
        &w,
        "POST",
        "/v1/staff/members/fin-1/tokens",
        Some(&w.admin_token),
        Some(r#"{"purpose":"console","gates":["A"]}"#.into()),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(staff_log_len(&w).await, before, "refusals record nothing");

    // The console token it may have: the door refuses it (audience), it holds no gate, and
    // even under the door's audience its role may not scan.
    let (status, _, issued) = call(
        &w,
        "POST",
        "/v1/staff/members/fin-1/tokens",
        Some(&w.admin_token),
        Some(r#"{"purpose":"console"}"#.into()),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(issued["role"], "finance");
    assert_eq!(issued["gates"], serde_json::json!([]));
    let token = issued["token"].as_str().unwrap();
    let jwks = serde_json::to_string(&w.service.jwks()).unwrap();
    assert_eq!(
        worker_check(token, &jwks, DOOR, NOW).unwrap_err(),
        auth::AuthError::WrongAudience
    );
    let as_console = worker_check(token, &jwks, "karcis-console", NOW).unwrap();
    assert!(!as_console.role.may_scan());
    assert!(!as_console.may_scan_at("A"));

    // Scan-only staff get no console token.
    admin_puts(
        &w,
        "door-1",
        r#"{"role":"staff","events":["evt-a"],"gates":["A"]}"#,
    )
    .await;
    let (status, _, _) = call(
        &w,
        "POST",
        "/v1/staff/members/door-1/tokens",
        Some(&w.admin_token),
        Some(r#"{"purpose":"console"}"#.into()),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_admins_manage_staff_and_issue_tokens() {
    let w = world().await;
    admin_puts(&w, "fin-1", r#"{"role":"finance","events":["evt-a"]}"#).await;
    admin_puts(
        &w,
        "door-1",
        r#"{"role":"staff","events":["evt-a"],"gates":["A"]}"#,
    )
    .await;
    admin_puts(
        &w,
        "adm-a",
        r#"{"role":"admin","events":["evt-a"],"gates":["*"]}"#,
    )
    .await;
    let finance = cli_token(&w, "fin-1", Purpose::Console).await;
    let door = cli_token(&w, "door-1", Purpose::Door).await;
    let event_admin = cli_token(&w, "adm-a", Purpose::Console).await;
    let before = staff_log_len(&w).await;
    let promote = r#"{"role":"admin","events":["*"],"gates":["*"]}"#;

    for (who, token, want) in [
        ("nobody", None, StatusCode::UNAUTHORIZED),
        ("garbage", Some("x.y.z"), StatusCode::UNAUTHORIZED),
        ("door token", Some(door.as_str()), StatusCode::UNAUTHORIZED),
        ("finance", Some(finance.as_str()), StatusCode::FORBIDDEN),
        // An admin of evt-a cannot hand out every event.
        (
            "event admin",
            Some(event_admin.as_str()),
            StatusCode::FORBIDDEN,
        ),
    ] {
        let (status, ctype, problem) = call(
            &w,
            "PUT",
            "/v1/staff/members/door-1",
            token,
            Some(promote.into()),
        )
        .await;
        assert_eq!(status, want, "{who}: {problem}");
        assert_eq!(ctype, "application/problem+json");
        let (status, _, _) = call(
            &w,
            "POST",
            "/v1/staff/members/door-1/tokens",
            token,
            Some(r#"{"purpose":"door"}"#.into()),
        )
        .await;
        if who == "event admin" {
            // Within its own event it may issue door tokens.
            assert_eq!(status, StatusCode::OK);
        } else {
            assert_eq!(status, want, "{who}");
        }
    }
    // An event's admin cannot mint a token in the name of the admin of every event.
    let (status, _, _) = call(
        &w,
        "POST",
        "/v1/staff/members/ops-1/tokens",
        Some(&event_admin),
        Some(r#"{"purpose":"console","events":["evt-a"]}"#.into()),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // alg none with the admin's claims.
    let claims = w.admin_token.split('.').nth(1).unwrap();
    let none = format!(
        "{}.{claims}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#)
    );
    let (status, _, _) = call(
        &w,
        "POST",
        "/v1/staff/members/door-1/tokens",
        Some(&none),
        Some(r#"{"purpose":"door"}"#.into()),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Only the event admin's one token was recorded; nothing else changed.
    assert_eq!(staff_log_len(&w).await, before + 1);
    let member = w
        .service
        .directory
        .get_member("door-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((member.role, member.version), (Role::Staff, 1));

    // The staff log: the admin of every event reads it, verified; an event's admin may not.
    let (status, _, page) = call(
        &w,
        "GET",
        "/v1/staff/log?limit=500",
        Some(&w.admin_token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["chain"]["valid"], true);
    assert_eq!(page["entries"].as_array().unwrap().len() as u64, before + 1);
    let (status, _, _) = call(&w, "GET", "/v1/staff/log", Some(&event_admin), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = call(
        &w,
        "GET",
        "/v1/staff/log?after=zz",
        Some(&w.admin_token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // A demoted admin's token stops working at once; an expired one too.
    w.service
        .put_member("cli:ops", "adm-a", &spec(Role::Finance, &["evt-a"], &[]))
        .await
        .unwrap();
    let (status, _, _) = call(
        &w,
        "GET",
        "/v1/staff/members/door-1",
        Some(&event_admin),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, got) = call(
        &w,
        "GET",
        "/v1/staff/members/door-1",
        Some(&w.admin_token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got["role"], "staff");
    w.clock.advance(3600 + 31);
    let (status, _, _) = call(
        &w,
        "GET",
        "/v1/staff/members/door-1",
        Some(&w.admin_token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_a_4xx_problem_and_changes_nothing() {
    let w = world().await;
    let before = staff_log_len(&w).await;
    let cases: Vec<(&str, &str, Option<&str>, StatusCode)> = vec![
        (
            "PUT",
            "/v1/staff/members/s-1",
            Some("{not json"),
            StatusCode::BAD_REQUEST,
        ),
        (
            "PUT",
            "/v1/staff/members/s-1",
            Some(r#"{"role":"staff"}"#),
            StatusCode::BAD_REQUEST,
        ),
        (
            "PUT",
            "/v1/staff/members/s-1",
            Some(r#"{"role":"boss","events":["e"],"gates":["A"]}"#),
            StatusCode::BAD_REQUEST,
        ),
        (
            "PUT",
            "/v1/staff/members/s-1",
            Some(r#"{"role":"staff","events":["e"],"gates":["A"],"extra":1}"#),
            StatusCode::BAD_REQUEST,
        ),
        (
            "PUT",
            "/v1/staff/members/s%201",
            Some(r#"{"role":"staff","events":["e"],"gates":["A"]}"#),
            StatusCode::BAD_REQUEST,
        ),
        (
            "PUT",
            "/v1/staff/members/s-1",
            Some(r#"{"role":"staff","events":["*"],"gates":["A"]}"#),
            StatusCode::BAD_REQUEST,
        ),
        (
            "PUT",
            "/v1/staff/members/s-1",
            Some(r#"{"role":"staff","events":["e"],"gates":[]}"#),
            StatusCode::BAD_REQUEST,
        ),
        (
            "POST",
            "/v1/staff/members/ghost/tokens",
            Some(r#"{"purpose":"door"}"#),
            StatusCode::NOT_FOUND,
        ),
        (
            "POST",
            "/v1/staff/members/ops-1/tokens",
            Some(r#"{"purpose":"door","ttl_secs":50000}"#),
            StatusCode::BAD_REQUEST,
        ),
        (
            "POST",
            "/v1/staff/members/ops-1/tokens",
            Some(r#"{"purpose":"door","ttl_secs":-1}"#),
            StatusCode::BAD_REQUEST,
        ),
        (
            "POST",
            "/v1/staff/members/ops-1/tokens",
            Some(r#"{"purpose":"teleport"}"#),
            StatusCode::BAD_REQUEST,
        ),
        (
            "POST",
            "/v1/staff/members/ops-1/tokens",
            Some(r#"{"purpose":"door","events":[]}"#),
            StatusCode::BAD_REQUEST,
        ),
        (
            "DELETE",
            "/v1/staff/members/ops-1",
            None,
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        ("GET", "/v1/staff/nothing", None, StatusCode::NOT_FOUND),
    ];
    for (method, path, body, want) in cases {
        let (status, ctype, problem) = call(
            &w,
            method,
            path,
            Some(&w.admin_token),
            body.map(str::to_owned),
        )
        .await;
        assert_eq!(status, want, "{method} {path} {body:?}: {problem}");
        assert_eq!(ctype, "application/problem+json", "{method} {path}");
        assert!(problem["type"]
            .as_str()
            .unwrap()
            .starts_with("urn:karcis:problem:"));
    }
    // Wrong media type and a huge body.
    let req = Request::builder()
        .method("PUT")
        .uri("/v1/staff/members/s-1")
        .header("authorization", format!("Bearer {}", w.admin_token))
        .header("content-type", "text/plain")
        .body(Body::from(
            r#"{"role":"staff","events":["e"],"gates":["A"]}"#,
        ))
        .unwrap();
    let res = router(w.service.clone()).oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge = format!(
        r#"{{"role":"staff","events":["{}"],"gates":["A"]}}"#,
        "e".repeat(40_000)
    );
    let (status, _, _) = call(
        &w,
        "PUT",
        "/v1/staff/members/s-1",
        Some(&w.admin_token),
        Some(huge),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    assert_eq!(staff_log_len(&w).await, before);
    assert!(w
        .service
        .directory
        .get_member("s-1")
        .await
        .unwrap()
        .is_none());

    // A repeated identical PUT is a no-op: one version, one record.
    let body = r#"{"role":"staff","events":["e"],"gates":["A"]}"#;
    for _ in 0..3 {
        let (status, _, m) = call(
            &w,
            "PUT",
            "/v1/staff/members/s-1",
            Some(&w.admin_token),
            Some(body.into()),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(m["version"], 1);
    }
    assert_eq!(staff_log_len(&w).await, before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kms_key_checks() {
    let env = TestEnv::new().await;
    // A symmetric key is not a signing key.
    let symmetric = env.config.pii_key_id.clone().unwrap();
    assert!(KmsSigner::load(env.clients.kms.clone(), &symmetric)
        .await
        .is_err());
    // Signing through KMS (Raw + ECDSA_SHA_256) verifies locally with the public key.
    let id = create_signing_key(&env.clients.kms, "t").await.unwrap();
    let signer = KmsSigner::load(env.clients.kms.clone(), &id).await.unwrap();
    let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&signer.public_key()).unwrap();
    for n in 0..10u8 {
        let msg = vec![n; 100 + usize::from(n)];
        let sig = signer.sign(&msg).await.unwrap();
        let sig = p256::ecdsa::Signature::from_slice(&sig).unwrap();
        assert!(vk.verify(&msg, &sig).is_ok());
        assert!(sig.normalize_s().is_none(), "JOSE signatures are low-S");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_fixtures_are_accepted() {
    let w = world().await;
    for name in [
        "staff-put-member.json",
        "staff-issue-token.json",
        "staff-jwks.json",
    ] {
        let path = format!("{}/../events/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(path)
            .unwrap()
            .replace("REPLACE_WITH_ADMIN_CONSOLE_TOKEN", &w.admin_token);
        let req = functions::http::request_from_event(&text).unwrap();
        let res = router(w.service.clone()).oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{name}");
    }
    let member = w
        .service
        .directory
        .get_member("staff-7")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(member.gates, vec!["A".to_owned(), "B".to_owned()]);
}

/// A stand-in for the edge worker's `POST /v1/staff-revocations` on 127.0.0.1: it checks the
/// caller's token with the worker's own code (an admin of every event, for the door audience
/// and issuer), then keeps the deny-list as the worker does. `down` makes it answer 503.
struct StubEdge {
    url: String,
    deny: Arc<std::sync::Mutex<auth::DenyList>>,
    calls: Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
    down: Arc<std::sync::atomic::AtomicBool>,
}

async fn stub_edge(jwks: String, clock: Arc<TestClock>) -> StubEdge {
    use axum::extract::State;
    use axum::http::HeaderMap;
    use functions::ports::Clock as _;
    type Shared = (
        String,
        Arc<TestClock>,
        Arc<std::sync::Mutex<auth::DenyList>>,
        Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
        Arc<std::sync::atomic::AtomicBool>,
    );
    async fn revoke(
        State((jwks, clock, deny, calls, down)): State<Shared>,
        headers: HeaderMap,
        body: String,
    ) -> StatusCode {
        if down.load(std::sync::atomic::Ordering::SeqCst) {
            return StatusCode::SERVICE_UNAVAILABLE;
        }
        let header = headers.get("authorization").and_then(|v| v.to_str().ok());
        let Ok(token) = auth::bearer(header) else {
            return StatusCode::UNAUTHORIZED;
        };
        let Ok(caller) = worker_check(token, &jwks, DOOR, clock.now()) else {
            return StatusCode::UNAUTHORIZED;
        };
        if caller.role != auth::Role::Admin || caller.events != ["*"] {
            return StatusCode::FORBIDDEN;
        }
        // The door refuses unbound tokens: the back end's call proves its per-call key, checked
        // with the worker's own DPoP code.
        let Some(jkt) = caller.jkt.as_deref() else {
            return StatusCode::UNAUTHORIZED;
        };
        let want = dpop::Expected {
            method: "POST",
            path: "/v1/staff-revocations",
            access_token: token,
            jkt,
            now: clock.now(),
            window_secs: 60,
        };
        let proof = headers
            .get("dpop")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let Ok(proof) = dpop::parse(proof) else {
            return StatusCode::UNAUTHORIZED;
        };
        let valid = proof.check.verify_with_p256();
        if proof.decide(valid, &want).is_err() {
            return StatusCode::UNAUTHORIZED;
        }
        let value: serde_json::Value = serde_json::from_str(&body).unwrap();
        let mut list = deny.lock().unwrap();
        if let Some(jti) = value["jti"].as_str() {
            list.jti.insert(jti.to_owned());
        }
        if let (Some(sub), Some(line)) = (value["sub"].as_str(), value["not_before"].as_u64()) {
            let entry = list.sub.entry(sub.to_owned()).or_insert(0);
            *entry = (*entry).max(line);
        }
        calls.lock().unwrap().push(value);
        StatusCode::OK
    }
    let deny = Arc::new(std::sync::Mutex::new(auth::DenyList::default()));
    let calls = Arc::new(std::sync::Mutex::new(Vec::new()));
    let down = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let app = axum::Router::new()
        .route("/v1/staff-revocations", axum::routing::post(revoke))
        .with_state((jwks, clock, deny.clone(), calls.clone(), down.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    StubEdge {
        url,
        deny,
        calls,
        down,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deactivation_and_revocation_reach_the_doors_deny_list() {
    use functions::staff::EdgeStaffDenyList;
    let mut w = world().await;
    let jwks = serde_json::to_string(&w.service.jwks()).unwrap();
    let edge = stub_edge(jwks.clone(), w.clock.clone()).await;
    let door = EdgeStaffDenyList::new(
        &edge.url,
        w.service.signer.clone(),
        Settings::default(),
        w.clock.clone(),
        Arc::new(OsRng),
    )
    .unwrap();
    w.service = w.service.clone().with_door(Arc::new(door));
    let denied = |token: &str| {
        let staff = worker_check(
            token,
            &jwks,
            DOOR,
            functions::ports::Clock::now(w.clock.as_ref()),
        )
        .unwrap();
        edge.deny.lock().unwrap().denies(&staff)
    };

    let member = r#"{"role":"staff","events":["evt-a"],"gates":["A"]}"#;
    admin_puts(&w, "staff-d1", member).await;
    let lost = cli_token(&w, "staff-d1", Purpose::Door).await;
    assert!(!denied(&lost));

    // Deactivated while the door is unreachable: stored, but the admin is told (503) ...
    let inactive = r#"{"role":"staff","events":["evt-a"],"gates":["A"],"active":false}"#;
    edge.down.store(true, std::sync::atomic::Ordering::SeqCst);
    let path = "/v1/staff/members/staff-d1";
    let (status, _, body) =
        call(&w, "PUT", path, Some(&w.admin_token), Some(inactive.into())).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let (_, _, stored) = call(&w, "GET", path, Some(&w.admin_token), None).await;
    assert_eq!(stored["active"], false);
    assert!(!denied(&lost), "the door was not told");
    // ... and the same request again reaches the door: every earlier token is refused there.
    edge.down.store(false, std::sync::atomic::Ordering::SeqCst);
    let (status, _, body) =
        call(&w, "PUT", path, Some(&w.admin_token), Some(inactive.into())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(denied(&lost));
    assert_eq!(
        edge.calls.lock().unwrap().last().unwrap(),
        &serde_json::json!({"sub": "staff-d1", "not_before": NOW + 1, "reason": "deactivated"})
    );

    // Re-activated later: a new token works at the door, the lost one stays refused.
    w.clock.advance(10);
    admin_puts(&w, "staff-d1", member).await;
    let issued = w
        .service
        .issue_token("cli:ops", "staff-d1", &token_req(Purpose::Door))
        .await
        .unwrap();
    assert!(!denied(&issued.token));
    assert!(denied(&lost));

    // An admin revokes that one token (a forwarded sign-in link): recorded in the staff log.
    let log_before = staff_log_len(&w).await;
    let revocations = "/v1/staff/members/staff-d1/revocations";
    let body = serde_json::json!({"jti": issued.jti}).to_string();
    let (status, _, done) = call(&w, "POST", revocations, Some(&w.admin_token), Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["jti"], issued.jti.as_str());
    assert!(denied(&issued.token));
    assert_eq!(staff_log_len(&w).await, log_before + 1);
    let other = cli_token(&w, "staff-d1", Purpose::Door).await;
    assert!(!denied(&other));
    // All of the member's tokens so far.
    let (status, _, done) = call(
        &w,
        "POST",
        revocations,
        Some(&w.admin_token),
        Some("{}".into()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert!(denied(&other));

    // Narrowed while active (a gate taken away): earlier tokens refused, later ones work; a
    // widening revokes nothing.
    w.clock.advance(10);
    admin_puts(
        &w,
        "staff-d2",
        r#"{"role":"staff","events":["evt-a"],"gates":["A","B"]}"#,
    )
    .await;
    let wide = cli_token(&w, "staff-d2", Purpose::Door).await;
    admin_puts(
        &w,
        "staff-d2",
        r#"{"role":"staff","events":["evt-a"],"gates":["A","B","C"]}"#,
    )
    .await;
    assert!(!denied(&wide), "a widening revokes nothing");
    w.clock.advance(10);
    admin_puts(
        &w,
        "staff-d2",
        r#"{"role":"staff","events":["evt-a"],"gates":["A"]}"#,
    )
    .await;
    assert!(denied(&wide), "gate B was taken away");
    w.clock.advance(10);
    assert!(!denied(&cli_token(&w, "staff-d2", Purpose::Door).await));

    // Only an admin managing the member; a bad jti or body is a 4xx and calls nothing.
    let calls = edge.calls.lock().unwrap().len();
    admin_puts(
        &w,
        "admin-b",
        r#"{"role":"admin","events":["evt-b"],"gates":["*"]}"#,
    )
    .await;
    let admin_b = cli_token(&w, "admin-b", Purpose::Console).await;
    let (status, _, _) = call(&w, "POST", revocations, Some(&admin_b), Some("{}".into())).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = call(&w, "POST", revocations, None, Some("{}".into())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    for bad in [r#"{"jti":"a b"}"#, r#"{"sub":"x"}"#, "nope"] {
        let (status, _, body) = call(
            &w,
            "POST",
            revocations,
            Some(&w.admin_token),
            Some(bad.into()),
        )
        .await;
        assert!(status.is_client_error(), "{bad}: {status} {body}");
    }
    assert_eq!(edge.calls.lock().unwrap().len(), calls);
}
