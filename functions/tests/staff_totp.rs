//! The second factor of admins and finance against moto: enrolment with the password (shown
//! once, stored sealed), sign-in with username + password + TOTP (right, wrong, missing,
//! replayed, locked out, unknown user), a burst of one code at once admitting one sign-in,
//! an admin without an enrolled secret refused.

#![allow(clippy::unwrap_used, clippy::too_many_lines)]

#[path = "common/staff_signin.rs"]
mod common;

use axum::http::StatusCode;
use common::{
    call, call_service, counter, log_actions, member_with_password, member_with_password_answer,
    world, World, GOOD, NOW,
};
use functions::staff::totp::{base32_decode, code_at, step_of, DIGITS};
use functions::testing::{at_once, contains_bytes};

fn body(username: &str, password: &str, code: Option<&str>, purpose: &str) -> String {
    let mut b = serde_json::json!({"username": username, "password": password, "purpose": purpose});
    if let Some(c) = code {
        b["totp"] = serde_json::Value::String(c.to_owned());
    }
    b.to_string()
}

async fn console_sign_in(
    w: &World,
    username: &str,
    password: &str,
    code: Option<&str>,
) -> (StatusCode, serde_json::Value) {
    call(
        w,
        "POST",
        "/v1/staff/sign-in",
        None,
        Some(body(username, password, code, "console")),
    )
    .await
}

/// Enrols `staff_id` (admin or finance); returns its TOTP secret as the app would read it.
async fn enrolled(w: &World, staff_id: &str, role: &str) -> Vec<u8> {
    let (_, set) = member_with_password_answer(w, staff_id, role, GOOD).await;
    let totp = &set["totp"];
    let uri = totp["otpauth_uri"].as_str().unwrap();
    let secret = totp["secret"].as_str().unwrap();
    assert!(
        uri.starts_with(&format!(
            "otpauth://totp/karcis:{staff_id}?secret={secret}&"
        )),
        "{uri}"
    );
    assert_eq!(
        (totp["digits"].as_u64(), totp["period"].as_u64()),
        (Some(6), Some(30))
    );
    base32_decode(secret).unwrap()
}

