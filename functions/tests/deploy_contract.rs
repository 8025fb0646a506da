//! The deploy contract: every function of `infra/template.yaml` starts, as its real binary, with
//! exactly the environment the template gives it, and answers its `events/` fixture.
//!
//! For each `AWS::Serverless::Function` (binary from `Metadata.BuildProperties.Binary`) the
//! environment is `Globals` + the function's `Environment.Variables`, references resolved
//! against the parameters (the template's `Default`, else [`test_parameters`]) and the local
//! moto resources of a [`TestEnv`] (table names, queue URLs, KMS key ARNs, the staff signing key
//! as the staff tests create it). An unresolved reference fails the test, naming it. The binary
//! (`CARGO_BIN_EXE_<bin>`) then runs with `env_clear()` + that environment + what Lambda itself
//! provides ([`lambda_environment`]), behind a local Lambda Runtime API
//! (`deploy_contract/runtime_api.rs`), and each fixture is invoked through it: no init error, an
//! HTTP status below 500 (the exact one where the fixture makes it clear) or a well-formed SQS
//! batch response. Every wait is bounded; the child is killed at the end.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "deploy_contract/runtime_api.rs"]
mod runtime_api;
#[path = "deploy_contract/template.rs"]
mod template;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use functions::audit_ingest::IngestTokens;
use functions::ports::{KeyPurpose, Keys as _};
use functions::staff::create_signing_key;
use functions::testing::{sample_event_spec, TestEnv};
use runtime_api::{Outcome, RuntimeApi};
use template::{FunctionSpec, Resolver, Template};
use tokio::io::AsyncReadExt as _;

const REGION: &str = "us-east-1"; // TestEnv's moto region
const ACCOUNT: &str = "123456789012"; // moto's default account
const STACK: &str = "karcis-contract";
const EVENT_ID: &str = "jakarta-fest-2026"; // the event of the fixtures
/// The worker's audit token in this test; the template gets only its SHA-256.
const AUDIT_TOKEN: &str = "contract-test-audit-token-0123456789abcdefghijklmnop";
/// One invocation, cold start included (a debug build on a loaded machine, moto shared).
const INVOKE_LIMIT: Duration = Duration::from_secs(120);

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The one table of parameter values this test supplies. Parameters without a `Default` must
/// be given at deploy (infra/README.md); the three ciphertexts have an empty default, but the
/// README's step 2 sets them before the functions that decrypt them can start, so they are
/// given here as an operator would: real KMS ciphertext under the config key.
fn test_parameters(
    gateway_secrets: String,
    revoker_key: String,
    captcha_secret: String,
) -> BTreeMap<&'static str, String> {
    BTreeMap::from([
        ("JwtIssuer", "https://idp.example.test/".to_owned()),
        ("JwtAudience", "karcis-admin-client".to_owned()),
        ("BuyerOrigin", "https://tickets.example.test".to_owned()),
        ("ScannerOrigin", "https://scan.example.test".to_owned()),
        ("ConsoleOrigin", "https://console.example.test".to_owned()),
        (
            "AuditIngestTokenSha256",
            IngestTokens::hash_hex(AUDIT_TOKEN),
        ),
        ("TurnstileHostnames", "tickets.example.test".to_owned()),
        (
            "SesFromAddress",
            "karcis <tiket@mail.example.test>".to_owned(),
        ),
        ("SesSendingDomain", "mail.example.test".to_owned()),
        ("GatewaySecretsCiphertext", gateway_secrets),
        ("RevokerKeyCiphertext", revoker_key),
        ("TurnstileSecretCiphertext", captcha_secret),
    ])
}

/// What an answer must be.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// An HTTP API (payload 2.0) response with this status.
    Status(u16),
    /// This status, and a body containing the text.
    StatusBody(u16, &'static str),
    /// `{"batchItemFailures": [{"itemIdentifier": ...}, ...]}`.
    SqsBatch,
    /// A JSON object (the report of a scheduled run).
    Report,
}

