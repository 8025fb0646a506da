//! Test and benchmark inputs for the edge worker, minted with the `ticket` crate.
//!
//! ```text
//! edge-testgen fixture OUT.json        keys, secrets for the worker, tickets, staff tokens
//! edge-testgen present FIXTURE.json NAME... [AGE_SECS]
//!                                      a rotating code of each ticket NAME whose device proof is
//!                                      AGE_SECS old (default 0); a static code for static tickets
//! edge-testgen flips FIXTURE.json NAME a fresh code of NAME once per byte of its payload, with
//!                                      that byte flipped (one code per line)
//! ```
//!
//! The fixture holds private keys (issuer, devices, staff signer): test material only, made
//! fresh for every run, never used anywhere else.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use p256::ecdsa::{signature::Signer, Signature, SigningKey};
use rand::rngs::OsRng;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use ticket::{Claims, DevicePublicKey, IssuerKey, QrKey, SealedCredential, TicketId};

const AUDIENCE: &str = "karcis-door";
const STAFF_KID: &str = "staff-2026-1";
const ISSUER: &str = "karcis";

#[derive(Serialize, Deserialize)]
struct Fixture {
    /// Values of the worker's secret bindings.
    secrets: BTreeMap<String, String>,
    audience: String,
    events: Vec<String>,
    tickets: BTreeMap<String, TicketFixture>,
    tokens: BTreeMap<String, String>,
    /// The `iss` every good token carries (the worker's `STAFF_TOKEN_ISSUER` default).
    issuer: String,
    /// The staff signer as a private JWK: tests sign tokens of their own (revocation tests).
    staff_signer_jwk: serde_json::Value,
    /// The public key of `BUNDLE_SIGNING_KEY` (SEC1 hex): the scanner's configured bundle key.
    bundle_public_key: String,
}

#[derive(Serialize, Deserialize)]
struct TicketFixture {
    ticket_id: String,
    issued_at: u64,
    event_id: String,
    gates: Vec<String>,
    sealed_hex: String,
    /// The phone's private key, for device-bound tickets.
    device_key_hex: Option<String>,
}

struct EventKeys {
    event_id: &'static str,
    issuer: IssuerKey,
    qr: QrKey,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn mint(
    keys: &EventKeys,
    gates: &[&str],
    window: (u64, u64),
    device_bound: bool,
) -> Result<TicketFixture, String> {
    let claimed = Claimed {
        event_id: keys.event_id,
        ticket_id: TicketId::random(&mut OsRng),
        issued_at: now(),
    };
    mint_as(keys, &claimed, gates, window, device_bound)
}

/// What a ticket claims, where a test chooses it.
struct Claimed<'a> {
    event_id: &'a str,
    ticket_id: TicketId,
    issued_at: u64,
}

/// A ticket signed and sealed with `keys` but claiming `claimed`.
fn mint_as(
    keys: &EventKeys,
    claimed: &Claimed<'_>,
    gates: &[&str],
    window: (u64, u64),
    device_bound: bool,
) -> Result<TicketFixture, String> {
    let device = device_bound.then(|| SigningKey::random(&mut OsRng));
    let device_key = device
        .as_ref()
        .map(|d| DevicePublicKey::from_sec1(d.verifying_key().to_encoded_point(true).as_bytes()))
        .transpose()
        .map_err(|e| format!("device key: {e:?}"))?;
    let claims = Claims {
        kid: keys.issuer.kid(),
        ticket_id: claimed.ticket_id,
        event_id: claimed.event_id.to_owned(),
        gates: gates.iter().map(|g| (*g).to_owned()).collect(),
        not_before: window.0,
        not_after: window.1,
        issued_at: claimed.issued_at,
        device_key,
    };
    let mut nonce = [0u8; 12];
    OsRng.fill_bytes(&mut nonce);
    let sealed = ticket::issue(&claims, &keys.issuer, &keys.qr, nonce)
        .map_err(|e| format!("issue: {e:?}"))?;
    Ok(TicketFixture {
        ticket_id: claims.ticket_id.to_hex(),
        issued_at: claims.issued_at,
        event_id: claims.event_id,
        gates: claims.gates,
        sealed_hex: hex::encode(sealed.as_bytes()),
        device_key_hex: device.map(|d| hex::encode(d.to_bytes())),
    })
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn jwt(header: &serde_json::Value, claims: &serde_json::Value, key: &SigningKey) -> String {
    let input = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
    let signature: Signature = key.sign(input.as_bytes());
    format!("{input}.{}", b64(signature.to_bytes()))
}

/// HMAC-SHA256 (RFC 2104), for the "HS256 keyed with the public key" attack token.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let inner: Vec<u8> = block.iter().map(|b| b ^ 0x36).collect();
    let outer: Vec<u8> = block.iter().map(|b| b ^ 0x5c).collect();
    let inner_hash = Sha256::new()
        .chain_update(&inner)
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(&outer)
        .chain_update(inner_hash)
        .finalize()
        .into()
}

