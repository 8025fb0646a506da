//! Password sign-in against moto: setup codes work once, right / wrong / unknown user /
//! deactivated, lockout with backoff per account and per client, ten concurrent failures
//! counted exactly, admins refused without a second factor.

#![allow(clippy::unwrap_used, clippy::too_many_lines)]

#[path = "common/staff_signin.rs"]
mod common;

use axum::http::StatusCode;
use common::{
    call, call_service, counter, log_actions, member_with_password, sign_in, sign_in_body, world,
    GOOD,
};
use functions::testing::at_once;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn right_wrong_unknown_deactivated_and_setup_codes_once() {
    let w = world().await;
    let code = member_with_password(&w, "door-1", "staff", GOOD).await;

    // The setup code works once, and a weak password is refused without spending one.
    let again = serde_json::json!({"username": "door-1", "setup_code": code, "password": "another fine passphrase"});
    let (status, _) = call(
        &w,
        "POST",
        "/v1/staff/password",
        None,
        Some(again.to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, setup) = call(
        &w,
        "POST",
        "/v1/staff/members/door-1/password-setup",
        Some(&w.admin_token),
        Some("{}".into()),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let fresh = setup["setup_code"].as_str().unwrap();
    for weak in ["short-pw1", "password1234", "door-1 is my password"] {
        let body = serde_json::json!({"username": "door-1", "setup_code": fresh, "password": weak});
        let (status, problem) = call(
            &w,
            "POST",
            "/v1/staff/password",
            None,
            Some(body.to_string()),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{weak}: {problem}");
        assert!(!problem.to_string().contains(weak));
    }
    // Only an admin issues setup codes.
    let (status, _) = call(
        &w,
        "POST",
        "/v1/staff/members/door-1/password-setup",
        None,
        Some("{}".into()),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Right: a door token the member's scope allows.
    let (status, issued) = sign_in(&w, "door-1", GOOD).await;
    assert_eq!(status, StatusCode::OK, "{issued}");
    assert_eq!(issued["aud"], "karcis-door");
    assert_eq!(issued["gates"], serde_json::json!(["A"]));
    // A console token is not a staff member's to have.
    let console = serde_json::json!({"username": "door-1", "password": GOOD, "purpose": "console"});
    let (status, _) = call(
        &w,
        "POST",
        "/v1/staff/sign-in",
        None,
        Some(console.to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Wrong password and unknown user: the same answer.
    let (wrong_status, wrong) = sign_in(&w, "door-1", "plum kettle violet 43").await;
    let (unknown_status, unknown) = sign_in(&w, "nobody-9", GOOD).await;
    assert_eq!(wrong_status, StatusCode::UNAUTHORIZED);
    assert_eq!((unknown_status, &unknown), (wrong_status, &wrong));
    // Malformed input changes nothing and says so.
    let (status, _) = call(
        &w,
        "POST",
        "/v1/staff/sign-in",
        None,
        Some(r#"{"username":"door-1"}"#.into()),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Deactivated: the right password no longer signs in.
    let (status, _) = call(
        &w,
        "PUT",
        "/v1/staff/members/door-1",
        Some(&w.admin_token),
        Some(r#"{"role":"staff","events":["evt-a"],"gates":["A"],"active":false}"#.into()),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = sign_in(&w, "door-1", GOOD).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Admins and finance cannot sign in with a password alone: a failed sign-in, counted.
    member_with_password(&w, "boss-1", "admin", GOOD).await;
    member_with_password(&w, "fin-1", "finance", GOOD).await;
    for who in ["boss-1", "fin-1"] {
        let (status, problem) = sign_in(&w, who, GOOD).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{who}: {problem}");
    }

    let actions = log_actions(&w).await;
    let count = |a: &str| actions.iter().filter(|x| x.as_str() == a).count();
    assert_eq!(count("sign_in_refused"), 5, "{actions:?}");
    assert_eq!(count("credential_changed"), 2 + 2 + 2 + 1, "{actions:?}");
    assert!(count("token_issued") >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_failures_hold_the_account_with_backoff() {
    let w = world().await;
    member_with_password(&w, "door-2", "staff", GOOD).await;
    for _ in 0..5 {
        assert_eq!(
            sign_in(&w, "door-2", "not the password 1").await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    // Held: even the right password is refused, and not counted.
    let (status, problem) = sign_in(&w, "door-2", GOOD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{problem}");
    assert_eq!(counter(&w, "STAFF#door-2").await, Some(5));
    // 30 s later one attempt is let through; wrong, it holds for 60 s.
    w.clock.advance(31);
    assert_eq!(
        sign_in(&w, "door-2", "not the password 2").await.0,
        StatusCode::UNAUTHORIZED
    );
    w.clock.advance(31);
    assert_eq!(
        sign_in(&w, "door-2", GOOD).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    w.clock.advance(30);
    // Right after the hold: signed in, and the account's failures forgotten.
    assert_eq!(sign_in(&w, "door-2", GOOD).await.0, StatusCode::OK);
    assert_eq!(counter(&w, "STAFF#door-2").await, None);
    assert_eq!(
        sign_in(&w, "door-2", "not the password 3").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(counter(&w, "STAFF#door-2").await, Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_concurrent_failures_are_counted_exactly() {
    let w = world().await;
    member_with_password(&w, "door-3", "staff", GOOD).await;
    let service = w.service.clone();
    let results = at_once(10, |i| {
        let service = service.clone();
        async move {
            let body = sign_in_body("door-3", &format!("wrong guess number {i}"));
            call_service(service, "POST", "/v1/staff/sign-in", None, Some(body))
                .await
                .0
        }
    })
    .await;
    let refused = results
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let held = results
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    // Exactly five guesses were checked; the other five were held without a check.
    assert_eq!((refused, held), (5, 5), "{results:?}");
    assert_eq!(counter(&w, "STAFF#door-3").await, Some(5));
    // The client's counter saw all ten (none was held there). It is keyed by the blind index
    // of the address (HMAC under the KMS-wrapped table key), not by a plain hash anyone can
    // compute from an address (2^32 guesses reverse an IPv4 one).
    let unkeyed = {
        use sha2::Digest as _;
        let h = hex::encode(sha2::Sha256::digest(b"unknown"));
        format!("STAFF#client#{}", &h[..32])
    };
    assert_eq!(
        counter(&w, &unkeyed).await,
        None,
        "an unkeyed client counter"
    );
    let index_key = w
        .service
        .secrets
        .as_ref()
        .unwrap()
        .pii
        .index_key()
        .await
        .unwrap();
    let client_pk = format!(
        "STAFF#client#{}",
        functions::pii::blind_index(index_key, functions::staff::CLIENT_INDEX_KIND, "unknown")
    );
    assert_eq!(counter(&w, &client_pk).await, Some(10));
    let actions = log_actions(&w).await;
    assert_eq!(
        actions.iter().filter(|a| *a == "sign_in_refused").count(),
        5
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_spraying_many_accounts_is_held() {
    let w = world().await;
    member_with_password(&w, "door-4", "staff", GOOD).await;
    for i in 0..20 {
        let (status, _) = sign_in(&w, &format!("guess-{i}"), GOOD).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // The 21st attempt from the same client is held, even with a right password.
    assert_eq!(
        sign_in(&w, "door-4", GOOD).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    w.clock.advance(31);
    assert_eq!(sign_in(&w, "door-4", GOOD).await.0, StatusCode::OK);
}

/// The router answers exactly `functions::staff::ROUTES` (which the deploy contract holds the
/// template to): every path literal of the router, probed with every method, reaches a handler
/// (not the 404/405 fallbacks) exactly for the listed routes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_router_serves_exactly_the_listed_routes() {
    let w = world().await;
    let source = include_str!("../src/staff/routes.rs");
    let router_body = &source[source.find("pub fn router(").unwrap()..];
    let paths: std::collections::BTreeSet<&str> = router_body
        .split('"')
        .filter(|s| s.starts_with("/v1/"))
        .collect();
    assert!(paths.len() >= 7, "{paths:?}");
    let mut served = std::collections::BTreeSet::new();
    for path in paths {
        let concrete = path.replace("{staff_id}", "ops-1");
        for method in ["GET", "PUT", "POST", "DELETE", "PATCH"] {
            let (status, _) = call(&w, method, &concrete, None, None).await;
            if status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED {
                served.insert(format!("{method} {path}"));
            }
        }
    }
    let listed: std::collections::BTreeSet<String> = functions::staff::ROUTES
        .iter()
        .map(|r| (*r).to_owned())
        .collect();
    assert_eq!(served, listed);
}
