//! Scanner device keys: each offline queue synced through `/v1/sync` is signed by a key the
//! scanner made on sign-in and registered for its staff token.
//!
//! `POST /v1/devices` `{"device_id", "public_key"}` (uncompressed SEC1 P-256, hex), under a staff
//! token that may scan: binds that key to the token's staff id and token id (`sub`, `jti`), once.
//! The same registration again is `200`; another key or device for the same token is `409` (the
//! holder of a stolen token cannot swap in a key of its own once the scanner registered). Kept in
//! one SQLite Durable Object per staff member ([`StaffDevices`], named by the staff id) until the
//! token expires.
//!
//! A signed sync body is `{"batch": TEXT, "signature": SIG}`: `TEXT` is the JSON text of
//! `{"device_id", "sequence", "event_id", "scans"}` exactly as signed, `SIG` the base64url `r‖s`
//! of ECDSA P-256 / SHA-256 over `"karcis-sync.v1\n" ‖ TEXT`. Signing the bytes sent makes the
//! batch canonical with no re-serialisation: any edit of an entry, the sequence or the device id
//! breaks the signature. `sequence` must exceed the last one accepted from that device (a signed
//! batch is accepted once).
//!
//! The rule, and the migration: a token that registered a key must sign every sync with it
//! (unsigned, wrongly signed, another device id, a replayed sequence: `401`); a batch naming a
//! device that is not registered for the token is `401`. An unsigned batch from a token that
//! registered nothing (a scanner from before device keys) is accepted only while
//! `ALLOW_UNSIGNED_SYNC = "true"`; `wrangler.toml` ships `"false"`.

use crate::door::int;
use serde::{Deserialize, Serialize};
use ticket::p256::ecdsa::{signature::Verifier, Signature, VerifyingKey};
use worker::{
    durable_object, Date, DurableObject, Env, Method, Request, RequestInit, Response, Result,
    SqlStorage, State,
};

use crate::api::{valid_id, InputError, Problem, MAX_BODY_BYTES, MAX_SCAN_ID_LEN, PROBLEM_PREFIX};
use crate::auth::{Staff, LEEWAY_SECS};
use crate::http::{json, problem};
use crate::routes::{auth_problem, authenticate, body, Ctx};

/// What the device signs before the batch text.
pub const SYNC_LABEL: &[u8] = b"karcis-sync.v1\n";

/// A signed sync body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedSync {
    pub batch: String,
    pub signature: String,
}

/// The signed batch (the text of [`SignedSync::batch`]).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedBatch {
    pub device_id: String,
    pub sequence: u64,
    pub event_id: String,
    pub scans: Vec<serde_json::Value>,
}

/// An unsigned sync body (scanners from before device keys).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnsignedSync {
    pub event_id: String,
    pub scans: Vec<serde_json::Value>,
}

/// Either form of `/v1/sync` body.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum SyncBody {
    Signed(SignedSync),
    Unsigned(UnsignedSync),
}

/// A registered key, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeviceRecord {
    pub jti: String,
    pub device_id: String,
    /// Uncompressed SEC1, hex.
    pub public_key: String,
    pub last_sequence: u64,
    pub expires_at: u64,
}

/// Whether `signature` (base64url `r‖s`, either S) is the device's over the label and `batch`.
pub fn batch_signature_valid(public_sec1: &[u8], batch: &str, signature: &str) -> bool {
    use base64::Engine as _;
    let Ok(key) = VerifyingKey::from_sec1_bytes(public_sec1) else {
        return false;
    };
    let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(signature) else {
        return false;
    };
    let Ok(sig) = Signature::from_slice(&bytes) else {
        return false;
    };
    // WebCrypto signs with either S; a replayed batch is refused by its sequence instead.
    let sig = sig.normalize_s().unwrap_or(sig);
    let mut message = Vec::with_capacity(SYNC_LABEL.len() + batch.len());
    message.extend_from_slice(SYNC_LABEL);
    message.extend_from_slice(batch.as_bytes());
    key.verify(&message, &sig).is_ok()
}

/// A valid uncompressed P-256 point in hex, as its bytes.
pub fn parse_public_key(hex_text: &str) -> Option<Vec<u8>> {
    let bytes = hex::decode(hex_text).ok()?;
    (bytes.len() == 65 && VerifyingKey::from_sec1_bytes(&bytes).is_ok()).then_some(bytes)
}