/// The fixtures each function is invoked with, in order, and what each must answer.
fn calls(binary: &str) -> Vec<(&'static str, Expect)> {
    use Expect::{Report, SqsBatch, Status, StatusBody};
    match binary {
        "checkout" => vec![
            ("checkout-get-event.json", Status(200)), // the event is created first
            // The deployed bot check comes first: a fixture carries no Turnstile token, so both
            // are refused before the body is read and before any call to siteverify.
            (
                "checkout-post-order-malformed.json",
                StatusBody(403, "captcha-failed"),
            ),
            (
                "checkout-post-order.json",
                StatusBody(403, "captcha-failed"),
            ),
            ("checkout-get-order.json", Status(404)), // no such order
        ],
        // Signed at 2026-11-25T09:00:00Z: outside Stripe's 300 s tolerance, refused.
        "payment-callback" => vec![("webhooks/stripe.json", Status(401))],
        "mint" => vec![("mint-sqs-batch.json", SqsBatch)],
        "revoke" => vec![("revoke-sqs-batch.json", SqsBatch)],
        "tickets" => vec![
            ("tickets-list.json", Status(404)),
            ("tickets-bind-device.json", Status(404)),
        ],
        // As checkout: no Turnstile token in the fixture, refused before any code is made.
        "privacy" => vec![("privacy/challenge.json", StatusBody(403, "captcha-failed"))],
        "sweeper" => vec![("sweeper-schedule.json", Report)],
        "retention" => vec![("retention-schedule.json", Report)],
        "notify" => vec![("notify-sqs-batch.json", SqsBatch)],
        // The daily job the schedule sends: the table has no PITR on moto, so the export fails,
        // is recorded and fails the message (a well-formed batch response either way).
        "backup" => vec![("backup-sqs-batch.json", SqsBatch)],
        "staff" => vec![
            ("staff-jwks.json", StatusBody(200, r#""crv":"P-256""#)), // the KMS key's
            ("staff-put-member.json", Status(401)),                   // placeholder console token
        ],
        "audit-ingest" => vec![
            ("audit-post-batch.json", Status(200)), // with the worker's token
            ("audit-get-entries.json", Status(401)), // placeholder console token
        ],
        "console" => vec![("console-get-sales.json", Status(401))], // placeholder console token
        _ => Vec::new(),
    }
}

/// Variables the Lambda service sets itself and a function may not (CreateFunction refuses
/// them); the template must leave them alone.
const RESERVED: &[&str] = &[
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
];

/// What Lambda itself provides to a `provided.al2023` function, plus the endpoint override that
/// points the SDK at moto instead of AWS (`AWS_ENDPOINT_URL`, as `functions::aws::sdk_config`
/// reads it) and moto's static credentials in place of the role's.
fn lambda_environment(
    name: &str,
    memory_mb: u64,
    api: &str,
    endpoint: &str,
) -> Vec<(String, String)> {
    [
        ("AWS_LAMBDA_RUNTIME_API", api.to_owned()),
        ("AWS_LAMBDA_FUNCTION_NAME", name.to_owned()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory_mb.to_string()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}")),
        (
            "AWS_LAMBDA_LOG_STREAM_NAME",
            "2026/11/29/[$LATEST]0123456789abcdef".to_owned(),
        ),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".to_owned()),
        ("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023".to_owned()),
        ("_HANDLER", "bootstrap".to_owned()),
        ("TZ", ":UTC".to_owned()),
        ("LANG", "en_US.UTF-8".to_owned()),
        ("AWS_REGION", REGION.to_owned()),
        ("AWS_DEFAULT_REGION", REGION.to_owned()),
        ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
        ("AWS_SESSION_TOKEN", "testing".to_owned()),
        ("AWS_ENDPOINT_URL", endpoint.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// The local counterparts of the template's resources, and the parameters.
struct World {
    env: TestEnv,
    resolver: Resolver,
}

async fn key_arn(env: &TestEnv, key_id: &str) -> String {
    let out = env
        .clients
        .kms
        .describe_key()
        .key_id(key_id)
        .send()
        .await
        .unwrap();
    out.key_metadata().unwrap().arn().unwrap().to_owned()
}

async fn queue_arn(env: &TestEnv, url: &str) -> String {
    let out = env
        .clients
        .sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap();
    out.attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .unwrap()
        .clone()
}

async fn ciphertext(env: &TestEnv, purpose: &KeyPurpose, plaintext: &[u8]) -> String {
    let wrapped = env.keys().encrypt(purpose, plaintext).await.unwrap();
    base64::engine::general_purpose::STANDARD.encode(wrapped)
}

impl World {
    async fn new(template: &Template) -> Self {
        let env = TestEnv::new().await;
        let gateway = ciphertext(
            &env,
            &KeyPurpose::GatewaySecrets,
            functions::gateway::testing::TEST_SECRETS_JSON.as_bytes(),
        )
        .await;
        let revoker = ciphertext(&env, &KeyPurpose::RevokerKey, "ab".repeat(32).as_bytes()).await;
        let captcha = ciphertext(&env, &KeyPurpose::CaptchaSecret, b"0x4AAAAAAAtest-secret").await;
        let mut resolver =
            Resolver::with_parameters(template, &test_parameters(gateway, revoker, captcha));
        for (k, v) in [
            ("AWS::StackName", STACK),
            ("AWS::Region", REGION),
            ("AWS::AccountId", ACCOUNT),
            ("AWS::Partition", "aws"),
            ("AWS::URLSuffix", "amazonaws.com"),
        ] {
            resolver.refs.insert(k.to_owned(), v.to_owned());
        }
        let c = &env.config;
        let table = c.table_name.clone();
        let erasures = c.erasure_log_table.clone().unwrap();
        resolver.refs.insert("Table".into(), table.clone());
        resolver
            .refs
            .insert("ErasureLogTable".into(), erasures.clone());
        for (logical, name) in [("Table", &table), ("ErasureLogTable", &erasures)] {
            let arn = format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}");
            resolver.attributes.insert(format!("{logical}.Arn"), arn);
        }
        let staff_key = create_signing_key(&env.clients.kms, "staff").await.unwrap();
        for (logical, id) in [
            ("PiiKey", c.pii_key_id.clone().unwrap()),
            ("IssuerKey", c.issuer_key_id.clone().unwrap()),
            ("ConfigKey", c.config_key_id.clone().unwrap()),
            ("StaffSigningKey", staff_key),
            ("BackupExportKey", c.config_key_id.clone().unwrap()),
        ] {
            let arn = key_arn(&env, &id).await;
            resolver.refs.insert(logical.into(), id);
            resolver.attributes.insert(format!("{logical}.Arn"), arn);
        }
        for (logical, pair) in [
            ("MintQueue", &env.mint),
            ("NotifyQueue", &env.notify),
            ("RevokeQueue", &env.revoke),
        ] {
            let arn = queue_arn(&env, &pair.url).await;
            let name = pair.url.rsplit('/').next().unwrap().to_owned();
            resolver.refs.insert(logical.into(), pair.url.clone());
            resolver.attributes.insert(format!("{logical}.Arn"), arn);
            resolver
                .attributes
                .insert(format!("{logical}.QueueName"), name);
        }
        // The backup function's bucket (the export target).
        let bucket = functions::testing::unique_name("karcis-backups");
        functions::testing::create_s3_bucket(&env.endpoint, &bucket);
        resolver.refs.insert("BackupBucket".into(), bucket);
        // The event the fixtures name (checkout's get-event, the queue messages).
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        functions::admin::create_event(&env.deps(), &sample_event_spec(EVENT_ID, 100, now))
            .await
            .unwrap();
        Self { env, resolver }
    }

    /// A fixture with its placeholders filled where this test holds the credential.
    fn fixture(name: &str) -> serde_json::Value {
        let path = repo_root().join("events").join(name);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let text = text.replace("REPLACE_WITH_AUDIT_INGEST_TOKEN", AUDIT_TOKEN);
        serde_json::from_str(&text).unwrap()
    }
}

/// A started function: its process, its runtime API and its output.
struct Lambda {
    child: tokio::process::Child,
    api: RuntimeApi,
    output: Arc<Mutex<Vec<u8>>>,
    timeout_secs: u64,
    spawned: std::time::Instant,
}

fn collect(
    stream: Option<impl tokio::io::AsyncRead + Unpin + Send + 'static>,
    into: Arc<Mutex<Vec<u8>>>,
) {
    let Some(mut stream) = stream else { return };
    tokio::spawn(async move {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stream.read(&mut buf).await {
            if n == 0 {
                break;
            }
            let mut out = into.lock().unwrap();
            if out.len() < 256 * 1024 {
                out.extend_from_slice(&buf[..n]);
            }
        }
    });
}

impl Lambda {
    async fn start(spec: &FunctionSpec, env: &BTreeMap<String, String>, world: &World) -> Self {
        let name = world.resolver.resolve(&spec.name).unwrap();
        let arn = format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}");
        let api = RuntimeApi::start(&arn).await.unwrap();
        let program = binary_path(&spec.binary);
        let mut cmd = tokio::process::Command::new(&program);
        cmd.env_clear()
            .envs(env)
            .envs(lambda_environment(
                &name,
                spec.memory_mb,
                &api.address,
                &world.env.endpoint,
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let spawned = std::time::Instant::now();
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
        let output = Arc::new(Mutex::new(Vec::new()));
        collect(child.stdout.take(), output.clone());
        collect(child.stderr.take(), output.clone());
        Self {
            child,
            api,
            output,
            timeout_secs: spec.timeout_secs,
            spawned,
        }
    }

    fn output_tail(&self) -> String {
        let out = self.output.lock().unwrap();
        let text = String::from_utf8_lossy(&out);
        let start = text.len().saturating_sub(3000);
        text.get(start..).unwrap_or(&text).to_owned()
    }

    /// Invokes `payload`; the handler's answer, or why there is none.
    async fn invoke(&mut self, payload: serde_json::Value) -> Result<serde_json::Value, String> {
        let id = self.api.queue(payload, self.timeout_secs).await;
        let result = tokio::select! {
            outcome = self.api.outcome() => match outcome {
                Some(Outcome::Response { request_id, body }) if request_id == id => Ok(body),
                Some(Outcome::Response { request_id, .. }) => Err(format!("answer for {request_id}, not {id}")),
                Some(Outcome::Error { body, .. }) => Err(format!("invocation error: {body}")),
                Some(Outcome::InitError { body }) => Err(format!("init error: {body}")),
                None => Err("the runtime API stopped".to_owned()),
            },
            status = self.child.wait() => Err(format!("the function exited during init or invoke: {status:?}")),
            () = tokio::time::sleep(INVOKE_LIMIT) => Err(format!("no answer in {INVOKE_LIMIT:?}")),
        };
        result.map_err(|e| {
            format!(
                "{e}\n--- function output (tail) ---\n{}",
                self.output_tail()
            )
        })
    }

    async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}

/// The binary to start: `CARGO_BIN_EXE_<binary>` (this build), or `<dir>/<binary>` when
/// `KARCIS_CONTRACT_BIN_DIR` is set (e.g. a release build, to measure its init time).
fn binary_path(binary: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os("KARCIS_CONTRACT_BIN_DIR") {
        return PathBuf::from(dir).join(binary);
    }
    let path = match binary {
        "checkout" => env!("CARGO_BIN_EXE_checkout"),
        "payment-callback" => env!("CARGO_BIN_EXE_payment-callback"),
        "mint" => env!("CARGO_BIN_EXE_mint"),
        "revoke" => env!("CARGO_BIN_EXE_revoke"),
        "tickets" => env!("CARGO_BIN_EXE_tickets"),
        "privacy" => env!("CARGO_BIN_EXE_privacy"),
        "sweeper" => env!("CARGO_BIN_EXE_sweeper"),
        "retention" => env!("CARGO_BIN_EXE_retention"),
        "notify" => env!("CARGO_BIN_EXE_notify"),
        "backup" => env!("CARGO_BIN_EXE_backup"),
        "staff" => env!("CARGO_BIN_EXE_staff"),
        "audit-ingest" => env!("CARGO_BIN_EXE_audit-ingest"),
        "console" => env!("CARGO_BIN_EXE_console"),
        "admin" => env!("CARGO_BIN_EXE_admin"),
        other => panic!("the template builds binary {other:?}, which functions/ does not have"),
    };
    PathBuf::from(path)
}

fn check(fixture: &str, expect: Expect, answer: &serde_json::Value) -> Result<(), String> {
    let shown = || {
        let mut s = answer.to_string();
        s.truncate(600);
        s
    };
    match expect {
        Expect::StatusBody(want, text) => {
            check(fixture, Expect::Status(want), answer)?;
            if !answer["body"].as_str().is_some_and(|b| b.contains(text)) {
                return Err(format!("{fixture}: body without {text}: {}", shown()));
            }
        }
        Expect::Status(want) => {
            let got = answer["statusCode"]
                .as_u64()
                .ok_or_else(|| format!("{fixture}: not an HTTP response: {}", shown()))?;
            if got >= 500 || got != u64::from(want) {
                return Err(format!(
                    "{fixture}: status {got}, expected {want}: {}",
                    shown()
                ));
            }
        }
        Expect::SqsBatch => {
            let failures = answer["batchItemFailures"]
                .as_array()
                .ok_or_else(|| format!("{fixture}: not an SQS batch response: {}", shown()))?;
            if !failures.iter().all(|f| f["itemIdentifier"].is_string()) {
                return Err(format!(
                    "{fixture}: malformed batchItemFailures: {}",
                    shown()
                ));
            }
        }
        Expect::Report => {
            if !answer.is_object() {
                return Err(format!("{fixture}: not a JSON report: {}", shown()));
            }
        }
    }
    Ok(())
}

fn load_template() -> Template {
    Template::load(&repo_root().join("infra/template.yaml")).unwrap()
}

/// Starts `binary` as the template deploys it and invokes its fixtures.
async fn contract(binary: &str) {
    let template = load_template();
    let spec = template
        .functions
        .iter()
        .find(|f| f.binary == binary)
        .unwrap_or_else(|| panic!("no function of the template builds {binary}"))
        .clone();
    let world = World::new(&template).await;
    let env = world
        .resolver
        .environment(&spec)
        .unwrap_or_else(|unresolved| {
            panic!("unresolved in the template:\n{}", unresolved.join("\n"))
        });
    let reserved: Vec<&String> = env
        .keys()
        .filter(|k| RESERVED.contains(&k.as_str()))
        .collect();
    assert!(
        reserved.is_empty(),
        "{binary}: the template sets Lambda's reserved {reserved:?}"
    );
    let mut lambda = Lambda::start(&spec, &env, &world).await;
    let mut problems = Vec::new();
    for (fixture, expect) in calls(binary) {
        match lambda.invoke(World::fixture(fixture)).await {
            Ok(answer) => {
                let status = match (answer.get("statusCode"), answer.get("batchItemFailures")) {
                    (Some(s), _) => format!("HTTP {s}"),
                    (None, Some(f)) => format!("batchItemFailures {f}"),
                    (None, None) => "report".to_owned(),
                };
                eprintln!("{binary}: {fixture} -> {status}");
                if let Err(p) = check(fixture, expect, &answer) {
                    problems.push(p);
                }
            }
            Err(e) => {
                problems.push(format!("{fixture}: {e}"));
                break; // the process is gone or stuck
            }
        }
    }
    // Reported, not asserted: from spawn to the first `GET /next` (a debug build, moto local).
    if let Some(first) = lambda.api.first_poll() {
        let ms = first.duration_since(lambda.spawned).as_millis();
        eprintln!("{binary}: init {ms} ms (spawn to the first GET /next)");
    }
    let tail = lambda.output_tail();
    lambda.stop().await;
    assert!(
        problems.is_empty(),
        "{binary} ({}) with the template's environment:\n{}\n--- output ---\n{tail}",
        spec.logical_id,
        problems.join("\n")
    );
}

macro_rules! contract_tests {
    ($($test:ident => $binary:literal,)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                contract($binary).await;
            }
        )*
        /// Every function of the template has its case above, and every case a function.
        #[test]
        fn every_function_of_the_template_is_covered() {
            let template = load_template();
            let built: BTreeSet<String> = template.functions.iter().map(|f| f.binary.clone()).collect();
            let covered: BTreeSet<String> = [$($binary),*].iter().map(|b| (*b).to_owned()).collect();
            assert_eq!(built, covered, "add a contract test for each new function of the template");
            for b in &covered {
                assert!(!calls(b).is_empty(), "{b}: no fixture to invoke");
            }
        }
    };
}

contract_tests! {
    checkout_starts_and_answers => "checkout",
    payment_callback_starts_and_answers => "payment-callback",
    mint_starts_and_answers => "mint",
    revoke_starts_and_answers => "revoke",
    tickets_starts_and_answers => "tickets",
    privacy_starts_and_answers => "privacy",
    sweeper_starts_and_answers => "sweeper",
    retention_starts_and_answers => "retention",
    notify_starts_and_answers => "notify",
    backup_starts_and_answers => "backup",
    staff_starts_and_answers => "staff",
    audit_ingest_starts_and_answers => "audit-ingest",
    console_starts_and_answers => "console",
}

/// The staff function's routes in the template are exactly the router's
/// (`functions::staff::ROUTES`): a route the code serves but the API does not send it (as
/// `/v1/staff/members/{staff_id}/revocations` was) is unreachable when deployed.
#[test]
fn every_staff_route_is_in_the_template() {
    let template = load_template();
    let staff = template
        .functions
        .iter()
        .find(|f| f.binary == "staff")
        .unwrap();
    let served: BTreeSet<String> = functions::staff::ROUTES
        .iter()
        .map(|r| (*r).to_owned())
        .collect();
    assert_eq!(
        staff.routes, served,
        "the template's staff routes (left) differ from the router's (right)"
    );
}

/// The contract bites: a reference without a value, an unknown function and a resource without
/// a local counterpart each fail, named by function and variable.
#[test]
fn unresolved_references_are_named() {
    let text = r#"
Parameters:
  HasDefault: { Type: String, Default: "x" }
  NoDefault: { Type: String }
Globals:
  Function:
    Environment:
      Variables:
        GLOBAL: !Ref HasDefault
Resources:
  F:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: f } }
    Properties:
      Environment:
        Variables:
          A: !Ref NoDefault
          B: !If [Cond, a, b]
          C: !GetAtt Elsewhere.Arn
          D: !Sub "${AWS::StackName}-${HasDefault}"
"#;
    let t = Template::parse(text).unwrap();
    let mut r = Resolver::with_parameters(&t, &BTreeMap::new());
    r.refs.insert("AWS::StackName".into(), "s".into());
    let errors = r.environment(&t.functions[0]).unwrap_err();
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(
        errors[0].starts_with("F (f): A: !Ref NoDefault"),
        "{errors:?}"
    );
    assert!(errors[1].starts_with("F (f): B: If"), "{errors:?}");
    assert!(
        errors[2].starts_with("F (f): C: !GetAtt Elsewhere.Arn"),
        "{errors:?}"
    );
    let mut given = BTreeMap::new();
    given.insert("NoDefault", "given".to_owned());
    let r = Resolver::with_parameters(&t, &given);
    let f = &t.functions[0];
    assert_eq!(r.resolve(&f.env["GLOBAL"]).unwrap(), "x");
    assert_eq!(r.resolve(&f.env["A"]).unwrap(), "given");
}
