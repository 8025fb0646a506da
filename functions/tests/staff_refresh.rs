//! Device-bound door tokens against moto (issue 13): sign-in binds the token to the scanner's
//! key (`cnf.jkt`), door tokens are short, and `POST /v1/staff/refresh` swaps a token for a new
//! one only with a proof by that key, once per token, never for a deactivated or revoked
//! member, and for a token expired at most the grace ago.

#![allow(clippy::unwrap_used, clippy::too_many_lines)]

#[path = "common/staff_signin.rs"]
mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use common::{call, member_with_password, world, World, GOOD};
use functions::staff::{StaffService, REFRESH_GRACE_SECS};
use functions::staff_identity::dpop::{sign_proof, DeviceJwk};
use functions::testing::at_once;
use p256::ecdsa::SigningKey;
use tower::ServiceExt as _;

const REFRESH_URL: &str = "https://api.example.id/v1/staff/refresh";

fn device(seed: u8) -> (SigningKey, DeviceJwk, String) {
    let key = SigningKey::from_slice(&[seed; 32]).unwrap();
    let jwk = DeviceJwk::of(key.verifying_key());
    let jkt = jwk.thumbprint().unwrap();
    (key, jwk, jkt)
}

fn claims(token: &str) -> serde_json::Value {
    let body = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).unwrap()).unwrap()
}

async fn bound_sign_in(
    w: &World,
    username: &str,
    jwk: &DeviceJwk,
) -> (StatusCode, serde_json::Value) {
    let body =
        serde_json::json!({"username": username, "password": GOOD, "purpose": "door", "jwk": jwk});
    call(w, "POST", "/v1/staff/sign-in", None, Some(body.to_string())).await
}

/// `POST /v1/staff/refresh` with `Authorization: DPoP <token>` and `proof` (if any).
async fn refresh_with(
    service: StaffService,
    token: &str,
    proof: Option<&str>,
) -> (StatusCode, serde_json::Value) {
    let mut req = Request::builder()
        .method("POST")
        .uri("/v1/staff/refresh")
        .header("authorization", format!("DPoP {token}"))
        .header("content-type", "application/json");
    if let Some(p) = proof {
        req = req.header("dpop", p);
    }
    let res = functions::staff::router(service)
        .oneshot(req.body(Body::from("{}")).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or_default())
}

async fn signed(w: &World, jwk: &DeviceJwk) -> String {
    let (status, issued) = bound_sign_in(w, "door-b3", jwk).await;
    assert_eq!(status, StatusCode::OK, "{issued}");
    issued["token"].as_str().unwrap().to_owned()
}

fn now(w: &World) -> u64 {
    functions::ports::Clock::now(w.clock.as_ref())
}