fn code(secret: &[u8], now: u64) -> String {
    code_at(secret, step_of(now), DIGITS)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_signs_in_with_password_and_totp_once_per_code() {
    let w = world().await;
    let secret = enrolled(&w, "boss-1", "admin").await;

    // Stored sealed: neither the secret nor its Base32 is anywhere in the table.
    let items = w.env.raw_items().await;
    let b32 = functions::staff::totp::base32(&secret);
    assert!(
        !items
            .iter()
            .any(|i| contains_bytes(i, &b32) || i.windows(secret.len()).any(|x| x == secret)),
        "a TOTP secret in clear"
    );

    // Missing and wrong codes: the same 401 as a wrong password, counted.
    let (missing, p1) = console_sign_in(&w, "boss-1", GOOD, None).await;
    let wrong_code = format!(
        "{:06}",
        (code(&secret, NOW).parse::<u32>().unwrap() + 1) % 1_000_000
    );
    let (wrong, p2) = console_sign_in(&w, "boss-1", GOOD, Some(&wrong_code)).await;
    let (bad_password, p3) = console_sign_in(
        &w,
        "boss-1",
        "plum kettle violet 43",
        Some(&code(&secret, NOW)),
    )
    .await;
    let (unknown, p4) = console_sign_in(&w, "nobody-1", GOOD, Some(&code(&secret, NOW))).await;
    for (s, p) in [
        (missing, &p1),
        (wrong, &p2),
        (bad_password, &p3),
        (unknown, &p4),
    ] {
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{p}");
        assert_eq!(p, &p1);
    }
    assert_eq!(counter(&w, "STAFF#boss-1").await, Some(3));

    // Right: a short-lived console token (15 min), and the account's failures forgotten.
    let now_code = code(&secret, NOW);
    let (status, issued) = console_sign_in(&w, "boss-1", GOOD, Some(&now_code)).await;
    assert_eq!(status, StatusCode::OK, "{issued}");
    assert_eq!(issued["aud"], "karcis-console");
    assert_eq!(issued["expires_at"].as_u64(), Some(NOW + 900));
    assert_eq!(counter(&w, "STAFF#boss-1").await, None);
    // The console token works on the console API.
    let (status, _) = call(
        &w,
        "GET",
        "/v1/staff/members/boss-1",
        issued["token"].as_str(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // Replayed: the same code again, and the previous step's code, are refused.
    let (status, _) = console_sign_in(&w, "boss-1", GOOD, Some(&now_code)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let previous = code_at(&secret, step_of(NOW) - 1, DIGITS);
    let (status, _) = console_sign_in(&w, "boss-1", GOOD, Some(&previous)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The next step's code works (in the window now, then spent).
    w.clock.advance(30);
    let (status, _) = console_sign_in(&w, "boss-1", GOOD, Some(&code(&secret, NOW + 30))).await;
    assert_eq!(status, StatusCode::OK);

    // A longer console token than an hour is refused; an admin's door sign-in needs TOTP too.
    w.clock.advance(30);
    let mut long: serde_json::Value = serde_json::from_str(&body(
        "boss-1",
        GOOD,
        Some(&code(&secret, NOW + 60)),
        "console",
    ))
    .unwrap();
    long["ttl_secs"] = 7200.into();
    let (status, _) = call(
        &w,
        "POST",
        "/v1/staff/sign-in",
        None,
        Some(long.to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = call(
        &w,
        "POST",
        "/v1/staff/sign-in",
        None,
        Some(body("boss-1", GOOD, None, "door")),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let actions = log_actions(&w).await;
    assert!(actions.iter().any(|a| a == "token_issued"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_one_code_signs_in_once() {
    let w = world().await;
    let secret = enrolled(&w, "fin-1", "finance").await;
    let the_code = code(&secret, NOW);
    let service = w.service.clone();
    let results = at_once(8, |_| {
        let service = service.clone();
        let b = body("fin-1", GOOD, Some(&the_code), "console");
        async move {
            call_service(service, "POST", "/v1/staff/sign-in", None, Some(b))
                .await
                .0
        }
    })
    .await;
    let ok = results.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(ok, 1, "{results:?}");
    // The others are replays (401), or held once five of them have failed (429).
    assert!(
        results.iter().all(|s| [
            StatusCode::OK,
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS
        ]
        .contains(s)),
        "{results:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_codes_lock_the_account_and_no_second_factor_is_refused() {
    let w = world().await;
    let secret = enrolled(&w, "fin-2", "finance").await;
    for i in 0..5u32 {
        let guess = format!("{:06}", 111_111 * (i + 1) % 1_000_000);
        if guess == code(&secret, NOW) {
            continue;
        }
        let (status, _) = console_sign_in(&w, "fin-2", GOOD, Some(&guess)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // Held: the right code is not even checked (and its step is not spent).
    let (status, _) = console_sign_in(&w, "fin-2", GOOD, Some(&code(&secret, NOW))).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    w.clock.advance(31);
    let (status, _) = console_sign_in(&w, "fin-2", GOOD, Some(&code(&secret, NOW + 31))).await;
    assert_eq!(status, StatusCode::OK);

    // A staff member made admin after setting a password has no second factor: refused
    // after the right password (it cannot be skipped), until a new setup code enrols one.
    member_with_password(&w, "door-9", "staff", GOOD).await;
    let (status, _) = call(
        &w,
        "PUT",
        "/v1/staff/members/door-9",
        Some(&w.admin_token),
        Some(r#"{"role":"admin","events":["evt-a"],"gates":["A"]}"#.into()),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, problem) = console_sign_in(&w, "door-9", GOOD, Some("123456")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");
    let (status, _) = call(
        &w,
        "POST",
        "/v1/staff/sign-in",
        None,
        Some(body("door-9", GOOD, None, "door")),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // The admin's reset enrols one.
    let (_, set) =
        member_with_password_answer(&w, "door-9", "admin", "another fine passphrase 7").await;
    let secret = base32_decode(set["totp"]["secret"].as_str().unwrap()).unwrap();
    let (status, _) = console_sign_in(
        &w,
        "door-9",
        "another fine passphrase 7",
        Some(&code(&secret, NOW + 31)),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}
