//! Test support (feature `testing`): the moto harness, a per-test AWS environment, test doubles.
//!
//! ```ignore
//! let env = functions::testing::TestEnv::new().await;   // own table, keys, queues on a shared moto
//! let store = env.store();                                // DynamoStore
//! ```
//!
//! - [`Moto`]: `moto_server` from a venv under `~/.cache/karcis/venv-moto` (created with
//!   `python3 -m venv` + `pip install 'moto[server]==5.2.5'` if missing), on a free loopback port,
//!   killed on drop; a watchdog also kills it when the test process exits.
//! - [`faults`]: an SDK interceptor injecting DynamoDB conflicts, throttling, lost answers and
//!   index lag ([`TestEnv::with_faults`]).
//! - [`sim`]: the DynamoDB behaviour simulator (crate `dynamo-sim`) between the DynamoDB client
//!   and moto: write ceilings, transaction conflicts, throttling, server errors, latency and
//!   dropped connections from a seed ([`TestEnv::through_sim`]).
//! - [`TestEnv`]: a unique table (the contract's schema), three KMS keys (PII, issuer, config),
//!   and mint/notify queues with real DLQ redrive policies, all on one moto shared by the test
//!   binary ([`Moto::shared`]). Names are unique, so tests run in parallel.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::aws::provision::{self, QueuePair};
use crate::aws::{Clients, KmsKeys, SqsQueue};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::model::PaymentReference;
use crate::ports::{
    Clock, DataKey, HostedPayments, KeyPurpose, Keys, Notification, NotificationSender,
    PaymentRequest, Rng,
};
use crate::store::DynamoStore;

pub mod faults;
pub mod sim;

/// Where the moto venv lives: `$KARCIS_MOTO_VENV`, else `~/.cache/karcis/venv-moto`.
pub fn venv_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("KARCIS_MOTO_VENV") {
        return PathBuf::from(dir);
    }
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".to_owned());
    PathBuf::from(home).join(".cache/karcis/venv-moto")
}