fn staff_claims(
    sub: &str,
    role: &str,
    events: &[&str],
    gates: &[&str],
    aud: &str,
    iat: u64,
    exp: u64,
) -> serde_json::Value {
    let mut jti = [0u8; 16];
    OsRng.fill_bytes(&mut jti);
    serde_json::json!({"sub": sub, "role": role, "events": events, "gates": gates, "aud": aud, "iat": iat, "exp": exp, "iss": ISSUER, "jti": hex::encode(jti)})
}

/// Staff tokens, good and bad, signed by `signer` (public key `public_sec1`) at time `t`.
/// A flat table of cases: long, not complex.
#[allow(clippy::too_many_lines)]
fn staff_tokens(staff_signer: &SigningKey, public_sec1: &[u8], t: u64) -> BTreeMap<String, String> {
    let es256 = serde_json::json!({"alg": "ES256", "typ": "JWT", "kid": STAFF_KID});
    let (iat, exp) = (t - 60, t + 3600);
    let mut tokens = BTreeMap::new();
    let mut add = |name: &str, header: &serde_json::Value, claims: serde_json::Value| {
        tokens.insert(name.to_owned(), jwt(header, &claims, staff_signer));
    };
    // staff-7 at any gate of evt-a: the bad tokens below differ from it in one claim each.
    let door = |aud: &str, iat: u64, exp: u64| {
        staff_claims("staff-7", "staff", &["evt-a"], &["*"], aud, iat, exp)
    };
    add(
        "staff",
        &es256,
        staff_claims(
            "staff-7",
            "staff",
            &["evt-a"],
            &["A", "B"],
            AUDIENCE,
            iat,
            exp,
        ),
    );
    add(
        "staff2",
        &es256,
        staff_claims("staff-9", "staff", &["evt-a"], &["*"], AUDIENCE, iat, exp),
    );
    add(
        "admin",
        &es256,
        staff_claims(
            "admin-1",
            "admin",
            &["evt-a", "evt-b"],
            &["*"],
            AUDIENCE,
            iat,
            exp,
        ),
    );
    add(
        "admin_a",
        &es256,
        staff_claims("admin-a", "admin", &["evt-a"], &["*"], AUDIENCE, iat, exp),
    );
    add(
        "admin_b",
        &es256,
        staff_claims("admin-b", "admin", &["evt-b"], &["*"], AUDIENCE, iat, exp),
    );
    add(
        "finance",
        &es256,
        staff_claims("fin-1", "finance", &["evt-a"], &["*"], AUDIENCE, iat, exp),
    );
    add(
        "other_event_staff",
        &es256,
        staff_claims("staff-b", "staff", &["evt-b"], &["*"], AUDIENCE, iat, exp),
    );
    add(
        "admin_all",
        &es256,
        staff_claims("ops-1", "admin", &["*"], &["*"], AUDIENCE, iat, exp),
    );
    let mut other_issuer = door(AUDIENCE, iat, exp);
    other_issuer["iss"] = "someone-else".into();
    add("wrong_issuer", &es256, other_issuer);
    let mut no_issuer = door(AUDIENCE, iat, exp);
    no_issuer.as_object_mut().map(|c| c.remove("iss"));
    add("no_issuer", &es256, no_issuer);
    add("expired", &es256, door(AUDIENCE, t - 7200, t - 3600));
    add("wrong_audience", &es256, door("karcis-other", iat, exp));
    add("too_long", &es256, door(AUDIENCE, iat, t + 7 * 86_400));
    add(
        "unknown_kid",
        &serde_json::json!({"alg": "ES256", "typ": "JWT", "kid": "nope"}),
        door(AUDIENCE, iat, exp),
    );
    let other_signer = SigningKey::random(&mut OsRng);
    tokens.insert(
        "forged".into(),
        jwt(
            &es256,
            &staff_claims("staff-7", "admin", &["*"], &["*"], AUDIENCE, iat, exp),
            &other_signer,
        ),
    );
    let admin_claims = staff_claims("staff-7", "admin", &["*"], &["*"], AUDIENCE, iat, exp);
    tokens.insert(
        "alg_none".into(),
        format!(
            "{}.{}.",
            b64(serde_json::json!({"alg": "none", "typ": "JWT", "kid": STAFF_KID}).to_string()),
            b64(admin_claims.to_string())
        ),
    );
    let hs_input = format!(
        "{}.{}",
        b64(serde_json::json!({"alg": "HS256", "typ": "JWT", "kid": STAFF_KID}).to_string()),
        b64(admin_claims.to_string())
    );
    // Keyed with the public key as the JWKS publishes it, as a confused verifier would use it.
    let hs_sig = hmac_sha256(public_sec1, hs_input.as_bytes());
    tokens.insert(
        "hs256_public_key".into(),
        format!("{hs_input}.{}", b64(hs_sig)),
    );

    tokens
}