async fn refresh(
    w: &World,
    key: &SigningKey,
    token: &str,
    jti: &str,
) -> (StatusCode, serde_json::Value) {
    let proof = sign_proof(key, "POST", REFRESH_URL, token, now(w), jti);
    refresh_with(w.service.clone(), token, Some(&proof)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_binds_the_door_token_to_the_device_key_and_keeps_it_short() {
    let w = world().await;
    member_with_password(&w, "door-b1", "staff", GOOD).await;
    let (_, jwk, jkt) = device(3);
    let (status, issued) = bound_sign_in(&w, "door-b1", &jwk).await;
    assert_eq!(status, StatusCode::OK, "{issued}");
    let c = claims(issued["token"].as_str().unwrap());
    assert_eq!(c["cnf"]["jkt"], jkt.as_str());
    assert_eq!(c["exp"].as_u64().unwrap() - c["iat"].as_u64().unwrap(), 900);

    // A door token lives an hour at most; a bad key is a clear 400 and issues nothing.
    let long = serde_json::json!({"username": "door-b1", "password": GOOD, "purpose": "door", "jwk": jwk, "ttl_secs": 7200});
    let (status, problem) = call(
        &w,
        "POST",
        "/v1/staff/sign-in",
        None,
        Some(long.to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    let mut off_curve = jwk.clone();
    off_curve.y = URL_SAFE_NO_PAD.encode([1u8; 32]);
    let (status, problem) = bound_sign_in(&w, "door-b1", &off_curve).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    let private = serde_json::json!({"username": "door-b1", "password": GOOD, "purpose": "door",
        "jwk": {"kty": "EC", "crv": "P-256", "x": jwk.x, "y": jwk.y, "d": "AAAA"}});
    let (status, _) = call(
        &w,
        "POST",
        "/v1/staff/sign-in",
        None,
        Some(private.to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_needs_the_bound_key_and_works_once_per_token() {
    let w = world().await;
    member_with_password(&w, "door-b2", "staff", GOOD).await;
    let (key, jwk, jkt) = device(4);
    let (_, issued) = bound_sign_in(&w, "door-b2", &jwk).await;
    let token = issued["token"].as_str().unwrap().to_owned();

    // A copied token: no proof, a proof by another key, the right key in the header signed by
    // another, a proof for another route or token: refused, and the token is not spent.
    let (thief, _, _) = device(5);
    assert_eq!(
        refresh_with(w.service.clone(), &token, None).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        refresh(&w, &thief, &token, "t1").await.0,
        StatusCode::UNAUTHORIZED
    );
    let right_header = sign_proof(&key, "POST", REFRESH_URL, &token, now(&w), "t2");
    let thief_sig = sign_proof(&thief, "POST", REFRESH_URL, &token, now(&w), "t2");
    let parts: Vec<&str> = right_header.split('.').collect();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        thief_sig.split('.').nth(2).unwrap()
    );
    assert_eq!(
        refresh_with(w.service.clone(), &token, Some(&forged))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let elsewhere = sign_proof(
        &key,
        "POST",
        "https://api.example.id/v1/staff/sign-in",
        &token,
        now(&w),
        "t3",
    );
    assert_eq!(
        refresh_with(w.service.clone(), &token, Some(&elsewhere))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let for_other = sign_proof(
        &key,
        "POST",
        REFRESH_URL,
        "another.token.here",
        now(&w),
        "t4",
    );
    assert_eq!(
        refresh_with(w.service.clone(), &token, Some(&for_other))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let stale = sign_proof(&key, "POST", REFRESH_URL, &token, now(&w) - 120, "t5");
    assert_eq!(
        refresh_with(w.service.clone(), &token, Some(&stale))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );

    // The device: a new token, bound to the same key, another id, the same scope.
    w.clock.advance(600);
    let (status, fresh) = refresh(&w, &key, &token, "ok-1").await;
    assert_eq!(status, StatusCode::OK, "{fresh}");
    let new_token = fresh["token"].as_str().unwrap().to_owned();
    let (old_c, new_c) = (claims(&token), claims(&new_token));
    assert_eq!(new_c["cnf"]["jkt"], jkt.as_str());
    assert_ne!(new_c["jti"], old_c["jti"]);
    assert_eq!(
        (&new_c["events"], &new_c["gates"]),
        (&old_c["events"], &old_c["gates"])
    );
    assert_eq!(new_c["iat"].as_u64().unwrap(), now(&w));

    // The same token again (a replayed request, or a thief that also holds the key later): no.
    assert_eq!(
        refresh(&w, &key, &token, "ok-2").await.0,
        StatusCode::UNAUTHORIZED
    );

    // A burst of the new token's refresh, each with its own valid proof: exactly one passes.
    let service = w.service.clone();
    let proofs: Vec<String> = (0..8)
        .map(|i| {
            sign_proof(
                &key,
                "POST",
                REFRESH_URL,
                &new_token,
                now(&w),
                &format!("burst-{i}"),
            )
        })
        .collect();
    let answers = at_once(8, |i| {
        let (service, token, proof) = (service.clone(), new_token.clone(), proofs[i].clone());
        async move { refresh_with(service, &token, Some(&proof)).await.0 }
    })
    .await;
    assert_eq!(
        answers.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{answers:?}"
    );
    assert!(answers
        .iter()
        .all(|s| *s == StatusCode::OK || *s == StatusCode::UNAUTHORIZED));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_grace_deactivation_revocation_and_unbound_tokens() {
    let w = world().await;
    member_with_password(&w, "door-b3", "staff", GOOD).await;
    let (key, jwk, _) = device(6);

    // Expired within the grace: refreshed; beyond it: not.
    let t = signed(&w, &jwk).await;
    w.clock.advance(900 + REFRESH_GRACE_SECS - 10);
    assert_eq!(refresh(&w, &key, &t, "g1").await.0, StatusCode::OK);
    let t = signed(&w, &jwk).await;
    w.clock.advance(900 + REFRESH_GRACE_SECS + 60);
    assert_eq!(
        refresh(&w, &key, &t, "g2").await.0,
        StatusCode::UNAUTHORIZED
    );

    // An unbound door token (admin-issued, no key) refreshes nothing.
    let (status, unbound) = call(
        &w,
        "POST",
        "/v1/staff/members/door-b3/tokens",
        Some(&w.admin_token),
        Some(r#"{"purpose":"door"}"#.into()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{unbound}");
    let unbound = unbound["token"].as_str().unwrap();
    assert!(claims(unbound).get("cnf").is_none());
    assert_eq!(
        refresh(&w, &key, unbound, "u1").await.0,
        StatusCode::UNAUTHORIZED
    );

    // Deactivated: refused (and its tokens stay refused once re-activated: the line).
    let t = signed(&w, &jwk).await;
    let path = "/v1/staff/members/door-b3";
    let off = r#"{"role":"staff","events":["evt-a"],"gates":["A"],"active":false}"#;
    let (status, body) = call(&w, "PUT", path, Some(&w.admin_token), Some(off.into())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        refresh(&w, &key, &t, "d1").await.0,
        StatusCode::UNAUTHORIZED
    );
    w.clock.advance(5);
    let on = r#"{"role":"staff","events":["evt-a"],"gates":["A"]}"#;
    let (status, body) = call(&w, "PUT", path, Some(&w.admin_token), Some(on.into())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        refresh(&w, &key, &t, "d2").await.0,
        StatusCode::UNAUTHORIZED
    );
    let after = signed(&w, &jwk).await;
    assert_eq!(refresh(&w, &key, &after, "d3").await.0, StatusCode::OK);

    // Narrowed (gate A taken away): the old scope is not re-issued.
    let t = signed(&w, &jwk).await;
    let narrowed = r#"{"role":"staff","events":["evt-a"],"gates":["B"]}"#;
    let (status, body) = call(&w, "PUT", path, Some(&w.admin_token), Some(narrowed.into())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        refresh(&w, &key, &t, "n1").await.0,
        StatusCode::UNAUTHORIZED
    );
}

/// The door's deny-list as a port that accepts every call (what reaches the real door is
/// `staff.rs`'s test); the refresh route's own memory of the revocation is what is tested here.
struct AcceptingDoor;

#[async_trait::async_trait]
impl functions::staff::StaffDenyList for AcceptingDoor {
    async fn revoke_member(&self, _: &str, _: u64, _: &str) -> functions::error::Result<()> {
        Ok(())
    }
    async fn revoke_token(&self, _: &str, _: &str) -> functions::error::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_or_member_refreshes_nothing() {
    let mut w = world().await;
    w.service = w.service.clone().with_door(Arc::new(AcceptingDoor));
    member_with_password(&w, "door-b4", "staff", GOOD).await;
    let (key, jwk, _) = device(7);
    let (_, one) = bound_sign_in(&w, "door-b4", &jwk).await;
    let (_, two) = bound_sign_in(&w, "door-b4", &jwk).await;
    let body = serde_json::json!({"jti": one["jti"]}).to_string();
    let revocations = "/v1/staff/members/door-b4/revocations";
    let (status, done) = call(&w, "POST", revocations, Some(&w.admin_token), Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(
        refresh(&w, &key, one["token"].as_str().unwrap(), "r1")
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    // Every token of the member so far (the member stays active).
    w.clock.advance(2);
    let (status, done) = call(
        &w,
        "POST",
        revocations,
        Some(&w.admin_token),
        Some("{}".into()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(
        refresh(&w, &key, two["token"].as_str().unwrap(), "r2")
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    w.clock.advance(2);
    let (_, three) = bound_sign_in(&w, "door-b4", &jwk).await;
    assert_eq!(
        refresh(&w, &key, three["token"].as_str().unwrap(), "r3")
            .await
            .0,
        StatusCode::OK
    );
}