/// A 401 whose `type` names why (`urn:karcis:problem:<code>`).
fn unauthorised(code: &str, detail: &str) -> Problem {
    let mut p = Problem::unauthorised(detail.to_owned());
    p.kind = format!("{PROBLEM_PREFIX}{code}");
    p
}

pub(crate) async fn devices_request(
    env: &Env,
    staff_id: &str,
    url: &str,
    method: Method,
    body: Option<String>,
) -> Result<Response> {
    let stub = env
        .durable_object("STAFF_DEVICES")?
        .id_from_name(staff_id)?
        .get_stub()?;
    let mut init = RequestInit::new();
    init.with_method(method);
    if let Some(body) = body {
        init.with_body(Some(wasm_bindgen::JsValue::from_str(&body)));
    }
    stub.fetch_with_request(Request::new_with_init(url, &init)?)
        .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterRequest {
    device_id: String,
    public_key: String,
}

/// `POST /v1/devices`: registers the scanner's key for the token it is sent with.
pub(crate) async fn register(ctx: &Ctx, req: Request) -> Result<Response> {
    let staff = match authenticate(ctx, &req).await {
        Ok(staff) => staff,
        Err(e) => return problem(&auth_problem(e)),
    };
    if !staff.role.may_scan() {
        return problem(&Problem::forbidden("role_may_not_scan"));
    }
    let body = match body(req, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(p) => return problem(&p),
    };
    let Ok(r) = serde_json::from_slice::<RegisterRequest>(&body) else {
        return problem(&Problem::bad_input(InputError::Body));
    };
    let key = parse_public_key(&r.public_key.to_ascii_lowercase());
    if !valid_id(&r.device_id, MAX_SCAN_ID_LEN) || key.is_none() {
        return problem(&Problem::new(
            400,
            "invalid_request",
            "Invalid request",
            "device_id is an id; public_key is an uncompressed P-256 point in hex",
        ));
    }
    // A bound token registers its own key only: the one its proofs are signed by.
    if let (Some(jkt), Some(key)) = (staff.jkt.as_deref(), key.as_deref()) {
        if crate::dpop::thumbprint_of_sec1(key).as_deref() != Some(jkt) {
            return problem(&Problem::new(
                409,
                "device_key_conflict",
                "Another device key",
                "this token is bound to another device key",
            ));
        }
    }
    let record = DeviceRecord {
        jti: staff.jti.clone(),
        device_id: r.device_id,
        public_key: r.public_key.to_ascii_lowercase(),
        last_sequence: 0,
        expires_at: staff.expires_at,
    };
    let answer = devices_request(
        &ctx.env,
        &staff.id,
        "https://devices/register",
        Method::Post,
        Some(serde_json::to_string(&record)?),
    )
    .await?;
    match answer.status_code() {
        200 => json(
            200,
            &serde_json::json!({"registered": true, "device_id": record.device_id}),
        ),
        409 => problem(&Problem::new(
            409,
            "device_key_conflict",
            "Another device key",
            "this token already has another device key: sign in again on this device",
        )),
        _ => problem(&Problem::new(
            503,
            "devices_unavailable",
            "Devices unavailable",
            "the device key was not stored; retry",
        )),
    }
}

/// The key registered for this token, if any.
async fn registered(ctx: &Ctx, staff: &Staff) -> Result<Option<DeviceRecord>> {
    let mut answer = devices_request(
        &ctx.env,
        &staff.id,
        &format!("https://devices/device?jti={}", hex::encode(&staff.jti)),
        Method::Get,
        None,
    )
    .await?;
    match answer.status_code() {
        200 => Ok(Some(answer.json().await?)),
        404 => Ok(None),
        status => Err(worker::Error::RustError(format!(
            "devices: status {status}"
        ))),
    }
}

/// The event and scans of a `/v1/sync` body once its signature, device and sequence check (or,
/// unsigned, once the migration rule allows it).
pub(crate) async fn open_sync(
    ctx: &Ctx,
    staff: &Staff,
    raw: &[u8],
) -> Result<std::result::Result<UnsignedSync, Problem>> {
    let Ok(body) = serde_json::from_slice::<SyncBody>(raw) else {
        return Ok(Err(Problem::bad_input(InputError::Body)));
    };
    let device = registered(ctx, staff).await?;
    let signed = match body {
        SyncBody::Unsigned(unsigned) => {
            return Ok(if device.is_some() {
                Err(unauthorised(
                    "batch_signature_required",
                    "this token's device signs its batches: an unsigned batch is refused",
                ))
            } else if ctx.var("ALLOW_UNSIGNED_SYNC").as_deref() == Some("true") {
                Ok(unsigned)
            } else {
                Err(unauthorised(
                    "device_not_registered",
                    "register this scanner's device key (POST /v1/devices) and sign the batch",
                ))
            });
        }
        SyncBody::Signed(signed) => signed,
    };
    let Ok(batch) = serde_json::from_str::<SignedBatch>(&signed.batch) else {
        return Ok(Err(Problem::bad_input(InputError::Body)));
    };
    let Some(device) = device.filter(|d| d.device_id == batch.device_id) else {
        return Ok(Err(unauthorised(
            "device_not_registered",
            "this device is not registered for this token",
        )));
    };
    let public = hex::decode(&device.public_key).unwrap_or_default();
    if !batch_signature_valid(&public, &signed.batch, &signed.signature) {
        return Ok(Err(unauthorised(
            "bad_batch_signature",
            "the batch is not signed by this token's device key",
        )));
    }
    let advanced = devices_request(
        &ctx.env,
        &staff.id,
        "https://devices/advance",
        Method::Post,
        Some(serde_json::to_string(&serde_json::json!({
            "jti": staff.jti, "device_id": batch.device_id, "sequence": batch.sequence,
        }))?),
    )
    .await?;
    if advanced.status_code() != 200 {
        return Ok(Err(unauthorised(
            "batch_replayed",
            "this batch's sequence was already used: sign it again with a new one",
        )));
    }
    Ok(Ok(UnsignedSync {
        event_id: batch.event_id,
        scans: batch.scans,
    }))
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS devices (
    jti TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    public_key TEXT NOT NULL,
    last_sequence INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS proofs (
    key TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
);
";

/// One staff member's registered device keys, by token id.
#[durable_object]
pub struct StaffDevices {
    sql: SqlStorage,
}

impl std::fmt::Debug for StaffDevices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StaffDevices")
    }
}

#[derive(Deserialize)]
struct Row {
    jti: String,
    device_id: String,
    public_key: String,
    last_sequence: i64,
    expires_at: i64,
}

impl From<Row> for DeviceRecord {
    fn from(r: Row) -> Self {
        Self {
            jti: r.jti,
            device_id: r.device_id,
            public_key: r.public_key,
            last_sequence: u64::try_from(r.last_sequence).unwrap_or(0),
            expires_at: u64::try_from(r.expires_at).unwrap_or(0),
        }
    }
}

/// A DPoP proof to spend (see `proofs.rs`).
#[derive(Deserialize)]
struct Spend {
    key: String,
    expires_at: u64,
}

#[derive(Deserialize)]
struct Advance {
    jti: String,
    device_id: String,
    sequence: u64,
}

impl StaffDevices {
    fn get(&self, jti: &str) -> Result<Option<DeviceRecord>> {
        let rows: Vec<Row> = self
            .sql
            .exec(
                "SELECT jti, device_id, public_key, last_sequence, expires_at FROM devices WHERE jti = ?",
                vec![jti.into()],
            )?
            .to_array()?;
        Ok(rows.into_iter().next().map(DeviceRecord::from))
    }
}

impl DurableObject for StaffDevices {
    fn new(state: State, _env: Env) -> Self {
        let sql = state.storage().sql();
        if let Err(e) = sql.exec(SCHEMA, None) {
            worker::console_error!("devices schema: {e}");
        }
        Self { sql }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        // Each branch is synchronous SQL with no await between its read and its write.
        match (req.method(), req.path().as_str()) {
            (Method::Post, "/register") => {
                let r: DeviceRecord = req.json().await?;
                let now = Date::now().as_millis() / 1000;
                // Keys of expired tokens can sign nothing any more.
                self.sql.exec(
                    "DELETE FROM devices WHERE expires_at < ?",
                    vec![int(now.saturating_sub(LEEWAY_SECS))],
                )?;
                self.sql.exec(
                    "INSERT OR IGNORE INTO devices (jti, device_id, public_key, last_sequence, expires_at) VALUES (?, ?, ?, 0, ?)",
                    vec![r.jti.clone().into(), r.device_id.clone().into(), r.public_key.clone().into(), int(r.expires_at)],
                )?;
                match self.get(&r.jti)? {
                    Some(d) if d.device_id == r.device_id && d.public_key == r.public_key => {
                        json(200, &serde_json::json!({"registered": true}))
                    }
                    _ => json(409, &serde_json::json!({"registered": false})),
                }
            }
            (Method::Get, "/device") => {
                let url = req.url()?;
                let jti = url
                    .query_pairs()
                    .find(|(k, _)| k == "jti")
                    .and_then(|(_, v)| hex::decode(v.as_bytes()).ok())
                    .and_then(|b| String::from_utf8(b).ok())
                    .unwrap_or_default();
                match self.get(&jti)? {
                    Some(d) => json(200, &d),
                    None => json(404, &serde_json::json!({"registered": false})),
                }
            }
            (Method::Post, "/proof") => {
                let p: Spend = req.json().await?;
                let now = Date::now().as_millis() / 1000;
                self.sql
                    .exec("DELETE FROM proofs WHERE expires_at < ?", vec![int(now)])?;
                // One statement: inserted (a row comes back) or already there (none).
                let fresh: Vec<serde_json::Value> = self
                    .sql
                    .exec(
                        "INSERT INTO proofs (key, expires_at) VALUES (?, ?) ON CONFLICT(key) DO NOTHING RETURNING key",
                        vec![p.key.into(), int(p.expires_at)],
                    )?
                    .to_array()?;
                if fresh.is_empty() {
                    json(409, &serde_json::json!({"spent": false}))
                } else {
                    json(200, &serde_json::json!({"spent": true}))
                }
            }
            (Method::Post, "/advance") => {
                let a: Advance = req.json().await?;
                match self.get(&a.jti)? {
                    Some(d) if d.device_id == a.device_id && a.sequence > d.last_sequence => {
                        self.sql.exec(
                            "UPDATE devices SET last_sequence = ? WHERE jti = ?",
                            vec![int(a.sequence), a.jti.into()],
                        )?;
                        json(200, &serde_json::json!({"advanced": true}))
                    }
                    _ => json(409, &serde_json::json!({"advanced": false})),
                }
            }
            _ => problem(&Problem::new(
                404,
                "not_found",
                "Not found",
                "no such devices route",
            )),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use ticket::p256::ecdsa::{signature::Signer, SigningKey};

    fn sign(key: &SigningKey, batch: &str) -> String {
        let mut message = SYNC_LABEL.to_vec();
        message.extend_from_slice(batch.as_bytes());
        let sig: Signature = key.sign(&message);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig.to_bytes())
    }

    #[test]
    fn a_batch_checks_with_its_device_key_only_and_unedited() {
        let key = SigningKey::from_slice(&[7u8; 32]).unwrap();
        let public = key.verifying_key().to_encoded_point(false);
        let batch = r#"{"device_id":"d1","sequence":1,"event_id":"evt-a","scans":[]}"#;
        let sig = sign(&key, batch);
        assert!(batch_signature_valid(public.as_bytes(), batch, &sig));
        let edited = batch.replace("\"sequence\":1", "\"sequence\":2");
        assert!(!batch_signature_valid(public.as_bytes(), &edited, &sig));
        let other = SigningKey::from_slice(&[8u8; 32]).unwrap();
        assert!(!batch_signature_valid(
            public.as_bytes(),
            batch,
            &sign(&other, batch)
        ));
        assert!(!batch_signature_valid(public.as_bytes(), batch, "not-b64!"));
        // High S (as WebCrypto may produce) is the same signature.
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&sig)
            .unwrap();
        let low = Signature::from_slice(&bytes).unwrap();
        let (r, s) = low.split_scalars();
        let high = Signature::from_scalars(r, -*s).unwrap();
        let high_b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(high.to_bytes());
        assert!(batch_signature_valid(public.as_bytes(), batch, &high_b64));
    }

    #[test]
    fn public_keys_are_uncompressed_points() {
        let key = SigningKey::from_slice(&[7u8; 32]).unwrap();
        let public = key.verifying_key().to_encoded_point(false);
        assert!(parse_public_key(&hex::encode(public.as_bytes())).is_some());
        let compressed = key.verifying_key().to_encoded_point(true);
        assert!(parse_public_key(&hex::encode(compressed.as_bytes())).is_none());
        assert!(parse_public_key(&"04".repeat(65)).is_none());
        assert!(parse_public_key("zz").is_none());
    }
}