/// Tickets for the attacks of `test/door.test.mjs`: floods, revocations across events, a key
/// set of one event minting for another, a re-issued credential.
fn door_attack_tickets(
    tickets: &mut BTreeMap<String, TicketFixture>,
    event_a: &EventKeys,
    event_b: &EventKeys,
    valid: (u64, u64),
    t: u64,
) -> Result<(), String> {
    for name in ["flood", "revoke_b_victim"] {
        tickets.insert(name.into(), mint(event_b, &["*"], valid, true)?);
    }
    tickets.insert("flood_a".into(), mint(event_a, &["*"], valid, true)?);
    let claimed = |event_id, ticket_id, issued_at| Claimed {
        event_id,
        ticket_id,
        issued_at,
    };
    // Event A's keys minting a ticket that claims event B (a leaked key set of A).
    let forged = claimed("evt-b", TicketId::random(&mut OsRng), t);
    tickets.insert(
        "cross_event".into(),
        mint_as(event_a, &forged, &["*"], valid, true)?,
    );
    // Two tickets of different events with the same ticket id.
    let shared = TicketId::random(&mut OsRng);
    for (name, keys) in [("twin_a", event_a), ("twin_b", event_b)] {
        let twin = claimed(keys.event_id, shared, t);
        tickets.insert(name.into(), mint_as(keys, &twin, &["*"], valid, true)?);
    }
    // One ticket issued twice (a new phone): the old credential an hour before the new one.
    let reissued = TicketId::random(&mut OsRng);
    for (name, issued_at) in [("reissue_old", t - 3600), ("reissue_new", t - 60)] {
        let credential = claimed("evt-a", reissued, issued_at);
        tickets.insert(
            name.into(),
            mint_as(event_a, &credential, &["*"], valid, true)?,
        );
    }
    // A printed (static) ticket later bound to a phone: the static credential, then the
    // device-bound one the binding re-issued a minute ago.
    let reprinted = TicketId::random(&mut OsRng);
    for (name, issued_at, bound) in [
        ("reprint_old", t - 3600, false),
        ("reprint_new", t - 60, true),
    ] {
        let credential = claimed("evt-a", reprinted, issued_at);
        tickets.insert(
            name.into(),
            mint_as(event_a, &credential, &["*"], valid, bound)?,
        );
    }
    Ok(())
}

