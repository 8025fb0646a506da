//! The edge worker in workerd (via `edge-serve.mjs` and H3's Miniflare harness), its
//! configuration from the event's key set, and the staff tokens scanners present.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::process::{Child, ChildStdin, Command};

/// The audience the worker expects in staff tokens (wrangler.toml).
pub const AUDIENCE: &str = "karcis-door";
const STAFF_KID: &str = "karcis-demo-staff-1";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The backend's staff-token signer (ES256), as the worker's `STAFF_JWKS` trusts it.
#[derive(Debug)]
pub struct StaffSigner {
    key: SigningKey,
}

impl Default for StaffSigner {
    fn default() -> Self {
        Self::new()
    }
}

impl StaffSigner {
    pub fn new() -> Self {
        Self {
            key: SigningKey::random(&mut rand_core::OsRng),
        }
    }

    /// `{"keys": [EC P-256 public key]}`.
    pub fn jwks(&self) -> Value {
        let point = self.key.verifying_key().to_encoded_point(false);
        let x = point.x().map(b64).unwrap_or_default();
        let y = point.y().map(b64).unwrap_or_default();
        json!({"keys": [{"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig",
                          "kid": STAFF_KID, "x": x, "y": y}]})
    }

    /// A token for `sub` with `role` (`staff` | `admin`) for `events` and `gates`, valid 1 h.
    pub fn token(&self, sub: &str, role: &str, events: &[&str], gates: &[&str]) -> String {
        let t = now();
        let header = json!({"alg": "ES256", "typ": "JWT", "kid": STAFF_KID});
        let claims = json!({"sub": sub, "role": role, "events": events, "gates": gates,
                            "aud": AUDIENCE, "iat": t - 5, "exp": t + 3600});
        let input = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
        let signature: Signature = self.key.sign(input.as_bytes());
        format!("{input}.{}", b64(signature.to_bytes()))
    }
}

/// `EVENT_KEYS` for one event: its issuer *public* key and its QR key, read from the event's
/// envelope-encrypted key set (what an operator exports for `scripts/set-keys.sh`).
pub async fn event_keys_json(
    deps: &functions::deps::Deps,
    event_id: &str,
    kid: u32,
) -> functions::Result<String> {
    let set = functions::eventkeys::load(deps, event_id, kid).await?;
    let qr = hex::encode(set.qr.expose_secret());
    Ok(json!({"events": [{
        "kid": kid,
        "event_id": event_id,
        "issuer_public_key": hex::encode(set.issuer.public_key_sec1()),
        "qr_key": qr,
    }]})
    .to_string())
}

/// The worker running in workerd, on a loopback port, until dropped.
#[derive(Debug)]
pub struct EdgeWorker {
    pub url: String,
    child: Option<Child>,
    /// Held open: closing it tells `edge-serve.mjs` to stop (also when this process dies).
    stdin: Option<ChildStdin>,
}

impl EdgeWorker {
    /// Starts `node tests/edge-serve.mjs` in its own process group.
    pub async fn start(
        repo_root: &Path,
        event_keys: &str,
        staff_jwks: &Value,
        vars: &Value,
    ) -> Result<Self, String> {
        let build = repo_root.join("edge-worker/build/index.js");
        if !build.exists() {
            return Err(format!(
                "{} is missing: run `make build-edge` first",
                build.display()
            ));
        }
        let bundle_key = SigningKey::random(&mut rand_core::OsRng);
        let config = json!({
            "secrets": {
                "EVENT_KEYS": event_keys,
                "STAFF_JWKS": staff_jwks.to_string(),
                "BUNDLE_SIGNING_KEY": hex::encode(bundle_key.to_bytes()),
            },
            "audience": AUDIENCE,
            "vars": vars,
        });
        let mut child = Command::new("node")
            .arg(repo_root.join("tests/edge-serve.mjs"))
            .current_dir(repo_root)
            .env("WRANGLER_SEND_METRICS", "false")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("node: {e} (is Node.js installed?)"))?;
        let mut stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut worker = Self {
            url: String::new(),
            child: Some(child),
            stdin: None,
        };
        stdin
            .write_all(format!("{config}\n").as_bytes())
            .await
            .map_err(|e| format!("edge-serve stdin: {e}"))?;
        stdin.flush().await.map_err(|e| e.to_string())?;
        worker.stdin = Some(stdin);
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(90), lines.next_line())
            .await
            .map_err(|_| "the edge worker did not start in 90 s".to_owned())?
            .map_err(|e| format!("edge-serve stdout: {e}"))?
            .ok_or("edge-serve exited before it was ready")?;
        let ready: Value =
            serde_json::from_str(&line).map_err(|_| format!("edge-serve said: {line}"))?;
        let url = ready["url"]
            .as_str()
            .unwrap_or_default()
            .trim_end_matches('/');
        if !url.starts_with("http://127.0.0.1:") {
            return Err(format!("edge worker is not on loopback: {url}"));
        }
        url.clone_into(&mut worker.url);
        Ok(worker)
    }

    /// Stops workerd: closes stdin (edge-serve disposes Miniflare), then TERM / KILL to the
    /// whole process group if it is still there after 5 s.
    pub async fn stop(mut self) {
        self.stop_inner().await;
    }

    async fn stop_inner(&mut self) {
        drop(self.stdin.take());
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pgid = child.id();
        if tokio::time::timeout(Duration::from_secs(5), child.wait())
            .await
            .is_err()
        {
            if let Some(pgid) = pgid {
                signal_group(pgid, "TERM");
            }
            if tokio::time::timeout(Duration::from_secs(3), child.wait())
                .await
                .is_err()
            {
                if let Some(pgid) = pgid {
                    signal_group(pgid, "KILL");
                }
                let _ = child.kill().await;
            }
        }
        // workerd may outlive node by a moment; its group goes too.
        if let Some(pgid) = pgid {
            signal_group(pgid, "TERM");
        }
    }
}

/// `kill -SIG -- -PGID` (the group of a child started with `process_group(0)`).
fn signal_group(pgid: u32, signal: &str) {
    let _ = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg("--")
        .arg(format!("-{pgid}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

impl Drop for EdgeWorker {
    fn drop(&mut self) {
        drop(self.stdin.take());
        if let Some(child) = self.child.take() {
            if let Some(pgid) = child.id() {
                signal_group(pgid, "TERM");
            }
        }
    }
}