/// Creates the venv with `moto[server]` unless it is complete (marker file `.karcis-ok`).
/// Serialised across processes with a lock directory.
pub fn ensure_venv() -> std::io::Result<PathBuf> {
    let dir = venv_dir();
    let ok = dir.join(".karcis-ok");
    if ok.exists() {
        return Ok(dir);
    }
    let parent = dir
        .parent()
        .map_or_else(|| PathBuf::from("."), PathBuf::from);
    std::fs::create_dir_all(&parent)?;
    let lock = parent.join("venv-moto.lock");
    let deadline = Instant::now() + Duration::from_secs(600);
    while std::fs::create_dir(&lock).is_err() {
        if ok.exists() {
            return Ok(dir);
        }
        if Instant::now() > deadline {
            return Err(std::io::Error::other(
                "timed out waiting for the moto venv lock",
            ));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let result = (|| {
        if ok.exists() {
            return Ok(());
        }
        let run = |cmd: &mut Command| -> std::io::Result<()> {
            let status = cmd.status()?;
            if status.success() {
                Ok(())
            } else {
                Err(std::io::Error::other(format!("{cmd:?} failed: {status}")))
            }
        };
        run(Command::new("python3").arg("-m").arg("venv").arg(&dir))?;
        run(Command::new(dir.join("bin/pip")).args([
            "install",
            "--quiet",
            &format!("moto[server]=={MOTO_VERSION}"),
        ]))?;
        std::fs::write(&ok, b"")
    })();
    let _ = std::fs::remove_dir(&lock);
    result.map(|()| dir)
}

/// The moto release the venv pins and [`LAUNCHER`] patches (its internals are checked at start).
pub const MOTO_VERSION: &str = "5.2.5";

/// Exit status of the launcher when moto is not the release it patches.
const LAUNCHER_WRONG_MOTO: i32 = 86;

/// `moto_server`, with DynamoDB requests serialised, `TransactWriteItems` rolled back from an
/// undo log and idempotent under a `ClientRequestToken`.
///
/// 1. moto's `TransactWriteItems` is not atomic under concurrent requests: it snapshots the table,
///    applies the items one by one and, on a failed condition, puts the snapshot back, which
///    silently drops writes that other threads committed meanwhile. Real DynamoDB transactions
///    are serialisable; serialising DynamoDB requests in the emulator gives the same guarantee.
///    SQS and KMS stay multi-threaded (long polls must not block the server).
/// 2. That snapshot is a `copy.deepcopy` of the whole table per transaction item, so a
///    transaction costs O(table size): 0.64 s on a 2,000-item table, which made `make demo`
///    crawl. Instead, the touched items (by key) are copied before the call and, if it raises
///    (cancelled, or invalid), put back in reverse order (an item that did not exist is removed),
///    while moto's whole-table copy becomes the identity for that call. Items live only in
///    `Table.items` (GSIs are computed at query time), so the rollback is exact; tables with a
///    stream keep the stock path (a rolled-back write must not leave stream records).
///    Checked: a cancelled Put/Update/Delete/`ConditionCheck` mix across two tables, an invalid
///    transaction and a duplicate key all leave every item as it was (0.64 s -> 0.01 s).
/// 3. moto ignores `ClientRequestToken`. As DynamoDB documents it, a `TransactWriteItems` that
///    repeats the token of one that succeeded within the last 10 minutes returns success and
///    changes nothing, and the same token with other parameters is refused with
///    `IdempotentParameterMismatchException` (a failed call is not remembered). The store retries
///    a transaction whose answer was lost with the same token (`functions/tests/faults.rs`).
/// 4. SIGTERM/SIGINT end the process at once (`os._exit`; all state is in memory): moto's own
///    handler raises `SystemExit`, which once left a busy server running, orphaned, after its
///    watchdog had sent TERM.
///
/// All four rely on moto's internals, so the launcher refuses any release but [`MOTO_VERSION`]
/// (exit status [`LAUNCHER_WRONG_MOTO`], reported by [`Moto::start`]; `make moto-venv` pins it).
const LAUNCHER: &str = r#"import copy, os, sys, threading
import moto, moto.server
from moto.dynamodb import models
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler
if moto.__version__ != "@MOTO_VERSION@" or not hasattr(models, "copy"):
    sys.stderr.write("karcis launcher patches moto @MOTO_VERSION@, found %s\n" % moto.__version__)
    sys.exit(@WRONG_MOTO@)
moto.server.signal_handler = lambda signum, frame: os._exit(0)
_lock = threading.RLock()
_call_action = DynamoHandler.call_action
def call_action(self):
    with _lock:
        return _call_action(self)
DynamoHandler.call_action = call_action
_undo = threading.local()
def _deepcopy(x, memo=None):
    return x if isinstance(x, Table) and getattr(_undo, "on", False) else copy.deepcopy(x, memo)
models.copy = type(sys)("karcis_copy")
models.copy.deepcopy = _deepcopy
_transact = models.DynamoDBBackend.transact_write_items
def transact_write_items(self, transact_items):
    saved = []
    for item in transact_items:
        op = next(iter(item.values()), None)
        table = self.tables.get(op.get("TableName")) if isinstance(op, dict) else None
        if table is None:
            continue
        if table.stream_shard is not None:
            return _transact(self, transact_items)
        try:
            attrs = op["Key"] if "Key" in op else op["Item"]
            h, r = self.get_keys_value(table, attrs)
        except Exception:
            continue
        saved.append((table, h, r, copy.deepcopy(table.get_item(h, r))))
    _undo.on = True
    try:
        return _transact(self, transact_items)
    except BaseException:
        for table, h, r, before in reversed(saved):
            items, k = (table.items[h], r) if r is not None else (table.items, h)
            if before is None:
                items.pop(k, None)
            else:
                items[k] = before
        raise
    finally:
        _undo.on = False
models.DynamoDBBackend.transact_write_items = transact_write_items
import collections, json, time
from moto.dynamodb.exceptions import DynamodbException, ERROR_TYPE_PREFIX
class IdempotentParameterMismatch(DynamodbException):
    def __init__(self):
        super().__init__(ERROR_TYPE_PREFIX + "IdempotentParameterMismatchException",
                         message="Request parameters do not match the earlier request with this ClientRequestToken")
_tokens = collections.OrderedDict()
_handler_transact = DynamoHandler.transact_write_items
def handler_transact_write_items(self):
    token = self.body.get("ClientRequestToken")
    if not token:
        return _handler_transact(self)
    now = time.monotonic()
    while _tokens and now - next(iter(_tokens.values()))[0] > 600:
        _tokens.popitem(last=False)
    key = (self.current_account, self.region, token)
    params = {k: v for k, v in self.body.items() if k != "ClientRequestToken"}
    fingerprint = json.dumps(params, sort_keys=True, default=repr)
    seen = _tokens.get(key)
    if seen is not None:
        if seen[1] != fingerprint:
            raise IdempotentParameterMismatch()
        return seen[2]
    result = _handler_transact(self)
    _tokens[key] = (now, fingerprint, result)
    return result
DynamoHandler.transact_write_items = handler_transact_write_items
from moto.server import main
sys.exit(main(sys.argv[1:]))
"#;

/// Writes the launcher into the venv under a name derived from its content: the venv is shared
/// by every checkout on the machine, and one with another launcher must not replace this one
/// between writing it and starting it.
fn write_launcher(venv: &std::path::Path) -> std::io::Result<PathBuf> {
    use sha2::Digest as _;
    let source = LAUNCHER
        .replace("@MOTO_VERSION@", MOTO_VERSION)
        .replace("@WRONG_MOTO@", &LAUNCHER_WRONG_MOTO.to_string());
    let digest = sha2::Sha256::digest(source.as_bytes());
    let path = venv.join(format!(
        "karcis_moto_server-{}.py",
        hex::encode(&digest[..6])
    ));
    if std::fs::read_to_string(&path).ok().as_deref() != Some(source.as_str()) {
        let tmp = venv.join(format!(
            "karcis_moto_server-{}.py.{}",
            hex::encode(&digest[..6]),
            std::process::id()
        ));
        std::fs::write(&tmp, source)?;
        std::fs::rename(&tmp, &path)?;
    }
    Ok(path)
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A `moto_server` process on a loopback port.
#[derive(Debug)]
pub struct Moto {
    child: Mutex<Option<Child>>,
    pub endpoint: String,
}

impl Moto {
    /// Starts a server and waits until it answers (at most 60 s).
    pub fn start() -> std::io::Result<Self> {
        let venv = ensure_venv()?;
        // KARCIS_MOTO_PLAIN=1 runs the stock moto_server (to reproduce the race described at
        // LAUNCHER); never for the real suite.
        let launcher = if std::env::var("KARCIS_MOTO_PLAIN").is_ok_and(|v| v == "1") {
            venv.join("bin/moto_server")
        } else {
            write_launcher(&venv)?
        };
        let mut last_err = None;
        // A port can be taken between probing and binding: a few attempts.
        for _ in 0..3 {
            let port = free_port()?;
            // The watchdog shell kills moto when this test process is gone, so a server never
            // outlives its tests even if they abort.
            let script = format!(
                "'{python}' '{launcher}' -H 127.0.0.1 -p {port} >/dev/null 2>&1 & m=$!; \
                 trap 'kill $m 2>/dev/null' EXIT TERM; \
                 while kill -0 {pid} 2>/dev/null && kill -0 $m 2>/dev/null; do sleep 1; done; \
                 if ! kill -0 $m 2>/dev/null; then wait $m; exit $?; fi",
                python = venv.join("bin/python").display(),
                launcher = launcher.display(),
                pid = std::process::id(),
            );
            let child = Command::new("bash")
                .arg("-c")
                .arg(script)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()?;
            let moto = Self {
                child: Mutex::new(Some(child)),
                endpoint: format!("http://127.0.0.1:{port}"),
            };
            match moto.wait_ready(Duration::from_secs(60)) {
                Ok(()) => return Ok(moto),
                Err(e) if e.kind() == std::io::ErrorKind::Unsupported => return Err(e),
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| std::io::Error::other("moto did not start")))
    }

    fn wait_ready(&self, timeout: Duration) -> std::io::Result<()> {
        use std::io::Write as _;
        let addr = self.endpoint.trim_start_matches("http://").to_owned();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(child) = self
                .child
                .lock()
                .map_err(|_| std::io::Error::other("poisoned"))?
                .as_mut()
            {
                if let Some(status) = child.try_wait()? {
                    if status.code() == Some(LAUNCHER_WRONG_MOTO) {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::Unsupported,
                            format!(
                                "the moto launcher patches moto {MOTO_VERSION} only, and the \
                                 venv {} has another release: run `make moto-venv`",
                                venv_dir().display()
                            ),
                        ));
                    }
                    return Err(std::io::Error::other(format!("moto exited: {status}")));
                }
            }
            if let Ok(mut s) = std::net::TcpStream::connect(&addr) {
                s.set_read_timeout(Some(Duration::from_secs(2)))?;
                let req =
                    format!("GET /moto-api/ HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
                if s.write_all(req.as_bytes()).is_ok() {
                    let mut head = [0u8; 12];
                    if s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.") {
                        return Ok(());
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(std::io::Error::other("moto did not become ready in time"))
    }

    /// One server for the whole test binary, started on first use.
    pub fn shared() -> &'static Self {
        static SHARED: OnceLock<Moto> = OnceLock::new();
        SHARED.get_or_init(|| Self::start().expect("start moto_server"))
    }

    fn stop(&self) {
        if let Ok(mut guard) = self.child.lock() {
            if let Some(mut child) = guard.take() {
                // Killing the watchdog shell runs its EXIT trap, which kills moto.
                let _ = Command::new("kill")
                    .arg("-TERM")
                    .arg(child.id().to_string())
                    .status();
                let deadline = Instant::now() + Duration::from_secs(5);
                while Instant::now() < deadline {
                    if matches!(child.try_wait(), Ok(Some(_))) {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A name unique within this machine and run: `<prefix>-<pid>-<n>-<nanos>`.
pub fn unique_name(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{prefix}-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A fresh, isolated AWS environment on the shared moto server.
#[derive(Debug, Clone)]
pub struct TestEnv {
    pub endpoint: String,
    pub clients: Clients,
    pub config: Config,
    pub mint: QueuePair,
    pub notify: QueuePair,
    pub revoke: QueuePair,
    /// The DynamoDB behaviour simulator the DynamoDB client goes through, if any
    /// ([`TestEnv::through_sim`]); kept alive with the environment.
    pub sim: Option<Arc<dynamo_sim::Sim>>,
}

/// Receives before a message goes to its DLQ (the contract says 5).
pub const MAX_RECEIVE_COUNT: u32 = 5;

impl TestEnv {
    /// Table + KMS keys + queues (visibility timeout 1 s so redelivery is quick in tests).
    pub async fn new() -> Self {
        Self::with_config(|_| {}).await
    }

    /// As [`Self::new`], letting the test adjust the configuration.
    pub async fn with_config(adjust: impl FnOnce(&mut Config)) -> Self {
        let moto = Moto::shared();
        let sdk = crate::aws::sdk_config_for_endpoint(&moto.endpoint, "us-east-1").await;
        let clients = Clients::new(&sdk);
        let table = unique_name("karcis");
        crate::store::create_table(&clients.dynamodb, &table)
            .await
            .expect("create table");
        let erasure_log = unique_name("karcis-erasures");
        crate::store::create_erasure_log_table(&clients.dynamodb, &erasure_log)
            .await
            .expect("create erasure log table");
        let mut vars = BTreeMap::new();
        vars.insert("TABLE_NAME", table);
        vars.insert("ERASURE_LOG_TABLE", erasure_log);
        for (var, description) in [
            ("PII_KEY_ID", "pii"),
            ("ISSUER_KEY_ID", "issuer"),
            ("CONFIG_KEY_ID", "config"),
        ] {
            let key = provision::create_kms_key(&clients.kms, description)
                .await
                .expect("kms");
            vars.insert(var, key);
        }
        let sqs = &clients.sqs;
        let queue = |name: &'static str| async move {
            provision::create_queue_with_dlq(sqs, &unique_name(name), MAX_RECEIVE_COUNT, 1).await
        };
        let mint = queue("mint").await.expect("mint queue");
        let notify = queue("notify").await.expect("notify queue");
        let revoke = queue("revoke").await.expect("revoke queue");
        vars.insert("MINT_QUEUE_URL", mint.url.clone());
        vars.insert("NOTIFY_QUEUE_URL", notify.url.clone());
        vars.insert("REVOKE_QUEUE_URL", revoke.url.clone());
        let mut config = Config::from_lookup(|k| vars.get(k).cloned()).expect("test configuration");
        adjust(&mut config);
        Self {
            endpoint: moto.endpoint.clone(),
            clients,
            config,
            mint,
            notify,
            revoke,
            sim: None,
        }
    }

    /// This environment with every DynamoDB call going through `faults` (see [`faults`]).
    #[must_use]
    pub fn with_faults(&self, faults: &Arc<faults::Faults>) -> Self {
        let mut env = self.clone();
        env.clients.dynamodb = faults.install(&self.clients.dynamodb);
        env
    }

    /// Every port wired to this environment (system clock, OS RNG; see `Deps::with_clock`).
    pub fn deps(&self) -> crate::deps::Deps {
        crate::deps::Deps::from_clients(self.config.clone(), &self.clients)
    }

    pub fn store(&self) -> Arc<DynamoStore> {
        Arc::new(DynamoStore::new(
            self.clients.dynamodb.clone(),
            self.config.table_name.clone(),
        ))
    }

    pub fn keys(&self) -> Arc<KmsKeys> {
        Arc::new(KmsKeys::from_config(self.clients.kms.clone(), &self.config))
    }

    pub fn queue(&self) -> Arc<SqsQueue> {
        Arc::new(SqsQueue::from_config(
            self.clients.sqs.clone(),
            &self.config,
        ))
    }

    /// Every item of the table as raw bytes (see [`provision::raw_table_items`]).
    pub async fn raw_items(&self) -> Vec<Vec<u8>> {
        provision::raw_table_items(&self.clients.dynamodb, &self.config.table_name)
            .await
            .expect("scan")
    }

    /// How many items of the table have `type` = `item_type` (`order`, `ticket`, ...).
    pub async fn count_items(&self, item_type: &str) -> usize {
        let needle = format!("type={item_type}");
        self.raw_items()
            .await
            .iter()
            .filter(|i| contains_bytes(i, &needle))
            .count()
    }

    /// Every message body currently visible in the queues and DLQs. The messages are received
    /// (hidden while the peek runs) and then made visible again; each peek counts as one receive
    /// towards the redrive policy's `maxReceiveCount`.
    pub async fn peek_all_messages(&self) -> Vec<String> {
        let mut bodies = Vec::new();
        for url in [
            &self.mint.url,
            &self.mint.dlq_url,
            &self.notify.url,
            &self.notify.dlq_url,
            &self.revoke.url,
            &self.revoke.dlq_url,
        ] {
            let mut receipts = Vec::new();
            // Bounded: at most 20 receives per queue.
            for _ in 0..20 {
                let got = provision::receive_hidden(&self.clients.sqs, url, 60)
                    .await
                    .expect("receive");
                if got.is_empty() {
                    break;
                }
                for m in got {
                    bodies.push(m.body);
                    receipts.push(m.receipt_handle);
                }
            }
            for r in receipts {
                provision::release(&self.clients.sqs, url, &r)
                    .await
                    .expect("release");
            }
        }
        bodies
    }
}

/// True if `needle` occurs in `haystack` (case-insensitive for ASCII).
pub fn contains_bytes(haystack: &[u8], needle: &str) -> bool {
    let needle = needle.to_ascii_lowercase();
    let n = needle.as_bytes();
    !n.is_empty() && haystack.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

/// A settable clock.
#[derive(Debug, Default)]
pub struct TestClock(AtomicU64);

impl TestClock {
    pub fn new(now: u64) -> Self {
        Self(AtomicU64::new(now))
    }
    pub fn set(&self, now: u64) {
        self.0.store(now, Ordering::SeqCst);
    }
    pub fn advance(&self, secs: u64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// A deterministic (NOT secure) RNG for reproducible unit tests: SplitMix64.
#[derive(Debug, Default)]
pub struct SeqRng(AtomicU64);

impl SeqRng {
    pub fn new(seed: u64) -> Self {
        Self(AtomicU64::new(seed))
    }
}

impl Rng for SeqRng {
    fn fill(&self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            let mut z = self
                .0
                .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
                .wrapping_add(0x9E37_79B9_7F4A_7C15);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
        }
    }
}

/// A [`Keys`] decorator that records the purpose of every KMS call, so a test can count them
/// (e.g. "the key set is unwrapped once per cold start"). Install with `Deps::with_keys`.
pub struct CountingKeys {
    inner: Arc<dyn Keys>,
    decrypts: Mutex<Vec<KeyPurpose>>,
    generated: Mutex<Vec<KeyPurpose>>,
}

impl std::fmt::Debug for CountingKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CountingKeys")
    }
}

impl CountingKeys {
    pub fn new(inner: Arc<dyn Keys>) -> Self {
        Self {
            inner,
            decrypts: Mutex::new(Vec::new()),
            generated: Mutex::new(Vec::new()),
        }
    }

    /// How many `Decrypt` calls were made for a purpose matching `which`.
    pub fn decrypts(&self, which: impl Fn(&KeyPurpose) -> bool) -> usize {
        Self::count(&self.decrypts, which)
    }

    /// How many `GenerateDataKey` calls were made for a purpose matching `which`.
    pub fn generated(&self, which: impl Fn(&KeyPurpose) -> bool) -> usize {
        Self::count(&self.generated, which)
    }

    fn count(log: &Mutex<Vec<KeyPurpose>>, which: impl Fn(&KeyPurpose) -> bool) -> usize {
        log.lock()
            .map_or(0, |l| l.iter().filter(|p| which(p)).count())
    }

    fn record(log: &Mutex<Vec<KeyPurpose>>, purpose: &KeyPurpose) -> Result<()> {
        log.lock()
            .map_err(|_| Error::internal("poisoned"))?
            .push(purpose.clone());
        Ok(())
    }
}

#[async_trait]
impl Keys for CountingKeys {
    async fn generate_data_key(&self, purpose: &KeyPurpose) -> Result<DataKey> {
        Self::record(&self.generated, purpose)?;
        self.inner.generate_data_key(purpose).await
    }

    async fn decrypt(
        &self,
        purpose: &KeyPurpose,
        ciphertext: &[u8],
    ) -> Result<zeroize::Zeroizing<Vec<u8>>> {
        Self::record(&self.decrypts, purpose)?;
        self.inner.decrypt(purpose, ciphertext).await
    }

    async fn encrypt(&self, purpose: &KeyPurpose, plaintext: &[u8]) -> Result<Vec<u8>> {
        self.inner.encrypt(purpose, plaintext).await
    }
}

/// A hosted-payments double that records requests and answers with a deterministic reference.
/// For tests of checkout only; the real providers live in `crate::gateway`.
#[derive(Debug, Default)]
pub struct RecordingPayments {
    pub requests: Mutex<Vec<PaymentRequest>>,
    /// When set, `create_payment` fails with `Unavailable`.
    pub fail: std::sync::atomic::AtomicBool,
    /// How long `create_payment` takes (milliseconds), as a slow gateway would.
    pub latency_ms: AtomicU64,
}

#[async_trait]
impl HostedPayments for RecordingPayments {
    async fn create_payment(&self, request: &PaymentRequest) -> Result<PaymentReference> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(Error::unavailable("gateway down (test)"));
        }
        self.requests
            .lock()
            .map_err(|_| Error::internal("poisoned"))?
            .push(request.clone());
        let latency = self.latency_ms.load(Ordering::SeqCst);
        if latency > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(latency)).await;
        }
        Ok(PaymentReference {
            provider: request.provider.clone(),
            reference: format!("pay_{}", request.order_id),
            redirect_url: Some(format!(
                "https://pay.invalid/{}/{}",
                request.provider, request.order_id
            )),
            expires_at: Some(request.expires_at),
        })
    }
}

/// A notification sender that records what it would send.
#[derive(Debug, Default)]
pub struct RecordingSender {
    pub sent: Mutex<Vec<Notification>>,
}

#[async_trait]
impl NotificationSender for RecordingSender {
    async fn send(&self, notification: &Notification) -> Result<()> {
        self.sent
            .lock()
            .map_err(|_| Error::internal("poisoned"))?
            .push(notification.clone());
        Ok(())
    }
}

/// Plays Lambda's SQS event source mapping against a real queue: receives batches, hands them
/// to `handler` as an `SqsEvent`, deletes the messages not reported as failures. Failed
/// messages reappear after the visibility timeout and, after `maxReceiveCount` receives, SQS
/// moves them to the DLQ. Stops when the queue is empty or after `max_rounds` receives.
/// Returns the number of handler invocations.
pub async fn pump<F, Fut>(clients: &Clients, queue: &QueuePair, handler: F, max_rounds: u32) -> u32
where
    F: Fn(aws_lambda_events::event::sqs::SqsEvent) -> Fut,
    Fut: std::future::Future<Output = aws_lambda_events::event::sqs::SqsBatchResponse>,
{
    let mut invocations = 0;
    for _ in 0..max_rounds {
        let received = provision::receive(&clients.sqs, &queue.url, 10, 1)
            .await
            .expect("receive");
        if received.is_empty() {
            if provision::depth(&clients.sqs, &queue.url)
                .await
                .expect("depth")
                == 0
            {
                break;
            }
            continue;
        }
        let triples: Vec<(String, String, u32)> = received
            .iter()
            .map(|m| (m.message_id.clone(), m.body.clone(), m.receive_count))
            .collect();
        let event = crate::sqs::event_from(&triples, "arn:aws:sqs:us-east-1:123456789012:test");
        let response = handler(event).await;
        invocations += 1;
        let failed = crate::sqs::failed_ids(&response);
        for m in &received {
            if !failed.contains(&m.message_id) {
                provision::delete(&clients.sqs, &queue.url, &m.receipt_handle)
                    .await
                    .expect("delete");
            }
        }
    }
    invocations
}

/// Runs `f` while a minter built from `deps` consumes `env`'s mint queue (the event source
/// mapping, as in AWS): a device binding waits for the mint function's re-issue.
pub async fn with_minter<T>(
    env: &TestEnv,
    deps: crate::deps::Deps,
    f: impl std::future::Future<Output = T>,
) -> T {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (clients, queue, flag) = (env.clients.clone(), env.mint.clone(), stop.clone());
    let task = tokio::spawn(async move {
        let minter = crate::mint::Minter::new(deps);
        // Bounded: at most 600 receives (each waits up to 1 s on an empty queue).
        for _ in 0..600 {
            if flag.load(std::sync::atomic::Ordering::SeqCst) {
                break;
            }
            pump(&clients, &queue, |e| minter.handle(e), 1).await;
        }
    });
    let out = f.await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = task.await;
    out
}

/// An event spec for tests: one tier `ga` of `capacity` at IDR 150000, on sale, starting a day
/// after `now`.
pub fn sample_event_spec(event_id: &str, capacity: u32, now: u64) -> crate::admin::EventSpec {
    crate::admin::EventSpec {
        event_id: event_id.to_owned(),
        name: "Jakarta Fest".to_owned(),
        currency: "IDR".to_owned(),
        starts_at: now + 86_400,
        ends_at: now + 2 * 86_400,
        time_zone: None,
        max_per_order: Some(4),
        max_per_buyer: Some(6),
        on_sale: true,
        queue_mode: false,
        tiers: vec![crate::admin::TierSpec {
            tier_id: "ga".to_owned(),
            name: "General".to_owned(),
            price_minor: 150_000,
            capacity,
            gates: vec!["*".to_owned()],
            stock_shards: None,
        }],
    }
}

/// A checkout request body for tests (buyer `n`: distinct name, email and phone).
pub fn sample_checkout_body(event_id: &str, quantity: u32, n: u32) -> serde_json::Value {
    serde_json::json!({
        "event_id": event_id,
        "tier_id": "ga",
        "quantity": quantity,
        "buyer": sample_buyer(n),
        "consent": {"privacy_policy_version": "2026-01", "accepted": true}
    })
}

/// Buyer `n`'s details (plaintext that must never be found at rest).
pub fn sample_buyer(n: u32) -> serde_json::Value {
    serde_json::json!({
        "name": format!("Siti Rahmawati {n:04}"),
        "email": format!("siti.rahma{n:04}@example.co.id"),
        "phone": format!("+62812{:07}", 3_000_000 + n),
    })
}

/// Fires `n` copies of a request at once: each task waits at a barrier until all `n` are
/// spawned, then runs `make(i)`. Returns the results in task order.
///
/// # Panics
/// If a task panics.
pub async fn at_once<F, Fut, T>(n: usize, make: F) -> Vec<T>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let barrier = barrier.clone();
            let request = make(i);
            tokio::spawn(async move {
                barrier.wait().await;
                request.await
            })
        })
        .collect();
    let mut results = Vec::with_capacity(n);
    for task in tasks {
        results.push(task.await.expect("task panicked"));
    }
    results
}

/// Creates an S3 bucket on moto with boto3 from the moto venv (the functions crate has no S3
/// client: only DynamoDB's export/import touch S3, server side).
///
/// # Panics
/// If the venv's python fails.
pub fn create_s3_bucket(endpoint: &str, bucket: &str) {
    let python = venv_dir().join("bin").join("python");
    let status = std::process::Command::new(python)
        .args([
            "-c",
            "import sys, boto3; boto3.client('s3', endpoint_url=sys.argv[1], \
             region_name='us-east-1', aws_access_key_id='testing', \
             aws_secret_access_key='testing').create_bucket(Bucket=sys.argv[2])",
            endpoint,
            bucket,
        ])
        .status()
        .expect("python");
    assert!(status.success(), "create bucket {bucket}");
}