fn fixture() -> Result<Fixture, String> {
    let t = now();
    let event_a = EventKeys {
        event_id: "evt-a",
        issuer: IssuerKey::generate(1, &mut OsRng),
        qr: QrKey::generate(&mut OsRng),
    };
    let event_b = EventKeys {
        event_id: "evt-b",
        issuer: IssuerKey::generate(2, &mut OsRng),
        qr: QrKey::generate(&mut OsRng),
    };
    let event_list: Vec<serde_json::Value> = [&event_a, &event_b]
        .iter()
        .map(|e| {
            serde_json::json!({
                "kid": e.issuer.kid(),
                "event_id": e.event_id,
                "issuer_public_key": hex::encode(e.issuer.public_key_sec1()),
                "qr_key": hex::encode(e.qr.expose_secret()),
            })
        })
        .collect();
    let event_keys = serde_json::json!({ "events": event_list });

    let staff_signer = SigningKey::random(&mut OsRng);
    let point = staff_signer.verifying_key().to_encoded_point(false);
    let (x, y) = (point.x().ok_or("x")?, point.y().ok_or("y")?);
    let jwks = serde_json::json!({"keys": [{"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": STAFF_KID, "x": b64(x), "y": b64(y)}]});
    let bundle_key = SigningKey::random(&mut OsRng);

    let mut secrets = BTreeMap::new();
    secrets.insert("EVENT_KEYS".to_owned(), event_keys.to_string());
    secrets.insert("STAFF_JWKS".to_owned(), jwks.to_string());
    secrets.insert(
        "BUNDLE_SIGNING_KEY".to_owned(),
        hex::encode(bundle_key.to_bytes()),
    );

    let valid = (t - 3600, t + 86_400);
    let mut tickets = BTreeMap::new();
    for name in [
        "main",
        "concurrent",
        "stale",
        "flip",
        "revoked_kv",
        "revoked_admin",
        "audit",
        "gps",
        "retry",
        "offline_1",
        "offline_2",
        "offline_conflict",
        "bench",
        "unauth",
        "forbidden",
    ] {
        tickets.insert(name.to_owned(), mint(&event_a, &["*"], valid, true)?);
    }
    tickets.insert("other_event".into(), mint(&event_b, &["*"], valid, true)?);
    tickets.insert("static".into(), mint(&event_a, &["*"], valid, false)?);
    tickets.insert(
        "not_yet_valid".into(),
        mint(&event_a, &["*"], (t + 86_400, t + 2 * 86_400), true)?,
    );
    tickets.insert(
        "expired".into(),
        mint(&event_a, &["*"], (t - 7200, t - 120), true)?,
    );
    tickets.insert("gate_b_only".into(), mint(&event_a, &["B"], valid, true)?);
    door_attack_tickets(&mut tickets, &event_a, &event_b, valid, t)?;

    let tokens = staff_tokens(&staff_signer, point.as_bytes(), t);
    let staff_signer_jwk = serde_json::json!({"kty": "EC", "crv": "P-256", "x": b64(x), "y": b64(y), "d": b64(staff_signer.to_bytes())});
    let bundle_public_key = hex::encode(
        bundle_key
            .verifying_key()
            .to_encoded_point(false)
            .as_bytes(),
    );

    Ok(Fixture {
        secrets,
        audience: AUDIENCE.into(),
        events: vec!["evt-a".into(), "evt-b".into()],
        tickets,
        tokens,
        issuer: ISSUER.into(),
        staff_signer_jwk,
        bundle_public_key,
    })
}

fn present(fixture: &Fixture, name: &str, age: u64) -> Result<String, String> {
    let t = fixture
        .tickets
        .get(name)
        .ok_or_else(|| format!("no ticket {name}"))?;
    let sealed =
        SealedCredential::from_bytes(hex::decode(&t.sealed_hex).map_err(|e| e.to_string())?)
            .map_err(|e| format!("sealed: {e:?}"))?;
    let Some(device_hex) = &t.device_key_hex else {
        return Ok(sealed.to_static_qr());
    };
    let device = SigningKey::from_slice(&hex::decode(device_hex).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    let id = TicketId::from_hex(&t.ticket_id).map_err(|e| format!("{e:?}"))?;
    Ok(ticket::present_with_device(
        &sealed,
        &id,
        &t.event_id,
        now().saturating_sub(age),
        &device,
    ))
}

fn load(path: &str) -> Result<Fixture, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))
}

fn run(args: &[String]) -> Result<(), String> {
    match args {
        [cmd, out] if cmd == "fixture" => {
            let f = fixture()?;
            std::fs::write(out, serde_json::to_string_pretty(&f).map_err(|e| e.to_string())?).map_err(|e| format!("{out}: {e}"))
        }
        [cmd, path, names @ ..] if cmd == "present" && !names.is_empty() => {
            let f = load(path)?;
            // Trailing number = age in seconds.
            let (names, age) = match names.split_last() {
                Some((last, rest)) if !rest.is_empty() && last.parse::<u64>().is_ok() => (rest, last.parse().unwrap_or(0)),
                _ => (names, 0),
            };
            for name in names {
                println!("{}", present(&f, name, age)?);
            }
            Ok(())
        }
        [cmd, path, name] if cmd == "flips" => {
            let f = load(path)?;
            let code = present(&f, name, 0)?;
            let payload = ticket::base45::decode(code.strip_prefix(ticket::QR_PREFIX).ok_or("prefix")?)
                .map_err(|e| format!("base45: {e:?}"))?;
            for i in 0..payload.len() {
                let mut flipped = payload.clone();
                flipped[i] ^= 0x01;
                println!("{}{}", ticket::QR_PREFIX, ticket::base45::encode(&flipped));
            }
            Ok(())
        }
        _ => Err("usage: edge-testgen fixture OUT.json | present FIXTURE.json NAME... [AGE_SECS] | flips FIXTURE.json NAME".into()),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("edge-testgen: {e}");
            ExitCode::FAILURE
        }
    }
}
