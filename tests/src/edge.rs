//! The edge worker in workerd (via `edge-serve.mjs` and H3's Miniflare harness), its
//! configuration from the event's key set, and the staff tokens scanners present (from the
//! backend's own issuer).

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use functions::audit_ingest::DynamoAuditLog;
use functions::aws::Clients;
use functions::deps::Deps;
use functions::staff::{
    create_signing_key, router as staff_router, DynamoCredentials, DynamoDirectory, KmsSigner,
    MemberSpec, Purpose, Role, SetPasswordRequest, Settings, SignInRequest, StaffSecrets,
    StaffService,
};
use functions::staff_identity::dpop::{sign_proof, DeviceJwk};
use p256::ecdsa::SigningKey;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::process::{Child, ChildStdin, Command};

/// The audience the worker expects in staff tokens (wrangler.toml; `staff::Settings`' default).
pub const AUDIENCE: &str = "karcis-door";
/// The operator the stack's staff changes are recorded under in the staff log.
const OPERATOR: &str = "cli:karcis-demo";

/// A door token bound to its scanner's key (`cnf.jkt`), as the scanner holds it: every request
/// to the edge carries the token and a fresh DPoP proof (RFC 9449) signed by that key.
#[derive(Clone)]
pub struct DoorCredential {
    pub token: String,
    key: Arc<SigningKey>,
}

impl std::fmt::Debug for DoorCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DoorCredential { .. }")
    }
}

impl DoorCredential {
    /// `authorization` and `dpop` headers for one request (`path` may carry a query).
    pub fn headers(&self, method: &str, path: &str) -> [(&'static str, String); 2] {
        let path = path.split('?').next().unwrap_or(path);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut jti = [0u8; 16];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut jti);
        let proof = sign_proof(
            &self.key,
            method,
            &format!("http://edge{path}"),
            &self.token,
            now,
            &hex::encode(jti),
        );
        [
            ("authorization", format!("Bearer {}", self.token)),
            ("dpop", proof),
        ]
    }
}

/// Borrowed header pairs for [`crate::client::HttpClient`].
pub fn header_refs<'a>(headers: &'a [(&'static str, String)]) -> Vec<(&'a str, &'a str)> {
    headers.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// The backend's real staff-token issuer (`functions::staff::StaffService`: an ES256 key in KMS,
/// members in DynamoDB, every change and token in the staff log), used as an operator uses the
/// `staff` binary; the worker's `STAFF_JWKS` is its JWKS.
#[derive(Debug, Clone)]
pub struct StaffIssuer {
    service: StaffService,
}

impl StaffIssuer {
    /// Creates the signing key in KMS and wires the service over the stack's table.
    pub async fn start(clients: &Clients, table: &str, deps: &Deps) -> Result<Self, String> {
        let key_id = create_signing_key(&clients.kms, "karcis staff tokens")
            .await
            .map_err(|e| format!("staff signing key: {e}"))?;
        let signer = KmsSigner::load(clients.kms.clone(), &key_id)
            .await
            .map_err(|e| format!("staff signing key: {e}"))?;
        let service = StaffService::new(
            Settings::default(),
            Arc::new(signer),
            Vec::new(),
            Arc::new(DynamoDirectory::new(clients.dynamodb.clone(), table)),
            Arc::new(DynamoAuditLog::new(clients.dynamodb.clone(), table)),
            deps.clock.clone(),
            deps.rng.clone(),
        )
        .map_err(|e| format!("staff service: {e}"))?
        .with_credentials(
            Arc::new(DynamoCredentials::new(clients.dynamodb.clone(), table)),
            StaffSecrets::new(deps.keys.clone(), deps.customers.clone()),
        );
        Ok(Self { service })
    }

    /// The staff function's routes (sign-in, refresh, members) for the local API.
    pub fn router(&self) -> axum::Router {
        staff_router(self.service.clone())
    }

    /// The worker's `STAFF_JWKS`.
    pub fn jwks(&self) -> Value {
        serde_json::to_value(self.service.jwks()).unwrap_or_default()
    }

    /// Makes `staff_id` a member with `role` for `events` and `gates`, and signs it in as a
    /// scanner does: an operator's setup code, a password set with it (admins and finance also
    /// enrol TOTP), then `sign-in` with a fresh device key's JWK for a door token bound to that
    /// key (valid 1 h).
    pub async fn door_token(
        &self,
        staff_id: &str,
        role: Role,
        events: &[&str],
        gates: &[&str],
    ) -> Result<DoorCredential, String> {
        let (password, totp) = self.enrol(staff_id, role, events, gates).await?;
        let key = SigningKey::random(&mut rand_core::OsRng);
        let issued = self
            .service
            .sign_in(
                &SignInRequest {
                    username: staff_id.to_owned(),
                    password,
                    purpose: Purpose::Door,
                    events: None,
                    gates: None,
                    ttl_secs: Some(3600),
                    jwk: Some(DeviceJwk::of(key.verifying_key())),
                    totp,
                },
                "127.0.0.1",
            )
            .await
            .map_err(|e| format!("sign-in {staff_id}: {e}"))?;
        Ok(DoorCredential {
            token: issued.token,
            key: Arc::new(key),
        })
    }

    /// Makes `staff_id` door staff as [`Self::door_token`] does and answers its password, for a
    /// scanner that signs in itself (`karcis-demo serve`).
    pub async fn door_member(
        &self,
        staff_id: &str,
        events: &[&str],
        gates: &[&str],
    ) -> Result<String, String> {
        Ok(self.enrol(staff_id, Role::Staff, events, gates).await?.0)
    }

    /// The member, its password and (admins, finance) the TOTP code of this moment.
    async fn enrol(
        &self,
        staff_id: &str,
        role: Role,
        events: &[&str],
        gates: &[&str],
    ) -> Result<(String, Option<String>), String> {
        let owned = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect();
        let spec = MemberSpec {
            role,
            events: owned(events),
            gates: owned(gates),
            active: true,
        };
        self.service
            .put_member(OPERATOR, staff_id, &spec)
            .await
            .map_err(|e| format!("staff member {staff_id}: {e}"))?;
        let setup = self
            .service
            .issue_setup_code(OPERATOR, staff_id)
            .await
            .map_err(|e| format!("setup code {staff_id}: {e}"))?;
        let mut raw = [0u8; 16];
        self.service.rng.fill(&mut raw);
        let password = format!("{} plum kettle", hex::encode(raw));
        let set = self
            .service
            .set_password(&SetPasswordRequest {
                username: staff_id.to_owned(),
                setup_code: setup.setup_code,
                password: password.clone(),
            })
            .await
            .map_err(|e| format!("password {staff_id}: {e}"))?;
        // Admins and finance enrol TOTP with the password and sign in with its current code,
        // as their authenticator app would show it.
        let totp = match set.totp {
            Some(enrolment) => {
                let secret = functions::staff::totp::base32_decode(&enrolment.secret)
                    .ok_or_else(|| format!("TOTP secret of {staff_id} is not Base32"))?;
                Some(functions::staff::totp::code_at(
                    &secret,
                    functions::staff::totp::step_of(self.service.clock.now()),
                    functions::staff::totp::DIGITS,
                ))
            }
            None => None,
        };
        Ok((password, totp))
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
