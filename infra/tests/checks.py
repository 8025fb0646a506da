"""Security and contract checks over an expanded (plain CloudFormation) template.

Each check takes the template as a dict (the JSON that scripts/expand.py writes) and returns a
list of problems, empty when the template is fine. test_template.py asserts that the real
template has none; test_negative.py asserts that broken copies do, so the checks are known to
bite. Standard library only.
"""

from __future__ import annotations

from typing import Any, Iterator

Template = dict[str, Any]

# --- the contract (briefs/contract.md) ---------------------------------------------------------

COMMON_ENV = {"TABLE_NAME", "RUST_LOG"}
STAFF_ENV = {
    "STAFF_SIGNING_KEY_ID",
    "STAFF_PREVIOUS_KEY_IDS",
    "STAFF_TOKEN_AUDIENCE",
    "STAFF_CONSOLE_AUDIENCE",
    "STAFF_TOKEN_ISSUER",
}

# The guard of checkout and privacy challenges (functions/src/guard.rs, captcha/) and the real
# notification senders (functions/src/senders/).
# The risk rules' settings (functions/src/fraud/risk.rs).
RISK_ENV = {
    "RISK_WINDOW_SECS", "RISK_MAX_ORDERS_PER_IP", "RISK_MAX_ORDERS_PER_DEVICE", "RISK_MAX_ORDERS_PER_PHONE",
    "RISK_MAX_FAILED_PAYMENTS", "RISK_MAX_CARDS_PER_EMAIL", "RISK_MAX_EMAILS_PER_DEVICE",
    "RISK_HIGH_RISK_COUNTRIES", "RISK_STEP_UP_SCORE", "RISK_HOLD_SCORE", "RISK_BLOCK_SCORE",
}
GUARD_ENV = {"TURNSTILE_SECRET", "TURNSTILE_HOSTNAMES", "TURNSTILE_FAIL_OPEN", "CLIENT_RATE_LIMIT", "CLIENT_RATE_WINDOW_SECS"}
SENDER_ENV = {"SES_FROM_ADDRESS", "NOTIFY_SITE_URL", "SMS_ENABLED", "SMS_SENDER_ID", "WHATSAPP_PHONE_NUMBER_ID", "WHATSAPP_ACCESS_TOKEN"}

# binary name -> routes ("METHOD path"), trigger kind, extra env vars it must receive
FUNCTIONS: dict[str, dict[str, Any]] = {
    "checkout": {
        "routes": {"POST /v1/orders", "GET /v1/orders/{order_id}", "POST /v1/orders/{order_id}/verify",
                   "POST /v1/orders/{order_id}/verify/resend", "GET /v1/events/{event_id}",
                   # The fraud admin routes (console token checked in code: functions/src/fraud/routes.rs).
                   "GET /v1/fraud/blacklist", "POST /v1/fraud/blacklist", "DELETE /v1/fraud/blacklist/{id}",
                   "GET /v1/fraud/flagged", "POST /v1/fraud/holds/{order_id}/{action}"},
        # CHECKOUT_*_URL: where the gateway returns the buyer (bin/checkout.rs requires both).
        "env": {
            "PII_KEY_ID", "CONFIG_KEY_ID", "GATEWAY_SECRETS", "PAYMENT_PROVIDERS", "GATEWAY_SANDBOX",
            "CHECKOUT_SUCCESS_URL", "CHECKOUT_CANCEL_URL",
            "MINT_QUEUE_URL",  # an admin's release of a held order queues its mint
        } | GUARD_ENV | RISK_ENV | STAFF_ENV,
    },
    "payment-callback": {
        "routes": {"POST /v1/webhooks/{provider}"},
        # The same PAYMENT_PROVIDERS as checkout: webhooks of other providers are refused.
        # PII_KEY_ID, RISK_WINDOW_SECS: cards against the blacklist, failed payments counted.
        "env": {"CONFIG_KEY_ID", "GATEWAY_SECRETS", "MINT_QUEUE_URL", "PAYMENT_PROVIDERS", "GATEWAY_SANDBOX",
                "PII_KEY_ID", "RISK_WINDOW_SECS"},
    },
    "mint": {"queue": "MintQueue", "env": {"ISSUER_KEY_ID", "NOTIFY_QUEUE_URL"}},
    "tickets": {
        "routes": {"GET /v1/orders/{order_id}/tickets", "POST /v1/tickets/{ticket_id}/device"},
        # Device binding asks mint to re-issue (no issuer key here: least privilege) and queues
        # the old credential's retirement at the door (REVOKE_QUEUE_URL).
        "env": {"MINT_QUEUE_URL", "REVOKE_QUEUE_URL"},
    },
    "privacy": {
        "routes": {
            "POST /v1/privacy/challenge",
            "POST /v1/privacy/export",
            "POST /v1/privacy/delete",
            "PUT /v1/privacy/consents",
        },
        "env": {"PII_KEY_ID", "CONFIG_KEY_ID", "NOTIFY_QUEUE_URL"} | GUARD_ENV | SENDER_ENV,
    },
    "sweeper": {"schedule": "rate(1 minute)", "env": set()},
    "retention": {"schedule": "rate(1 day)", "env": {"RETENTION_DAYS"}},
    "notify": {"queue": "NotifyQueue", "env": {"PII_KEY_ID", "CONFIG_KEY_ID"} | SENDER_ENV},
    # Refunds and chargebacks: revokes the order's tickets at the edge (machine credential).
    "revoke": {"queue": "RevokeQueue", "env": {"CONFIG_KEY_ID", "EDGE_URL", "REVOKER_KEY"}},
    # Staff tokens and the door audit (contract, H3b). Their routes are public at the API on
    # purpose: the HTTP API's JWT authorizer accepts only RSA-signed tokens, the staff tokens are
    # ES256 from KMS, so the functions verify them (and the worker's bearer token) in code.
    "staff": {
        "routes": {
            "GET /v1/staff/jwks",
            "GET /v1/staff/log",
            "GET /v1/staff/members/{staff_id}",
            "PUT /v1/staff/members/{staff_id}",
            "POST /v1/staff/members/{staff_id}/tokens",
            # Password sign-in: a setup code (admins), the member's password, the sign-in.
            "POST /v1/staff/members/{staff_id}/password-setup",
            "POST /v1/staff/password",
            "POST /v1/staff/sign-in",
            # A device-bound door token and a proof by its key for a new one (DPoP).
            "POST /v1/staff/refresh",
            # Door-token revocations (one token or all of a member's), admins only.
            "POST /v1/staff/members/{staff_id}/revocations",
        },
        # EDGE_BASE_URL: deactivations and revocations go to the door's deny-list.
        # PII_KEY_ID: the blind index of sign-in clients and the TOTP data keys.
        "env": STAFF_ENV | {"EDGE_BASE_URL", "PII_KEY_ID"},
    },
    "audit-ingest": {
        "routes": {"POST /v1/audit/batches", "GET /v1/audit/events/{event_id}/entries"},
        # AUDIT_HEAD_PUBLIC_KEY: per-event tokens and signed batch heads (functions/src/audit_heads.rs).
        "env": STAFF_ENV | {"AUDIT_INGEST_TOKEN_SHA256", "AUDIT_HEAD_PUBLIC_KEY"},
    },
    # The operators' console (functions/src/console/): reports, events, door revocations, the
    # scan audit. Staff management stays on the staff routes. ISSUER_KEY_ID: new events' key
    # sets (GenerateDataKey only); REVOKE_QUEUE_URL: a refunded order's tickets to the door.
    # Queue-driven backups (functions/src/operations/backup.rs): the daily full export.
    "backup": {"queue": "BackupQueue", "env": {"BACKUP_BUCKET", "BACKUP_KMS_KEY_ID"}},
    "console": {
        "routes": {
            "GET /v1/console/session",
            "POST /v1/console/events",
            "GET /v1/console/events/{event_id}",
            "GET /v1/console/events/{event_id}/sales",
            "GET /v1/console/events/{event_id}/refunds",
            "GET /v1/console/events/{event_id}/reconciliation/{provider}",
            "PUT /v1/console/events/{event_id}/on-sale",
            "POST /v1/console/events/{event_id}/orders/{order_id}/revocation",
            "GET /v1/console/events/{event_id}/scan-audit",
        },
        "env": STAFF_ENV | {"ISSUER_KEY_ID", "REVOKE_QUEUE_URL"},
    },
}

# --- the justified exceptions ------------------------------------------------------------------

# Actions that AWS only authorises on Resource "*": the only ones an identity policy may pair
# with "*". Each with its reason.
STAR_RESOURCE_ACTIONS = {
    "xray:PutTraceSegments": "X-Ray has no resource-level permissions",
    "xray:PutTelemetryRecords": "X-Ray has no resource-level permissions",
    # Only with a Deny on every topic ARN in the same policy (check_sms_publishing).
    "sns:Publish": "SMS to a phone number has no resource ARN",
}

# Settings for local runs only: no deployed function may receive them.
LOCAL_ONLY_ENV = {"KARCIS_LOGGING_SENDER", "TURNSTILE_SITEVERIFY_URL", "WHATSAPP_BASE_URL", "KARCIS_LOCAL_PORT"}

# Asymmetric keys, exempt from the rotation check, with the reason. Each must be exactly this
# key spec and usage, and check_signing_key binds its use.
ASYMMETRIC_KEYS = {
    "StaffSigningKey": (
        "ECC_NIST_P256",
        "SIGN_VERIFY",
        "KMS cannot rotate asymmetric keys automatically (EnableKeyRotation must be absent); "
        "rotation is a new key, the old one kept in STAFF_PREVIOUS_KEY_IDS for 12 h",
    ),
}

# Who may use the staff signing key, by action (logical ids; OperatorRoleArn is the parameter).
SIGNING_KEY_USERS = {
    "kms:Sign": {"StaffRole", "OperatorRoleArn"},
    # CheckoutRole: the fraud admin routes verify console tokens; ConsoleRole: the console's.
    "kms:GetPublicKey": {"StaffRole", "AuditIngestRole", "CheckoutRole", "ConsoleRole", "OperatorRoleArn"},
}

# AWS managed policies allowed, per role, with the reason.
MANAGED_POLICIES = {
    "BackupRole": {
        "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup":
            "AWS Backup's own service policy, maintained by AWS as the service changes",
        "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores":
            "AWS Backup's own restore policy, maintained by AWS",
    }
}

# The partition keys of the single table each function may touch (IAM `StringLike` patterns of
# `dynamodb:LeadingKeys`), from the Rust adapters (functions/src/store/mod.rs `keys`, the
# function modules; the table is in infra/README.md). Every statement of a function's role on
# the table must carry `ForAllValues:StringLike: {dynamodb:LeadingKeys: [...]}` and the union of
# its lists must be exactly this set: a pattern outside it is excess privilege, a missing one an
# AccessDenied in AWS that moto (which does not enforce IAM) never shows. TransactWriteItems is
# authorised item by item, so every item of a transaction counts.
TABLE_LEADING_KEYS = {
    # RATE#*: the per-client rate limit (functions/src/guard.rs).
    # BLOCK#*, FRAUD#*, RISK#*: blacklist entries, risk counters, decisions (functions/src/fraud);
    # STAFF#*, STAFFAUDIT: the fraud admin routes' console members and staff log.
    "checkout": {"ORDER#*", "IDEMPOTENCY#*", "EVENT#*", "CUSTOMER#*", "EMAIL#*", "RATE#*", "CONFIG",
                 "BLOCK#*", "FRAUD#*", "RISK#*", "STAFF#*", "STAFFAUDIT"},
    # BLOCK#*, FRAUD#*, RISK#*, CONFIG (the blind-index key): the card check and failure counts.
    "payment-callback": {"ORDER#*", "PAYMENT#*", "DEDUP#*", "BLOCK#*", "FRAUD#*", "RISK#*", "CONFIG"},
    "mint": {"ORDER#*", "EVENT#*"},
    "tickets": {"ORDER#*", "EVENT#*"},
    "privacy": {"CUSTOMER#*", "EMAIL#*", "ORDER#*", "PRIVACY_CHALLENGE#*", "RATE#*", "CONFIG"},
    "sweeper": {"ORDER#*", "EVENT#*", "CUSTOMER#*"},
    "retention": {"CUSTOMER#*", "EMAIL#*", "EVENT#*", "CONFIG"},
    # ORDER#*: the phone number sealed on the order (SMS, WhatsApp).
    "notify": {"CUSTOMER#*", "DEDUP#*", "ORDER#*"},
    # DEDUP#*: an operator's mass revocation record (operations/mass_revoke.rs), read only.
    "revoke": {"ORDER#*", "DEDUP#*"},
    # BACKUP#*: the record of each backup run (functions/src/store/backups.rs).
    "backup": {"BACKUP#*"},
    # CONFIG: the wrapped blind-index key (sign-in client counters).
    "staff": {"STAFF#*", "STAFFAUDIT", "CONFIG"},
    # CONFIG: the line before which every staff token is refused (admin revoke-staff-tokens).
    "audit-ingest": {"AUDIT#*", "STAFF#*", "CONFIG"},
    "console": {"EVENT#*", "KID#*", "ORDER#*", "STAFF#*", "STAFFAUDIT", "AUDIT#*", "CONFIG"},
}
# The gsi1 partition keys (gsi1pk) each function may Query; a function not named has no gsi1.
INDEX_LEADING_KEYS = {
    # The blacklist and the flagged decisions, newest first.
    "checkout": {"gsi1": {"BLACKLIST", "FRAUD_FLAGGED"}},
    "tickets": {"gsi1": {"TICKET#*"}},
    "sweeper": {"gsi1": {"RESERVED"}},
}
# Actions that carry a partition key, so LeadingKeys bounds them.
KEYED_ACTIONS = {
    "dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem",
    "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem", "dynamodb:BatchGetItem",
    "dynamodb:BatchWriteItem",
}
# Table actions without a partition key (LeadingKeys cannot bound them: a ForAllValues condition
# is vacuously true when the request has no key), per function, each with its reason. Such an
# action must stand in its own statement, on the table only.
UNKEYED_TABLE_ACTIONS = {
    "console": {
        "dynamodb:Scan": "the finance reports' scan of one event's orders (console/store.rs), read "
        "only, projected to the attributes without personal data (dynamodb:Attributes)",
    },
    "backup": {
        "dynamodb:ExportTableToPointInTime": "the daily full export of the table to S3 "
        "(operations/backup.rs): an export copies every partition and names none",
    },
    "retention": {
        "dynamodb:Scan": "the daily scan of the CUSTOMER# order links (retention.rs): a Scan reads "
        "every partition and names none; read only",
    },
}

# --- helpers -----------------------------------------------------------------------------------


def resources(t: Template, rtype: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, res in t.get("Resources", {}).items():
        if res.get("Type") == rtype:
            yield name, res


def props(res: dict[str, Any]) -> dict[str, Any]:
    return res.get("Properties", {}) or {}


def as_list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else [v]


def ref_target(v: Any) -> str | None:
    """The logical id a value points at through Ref, Fn::GetAtt or a plain ${X} / ${X.Attr} Sub."""
    if isinstance(v, dict) and len(v) == 1:
        (k, arg), = v.items()
        if k == "Ref" and isinstance(arg, str):
            return arg
        if k == "Fn::GetAtt":
            if isinstance(arg, list) and arg:
                return arg[0]
            if isinstance(arg, str):
                return arg.split(".")[0]
        if k == "Fn::Sub" and isinstance(arg, str) and arg.startswith("${") and arg.endswith("}"):
            return arg[2:-1].split(".")[0]
    return None


def points_at(t: Template, v: Any, rtype: str) -> bool:
    target = ref_target(v)
    return target is not None and t.get("Resources", {}).get(target, {}).get("Type") == rtype


def functions_by_binary(t: Template) -> dict[str, tuple[str, dict[str, Any]]]:
    out = {}
    for name, res in resources(t, "AWS::Lambda::Function"):
        binary = res.get("Metadata", {}).get("BuildProperties", {}).get("Binary")
        if binary:
            out[binary] = (name, res)
    return out


def policy_documents(t: Template) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(kind, where, document) for every policy document in the template."""
    for name, res in t.get("Resources", {}).items():
        p = props(res)
        rtype = res.get("Type")
        if rtype == "AWS::IAM::Role":
            for pol in p.get("Policies", []) or []:
                yield "identity", f"{name}/{pol.get('PolicyName')}", pol.get("PolicyDocument", {})
        elif rtype in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            yield "identity", name, p.get("PolicyDocument", {})
        elif rtype == "AWS::KMS::Key":
            yield "key", name, p.get("KeyPolicy", {})
        elif rtype in ("AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy"):
            yield "resource", name, p.get("PolicyDocument", {})


def statements(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for st in as_list(doc.get("Statement", [])):
        if isinstance(st, dict) and set(st) == {"Fn::If"}:
            # conditional statement: check both branches that are statements
            for branch in st["Fn::If"][1:]:
                if isinstance(branch, dict) and "Effect" in branch:
                    yield branch
        elif isinstance(st, dict):
            yield st


# --- checks ------------------------------------------------------------------------------------


def protection_problems(t: Template, name: str, res: dict) -> list[str]:
    """PITR, SSE with a key of this template, deletion protection, Retain, on-demand billing."""
    problems = []
    p = props(res)
    if p.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled") is not True:
        problems.append(f"{name}: point-in-time recovery is not enabled")
    sse = p.get("SSESpecification", {})
    if sse.get("SSEEnabled") is not True or sse.get("SSEType") != "KMS":
        problems.append(f"{name}: SSE is not KMS")
    if not points_at(t, sse.get("KMSMasterKeyId"), "AWS::KMS::Key"):
        problems.append(f"{name}: SSE does not use a customer-managed key of this template")
    if p.get("DeletionProtectionEnabled") is not True:
        problems.append(f"{name}: deletion protection is off")
    if res.get("DeletionPolicy") != "Retain":
        problems.append(f"{name}: DeletionPolicy is not Retain")
    return problems


def check_table(t: Template) -> list[str]:
    problems = []
    tables = dict(resources(t, "AWS::DynamoDB::Table"))
    if set(tables) != {"Table", "ErasureLogTable"}:
        return [f"expected the tables Table and ErasureLogTable, found {sorted(tables)}"]
    # The erasure log: the same protection, its own pk/sk, no TTL (an erasure is never forgotten).
    log = props(tables["ErasureLogTable"])
    for problem in protection_problems(t, "ErasureLogTable", tables["ErasureLogTable"]):
        problems.append(problem)
    if {k["KeyType"]: k["AttributeName"] for k in log.get("KeySchema", [])} != {"HASH": "pk", "RANGE": "sk"}:
        problems.append("ErasureLogTable: key schema is not pk/sk")
    if "TimeToLiveSpecification" in log:
        problems.append("ErasureLogTable: has a TTL (erasures must be kept)")
    name, res = "Table", tables["Table"]
    problems.extend(protection_problems(t, name, res))
    p = props(res)
    ttl = p.get("TimeToLiveSpecification", {})
    if ttl.get("AttributeName") != "ttl" or ttl.get("Enabled") is not True:
        problems.append(f"{name}: TTL on attribute 'ttl' is not enabled")
    if p.get("BillingMode") != "PAY_PER_REQUEST":
        problems.append(f"{name}: billing is not PAY_PER_REQUEST")
    keys = {k["KeyType"]: k["AttributeName"] for k in p.get("KeySchema", [])}
    if keys != {"HASH": "pk", "RANGE": "sk"}:
        problems.append(f"{name}: key schema is not pk/sk")
    gsis = {g["IndexName"]: g for g in p.get("GlobalSecondaryIndexes", [])}
    g = gsis.get("gsi1")
    if g is None:
        problems.append(f"{name}: GSI gsi1 missing")
    else:
        gkeys = {k["KeyType"]: k["AttributeName"] for k in g.get("KeySchema", [])}
        if gkeys != {"HASH": "gsi1pk", "RANGE": "gsi1sk"} or g.get("Projection", {}).get("ProjectionType") != "ALL":
            problems.append(f"{name}: gsi1 is not gsi1pk/gsi1sk with projection ALL")
    if "StreamSpecification" in p:
        problems.append(f"{name}: streams are enabled but the contract does not need them")
    return problems


def dead_letter_queues(t: Template) -> set[str]:
    """Queues that serve as a DLQ: a redrive target or a function's dead-letter target."""
    dlqs = set()
    for _, res in resources(t, "AWS::SQS::Queue"):
        target = ref_target(props(res).get("RedrivePolicy", {}).get("deadLetterTargetArn"))
        if target:
            dlqs.add(target)
    for _, res in resources(t, "AWS::Lambda::Function"):
        target = ref_target(props(res).get("DeadLetterConfig", {}).get("TargetArn"))
        if target:
            dlqs.add(target)
    return dlqs


def check_queues(t: Template) -> list[str]:
    problems = []
    dlqs = dead_letter_queues(t)
    for name, res in resources(t, "AWS::SQS::Queue"):
        p = props(res)
        if not points_at(t, p.get("KmsMasterKeyId"), "AWS::KMS::Key"):
            problems.append(f"{name}: not encrypted with a customer-managed key of this template")
        if name in dlqs:
            if p.get("MessageRetentionPeriod") != 1209600:
                problems.append(f"{name}: a DLQ should keep messages 14 days")
            continue
        redrive = p.get("RedrivePolicy")
        if not redrive:
            problems.append(f"{name}: queue has no dead-letter queue")
            continue
        if not points_at(t, redrive.get("deadLetterTargetArn"), "AWS::SQS::Queue"):
            problems.append(f"{name}: dead-letter target is not a queue of this template")
        if redrive.get("maxReceiveCount") != 5:
            problems.append(f"{name}: maxReceiveCount is not 5")
    return problems


def _wild(action: str) -> bool:
    return "*" in action or "?" in action


def check_policies(t: Template) -> list[str]:
    problems = []
    for kind, where, doc in policy_documents(t):
        for st in statements(doc):
            if "NotAction" in st or "NotResource" in st or "NotPrincipal" in st:
                problems.append(f"{where}: NotAction/NotResource/NotPrincipal is not allowed")
            actions = [a for a in as_list(st.get("Action", [])) if isinstance(a, str)]
            for a in actions:
                if _wild(a):
                    problems.append(f"{where}: wildcard action {a!r}")
            principal = st.get("Principal")
            if principal == "*" or (isinstance(principal, dict) and "*" in as_list(principal.get("AWS", []))):
                problems.append(f"{where}: wildcard principal")
            star = "*" in as_list(st.get("Resource", []))
            if not star:
                continue
            if kind == "key":
                continue  # in a key policy, "*" means the key itself
            if st.get("Effect") == "Allow":
                unjustified = [a for a in actions if a not in STAR_RESOURCE_ACTIONS]
                if unjustified:
                    problems.append(f"{where}: Resource '*' for {unjustified} without a justified exception")
    for name, res in resources(t, "AWS::IAM::Role"):
        allowed = MANAGED_POLICIES.get(name, {})
        for arn in props(res).get("ManagedPolicyArns", []) or []:
            text = arn.get("Fn::Sub") if isinstance(arn, dict) else arn
            if text not in allowed:
                problems.append(f"{name}: managed policy {text!r} is not a justified exception")
    return problems


def check_functions(t: Template) -> list[str]:
    problems = []
    roles_seen: dict[str, str] = {}
    for name, res in resources(t, "AWS::Lambda::Function"):
        p = props(res)
        if p.get("Architectures") != ["arm64"]:
            problems.append(f"{name}: architecture is not arm64")
        if p.get("Runtime") != "provided.al2023":
            problems.append(f"{name}: runtime is not provided.al2023")
        if p.get("Handler") != "bootstrap":
            problems.append(f"{name}: handler is not bootstrap")
        meta = res.get("Metadata", {})
        if meta.get("BuildMethod") != "rust-cargolambda" or not meta.get("BuildProperties", {}).get("Binary"):
            problems.append(f"{name}: not built by rust-cargolambda with a binary name")
        if not points_at(t, p.get("LoggingConfig", {}).get("LogGroup"), "AWS::Logs::LogGroup"):
            problems.append(f"{name}: does not log to a log group of this template")
        role = ref_target(p.get("Role"))
        if not points_at(t, p.get("Role"), "AWS::IAM::Role"):
            problems.append(f"{name}: role is not a role of this template")
        elif role in roles_seen:
            problems.append(f"{name}: shares role {role} with {roles_seen[role]}")
        else:
            roles_seen[role] = name
    return problems


def check_kms(t: Template) -> list[str]:
    problems = []
    for name, res in resources(t, "AWS::KMS::Key"):
        p = props(res)
        if res.get("DeletionPolicy") != "Retain":
            problems.append(f"{name}: DeletionPolicy is not Retain (deleting a key shreds its data)")
        if name in ASYMMETRIC_KEYS:
            spec, usage, _why = ASYMMETRIC_KEYS[name]
            if p.get("KeySpec") != spec or p.get("KeyUsage") != usage:
                problems.append(f"{name}: exempt from rotation only as a {spec} {usage} key")
            if p.get("EnableKeyRotation"):
                problems.append(f"{name}: asymmetric keys cannot have EnableKeyRotation")
            continue
        if p.get("EnableKeyRotation") is not True:
            problems.append(f"{name}: key rotation is off")
        if p.get("KeySpec", "SYMMETRIC_DEFAULT") != "SYMMETRIC_DEFAULT":
            problems.append(f"{name}: not a symmetric key")
    return problems


def check_signing_key(t: Template) -> list[str]:
    """The staff signing key: Sign only RAW with ECDSA_SHA_256, and only by the named users."""
    problems = []
    res = t.get("Resources", {}).get("StaffSigningKey")
    if res is None:
        return ["StaffSigningKey: missing"]
    admin = f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:root"
    for st in statements(props(res).get("KeyPolicy", {})):
        where = f"StaffSigningKey/{st.get('Sid')}"
        acts = set(as_list(st.get("Action", [])))
        principals = set()
        for pr in as_list((st.get("Principal") or {}).get("AWS", [])):
            text = pr.get("Fn::Sub") if isinstance(pr, dict) and "Fn::Sub" in pr else None
            principals.add("root" if text == admin else ref_target(pr))
        if "root" in principals:
            if acts & {"kms:Sign", "kms:Verify", "kms:GetPublicKey"}:
                problems.append(f"{where}: the account root may administer the key, not use it")
            continue
        unknown = acts - set(SIGNING_KEY_USERS)
        if unknown:
            problems.append(f"{where}: actions {sorted(unknown)} on the signing key")
        for act in acts & set(SIGNING_KEY_USERS):
            extra = principals - SIGNING_KEY_USERS[act]
            if extra:
                problems.append(f"{where}: {sorted(p or '?' for p in extra)} may not {act}")
        if "kms:Sign" in acts:
            cond = st.get("Condition", {}).get("StringEquals", {})
            if cond.get("kms:SigningAlgorithm") != "ECDSA_SHA_256" or cond.get("kms:MessageType") != "RAW":
                problems.append(f"{where}: kms:Sign without SigningAlgorithm=ECDSA_SHA_256 and MessageType=RAW")
    return problems


def check_logs(t: Template) -> list[str]:
    problems = []
    for name, res in resources(t, "AWS::Logs::LogGroup"):
        p = props(res)
        if "RetentionInDays" not in p:
            problems.append(f"{name}: no log retention")
        if not points_at(t, p.get("KmsKeyId"), "AWS::KMS::Key"):
            problems.append(f"{name}: log group not encrypted with a key of this template")
    return problems


def check_event_sources(t: Template) -> list[str]:
    problems = []
    for name, res in resources(t, "AWS::Lambda::EventSourceMapping"):
        p = props(res)
        if points_at(t, p.get("EventSourceArn"), "AWS::SQS::Queue"):
            if "ReportBatchItemFailures" not in (p.get("FunctionResponseTypes") or []):
                problems.append(f"{name}: SQS mapping without ReportBatchItemFailures")
    return problems


def check_alarms(t: Template) -> list[str]:
    problems = []
    alarms = [props(r) for _, r in resources(t, "AWS::CloudWatch::Alarm")]

    def watched(metric: str, dimension: str) -> set[str]:
        out = set()
        for a in alarms:
            if a.get("MetricName") != metric:
                continue
            for d in a.get("Dimensions", []):
                if d.get("Name") == dimension and ref_target(d.get("Value")):
                    out.add(ref_target(d.get("Value")))
        return out

    for dlq in dead_letter_queues(t):
        if dlq not in watched("ApproximateNumberOfMessagesVisible", "QueueName"):
            problems.append(f"{dlq}: no alarm on DLQ depth")
    errors, throttles = watched("Errors", "FunctionName"), watched("Throttles", "FunctionName")
    for name, _ in resources(t, "AWS::Lambda::Function"):
        if name not in errors:
            problems.append(f"{name}: no alarm on errors")
        if name not in throttles:
            problems.append(f"{name}: no alarm on throttles")
    for a in alarms:
        if not any(points_at(t, x, "AWS::SNS::Topic") for x in a.get("AlarmActions", [])):
            problems.append(f"alarm {a.get('AlarmDescription')!r}: no SNS action")
    for name, res in resources(t, "AWS::SNS::Topic"):
        if not points_at(t, props(res).get("KmsMasterKeyId"), "AWS::KMS::Key"):
            problems.append(f"{name}: topic not encrypted with a key of this template")
    return problems


def check_backups(t: Template) -> list[str]:
    problems = []
    vaults = list(resources(t, "AWS::Backup::BackupVault"))
    if not vaults:
        return ["no backup vault"]
    for name, res in vaults:
        if not points_at(t, props(res).get("EncryptionKeyArn"), "AWS::KMS::Key"):
            problems.append(f"{name}: vault not encrypted with a key of this template")
    rules = [
        r for _, res in resources(t, "AWS::Backup::BackupPlan")
        for r in props(res).get("BackupPlan", {}).get("BackupPlanRule", [])
    ]
    if not any(str(r.get("ScheduleExpression", "")).startswith("cron(0 ") and r.get("ScheduleExpression", "").endswith("* * ? *)") for r in rules):
        problems.append("no daily backup rule")
    selected = {
        ref_target(x)
        for _, res in resources(t, "AWS::Backup::BackupSelection")
        for x in props(res).get("BackupSelection", {}).get("Resources", [])
    }
    for name, _ in resources(t, "AWS::DynamoDB::Table"):
        if name not in selected:
            problems.append(f"{name}: not selected by a backup plan")
    return problems


def routes(t: Template) -> dict[str, tuple[str, bool]]:
    """'METHOD path' -> (function logical id, public) from the HTTP API's OpenAPI body."""
    out = {}
    for _, res in resources(t, "AWS::ApiGatewayV2::Api"):
        body = props(res).get("Body", {})
        for path, methods in body.get("paths", {}).items():
            for method, op in methods.items():
                uri = op.get("x-amazon-apigateway-integration", {}).get("uri", {})
                text = uri.get("Fn::Sub", "") if isinstance(uri, dict) else str(uri)
                fn = text.split("functions/${")[-1].split(".Arn}")[0] if "functions/${" in text else None
                security = op.get("security")
                public = security == [{"NONE": []}]
                out[f"{method.upper()} {path}"] = (fn, public)
    return out


def check_http_api(t: Template) -> list[str]:
    problems = []
    apis = list(resources(t, "AWS::ApiGatewayV2::Api"))
    if len(apis) != 1:
        return [f"expected one HTTP API, found {len(apis)}"]
    _, api = apis[0]
    body = props(api).get("Body", {})
    schemes = body.get("components", {}).get("securitySchemes", {})
    jwt = [s for s in schemes.values() if s.get("x-amazon-apigateway-authorizer", {}).get("type") == "jwt"]
    if len(jwt) != 1:
        problems.append("HTTP API: expected one JWT authorizer")
    else:
        conf = jwt[0]["x-amazon-apigateway-authorizer"].get("jwtConfiguration", {})
        if ref_target(conf.get("issuer")) != "JwtIssuer" or ref_target(conf.get("audience")) != "JwtAudience":
            problems.append("HTTP API: JWT issuer/audience do not come from the JwtIssuer/JwtAudience parameters")
    cors = body.get("x-amazon-apigateway-cors")
    if not isinstance(cors, dict) or not isinstance(cors.get("allowOrigins"), list) or "*" in cors.get("allowOrigins", []):
        problems.append("HTTP API: CORS allowOrigins is not an explicit list of origins")
    contract_public = set()
    by_binary = functions_by_binary(t)
    for binary, spec in FUNCTIONS.items():
        for route in spec.get("routes", set()):
            contract_public.add(route)
            got = routes(t).get(route)
            expected_fn = by_binary.get(binary, (None,))[0]
            if got is None:
                problems.append(f"route {route} missing")
            elif got[0] != expected_fn:
                problems.append(f"route {route} goes to {got[0]}, not {expected_fn}")
            elif not got[1]:
                problems.append(f"route {route} should be public (no authorizer) per the contract")
    for route, (_, public) in routes(t).items():
        if public and route not in contract_public:
            problems.append(f"route {route} is public but not a public route of the contract")
        if route.split(" ", 1)[1].startswith("/v1/admin") and public:
            problems.append(f"admin route {route} has no authorizer")
    stages = [props(r) for _, r in resources(t, "AWS::ApiGatewayV2::Stage")]
    if not stages or not all(s.get("AccessLogSettings", {}).get("DestinationArn") for s in stages):
        problems.append("HTTP API: stage without access logs")
    if not stages or not all(s.get("DefaultRouteSettings", {}).get("ThrottlingRateLimit") for s in stages):
        problems.append("HTTP API: stage without a throttle")
    return problems


def check_contract(t: Template) -> list[str]:
    problems = []
    by_binary = functions_by_binary(t)
    if set(by_binary) != set(FUNCTIONS):
        problems.append(f"functions {sorted(by_binary)} differ from the contract {sorted(FUNCTIONS)}")
    for binary, spec in FUNCTIONS.items():
        if binary not in by_binary:
            continue
        name, res = by_binary[binary]
        env = set(props(res).get("Environment", {}).get("Variables", {}))
        missing = (COMMON_ENV | spec["env"]) - env
        if missing:
            problems.append(f"{binary}: missing env {sorted(missing)}")
        if "queue" in spec:
            maps = [
                props(r) for _, r in resources(t, "AWS::Lambda::EventSourceMapping")
                if ref_target(props(r).get("FunctionName")) == name
            ]
            if not any(ref_target(m.get("EventSourceArn")) == spec["queue"] for m in maps):
                problems.append(f"{binary}: not triggered by {spec['queue']}")
        if "schedule" in spec:
            rules = [
                props(r) for _, r in resources(t, "AWS::Events::Rule")
                if any(ref_target(x.get("Arn")) == name for x in props(r).get("Targets", []))
            ]
            if not any(r.get("ScheduleExpression") == spec["schedule"] for r in rules):
                problems.append(f"{binary}: not scheduled {spec['schedule']}")
    return problems


def check_local_only_settings(t: Template) -> list[str]:
    """No deployed function gets a local-run setting (the logging sender, the stub URLs)."""
    problems = []
    for _, (name, res) in functions_by_binary(t).items():
        env = set(props(res).get("Environment", {}).get("Variables", {}))
        for var in sorted(env & LOCAL_ONLY_ENV):
            problems.append(f"{name}: {var} is for local runs only")
    return problems


def check_sms_publishing(t: Template) -> list[str]:
    """sns:Publish on "*" (direct SMS) only next to a Deny of publishing to any topic."""
    problems = []
    for kind, where, doc in policy_documents(t):
        sts = list(statements(doc))
        allows_star = any(
            st.get("Effect") == "Allow" and "sns:Publish" in as_list(st.get("Action", []))
            and "*" in as_list(st.get("Resource", []))
            for st in sts
        )
        denies_topics = any(
            st.get("Effect") == "Deny" and "sns:Publish" in as_list(st.get("Action", []))
            and any(isinstance(r, dict) and str(r.get("Fn::Sub", "")).endswith(":sns:*:*:*") for r in as_list(st.get("Resource", [])))
            for st in sts
        )
        if allows_star and not denies_topics:
            problems.append(f"{where}: sns:Publish on '*' without a Deny on every topic")
    return problems


def check_envelope_keys(t: Template) -> list[str]:
    """The PII, issuer and config keys: every use is bound to its encryption-context purpose."""
    problems = []
    # The config key wraps two configuration secrets, each under its own purpose.
    purposes = {
        "PiiKey": {"customer-pii", "staff-totp"},
        "IssuerKey": {"ticket-issuer"},
        "ConfigKey": {"gateway-secrets", "revoker-key", "captcha-secret", "messaging-secrets"},
    }
    use = {"kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptFrom", "kms:ReEncryptTo"}
    for key, purpose in purposes.items():
        res = t.get("Resources", {}).get(key)
        if res is None:
            problems.append(f"{key}: missing")
            continue
        for st in statements(props(res).get("KeyPolicy", {})):
            acts = set(as_list(st.get("Action", [])))
            if not acts & use:
                continue
            cond = st.get("Condition", {}).get("StringEquals", {})
            if cond.get("kms:EncryptionContext:purpose") not in purpose:
                problems.append(f"{key}/{st.get('Sid')}: use of the key without encryption context purpose in {sorted(purpose)}")
            for p in as_list(st.get("Principal", {}).get("AWS", [])):
                who = ref_target(p)
                if who not in KEY_USERS[key] | {"OperatorRoleArn"}:
                    problems.append(f"{key}/{st.get('Sid')}: {who or p} may use the key (allowed: {sorted(KEY_USERS[key])})")
    return problems


# Who may use each envelope key (least privilege). Only mint signs tickets: the public tickets
# function claims a ticket for a device and asks mint to re-issue over the mint queue.
KEY_USERS = {
    # StaffRole: the blind-index key and the staff TOTP data keys only. PaymentCallbackRole:
    # Decrypt of the blind-index key only (the card check).
    "PiiKey": {"CheckoutRole", "PrivacyRole", "NotifyRole", "RetentionRole", "StaffRole", "PaymentCallbackRole"},
    # ConsoleRole: GenerateDataKey only, for a new event's key set (never Decrypt).
    "IssuerKey": {"MintRole", "ConsoleRole"},
    # + the Turnstile secret (checkout, privacy) and the WhatsApp token (notify, privacy)
    "ConfigKey": {"CheckoutRole", "PaymentCallbackRole", "RevokeRole", "PrivacyRole", "NotifyRole"},
}


def _table_resource(v: Any) -> str | None:
    """"table", "index/<name>" for the single table (Table), None for anything else."""
    if ref_target(v) == "Table":
        return "table"
    if isinstance(v, dict) and isinstance(v.get("Fn::Sub"), str) and v["Fn::Sub"].startswith("${Table.Arn}/index/"):
        return v["Fn::Sub"][len("${Table.Arn}/"):]
    if isinstance(v, dict) and v.get("Fn::Sub") == "${Table.Arn}/export/*":
        return "export"
    if isinstance(v, dict) and "Table" in str(v) and "ErasureLogTable" not in str(v):
        return "unknown"
    return None


def check_leading_keys(t: Template) -> list[str]:
    """Every role's statement on the table is bounded by dynamodb:LeadingKeys to its allow-list."""
    problems = []
    role_of = {}
    for binary, (_, res) in functions_by_binary(t).items():
        role_of[ref_target(props(res).get("Role"))] = binary
    for role, res in resources(t, "AWS::IAM::Role"):
        binary = role_of.get(role)
        granted: dict[str, set[str]] = {}
        for pol in props(res).get("Policies", []) or []:
            where = f"{role}/{pol.get('PolicyName')}"
            for st in statements(pol.get("PolicyDocument", {})):
                if st.get("Effect") != "Allow":
                    continue
                actions = {a for a in as_list(st.get("Action", [])) if isinstance(a, str)}
                dyn = {a for a in actions if a.startswith("dynamodb:")}
                if not dyn:
                    continue
                raw = as_list(st.get("Resource", []))
                if "*" in raw:
                    problems.append(f"{where}: DynamoDB actions on Resource '*' cannot be bounded to the table's keys")
                    continue
                targets = {r for r in (_table_resource(v) for v in raw) if r is not None}
                if not targets:
                    continue  # another table (the erasure log)
                if binary is None:
                    problems.append(f"{where}: a role that is no function's acts on the table")
                    continue
                if "unknown" in targets:
                    problems.append(f"{where}: a resource of the table in an unrecognised form")
                    continue
                if len(targets) > 1 or len(raw) != 1:
                    problems.append(f"{where}: table and index (or other resources) in one statement; give each its own LeadingKeys list")
                    continue
                (target,) = targets
                if target == "export" and dyn == actions == {"dynamodb:DescribeExport"}:
                    continue  # an export's status (backup), no item of the table
                unkeyed = UNKEYED_TABLE_ACTIONS.get(binary, {})
                if target == "table" and dyn <= set(unkeyed) and dyn == actions:
                    continue  # the justified exception: no key to bound
                if target != "table" and not dyn <= {"dynamodb:Query"}:
                    problems.append(f"{where}: only Query on {target}, not {sorted(dyn - {'dynamodb:Query'})}")
                loose = sorted(dyn - KEYED_ACTIONS)
                if loose:
                    problems.append(f"{where}: {loose} name no partition key: LeadingKeys does not bound them")
                cond = st.get("Condition", {}) or {}
                keys = cond.get("ForAllValues:StringLike", {}).get("dynamodb:LeadingKeys")
                if not isinstance(keys, list) or not keys or not all(isinstance(k, str) for k in keys):
                    problems.append(f"{where}: {target} statement without a ForAllValues:StringLike dynamodb:LeadingKeys list")
                    continue
                others = [op for op, body in cond.items() if op != "ForAllValues:StringLike" and "dynamodb:LeadingKeys" in body]
                if others:
                    problems.append(f"{where}: dynamodb:LeadingKeys also under {others}")
                granted.setdefault(target, set()).update(keys)
        if binary is None:
            continue
        expected = {"table": TABLE_LEADING_KEYS.get(binary, set())}
        expected.update({f"index/{i}": k for i, k in INDEX_LEADING_KEYS.get(binary, {}).items()})
        for target in sorted(set(expected) | set(granted)):
            want, got = expected.get(target, set()), granted.get(target, set())
            if got - want:
                problems.append(f"{role} ({binary}): {target} partition keys {sorted(got - want)} outside its allow-list")
            if want - got:
                problems.append(f"{role} ({binary}): {target} partition keys {sorted(want - got)} of its allow-list not granted (AccessDenied in AWS)")
    return problems


# --- static hosting (web/site, web/scanner) ------------------------------------------------------

# Viewer security policies of CloudFront that allow nothing below TLS 1.2.
TLS_POLICIES = {"TLSv1.2_2021", "TLSv1.2_2025", "TLSv1.3_2025"}
# Source expressions no CSP directive of the web apps may carry.
UNSAFE_SOURCES = {"'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'", "*", "http:", "https:", "data:"}
# Directives every CSP must set, with the only value each may have.
REQUIRED_DIRECTIVES = {"frame-ancestors": ["'none'"], "object-src": ["'none'"], "base-uri": ["'none'"]}
REFERRER_POLICIES = {"no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin"}


def csp_directives(text: str) -> dict[str, list[str]]:
    """'a x y; b z' -> {'a': ['x', 'y'], 'b': ['z']} (the text of a Fn::Sub as written)."""
    out = {}
    for part in text.split(";"):
        words = part.split()
        if words:
            out[words[0]] = words[1:]
    return out


def _sub_text(v: Any) -> str | None:
    if isinstance(v, str):
        return v
    if isinstance(v, dict) and isinstance(v.get("Fn::Sub"), str):
        return v["Fn::Sub"]
    return None


def headers_policy_problems(name: str, res: dict[str, Any]) -> list[str]:
    problems = []
    sec = props(res).get("ResponseHeadersPolicyConfig", {}).get("SecurityHeadersConfig", {})
    csp = _sub_text(sec.get("ContentSecurityPolicy", {}).get("ContentSecurityPolicy"))
    if not csp or sec.get("ContentSecurityPolicy", {}).get("Override") is not True:
        problems.append(f"{name}: no Content-Security-Policy (overriding the origin's)")
    else:
        d = csp_directives(csp)
        if "default-src" not in d:
            problems.append(f"{name}: CSP without default-src")
        for directive, want in REQUIRED_DIRECTIVES.items():
            if d.get(directive) != want:
                problems.append(f"{name}: CSP {directive} is {d.get(directive)}, not {want}")
        for directive, sources in d.items():
            bad = sorted(set(sources) & UNSAFE_SOURCES - ({"data:"} if directive == "img-src" else set()))
            if bad:
                problems.append(f"{name}: CSP {directive} allows {bad}")
    hsts = sec.get("StrictTransportSecurity", {})
    if not isinstance(hsts.get("AccessControlMaxAgeSec"), int) or hsts["AccessControlMaxAgeSec"] < 31536000:
        problems.append(f"{name}: HSTS missing or shorter than a year")
    if sec.get("FrameOptions", {}).get("FrameOption") != "DENY":
        problems.append(f"{name}: X-Frame-Options is not DENY")
    if sec.get("ReferrerPolicy", {}).get("ReferrerPolicy") not in REFERRER_POLICIES:
        problems.append(f"{name}: referrer policy leaks URLs to other origins")
    if "ContentTypeOptions" not in sec:
        problems.append(f"{name}: no X-Content-Type-Options: nosniff")
    return problems


def distribution_problems(t: Template, name: str, res: dict[str, Any]) -> list[str]:
    problems = []
    cfg = props(res).get("DistributionConfig", {})
    for origin in cfg.get("Origins", []):
        if not points_at(t, origin.get("DomainName"), "AWS::S3::Bucket"):
            continue
        if not points_at(t, origin.get("OriginAccessControlId"), "AWS::CloudFront::OriginAccessControl"):
            problems.append(f"{name}: S3 origin {origin.get('Id')} without origin access control")
        if (origin.get("S3OriginConfig") or {}).get("OriginAccessIdentity", "") != "":
            problems.append(f"{name}: S3 origin {origin.get('Id')} uses a legacy origin access identity")
    cert = cfg.get("ViewerCertificate", {})
    if cert.get("CloudFrontDefaultCertificate") or cert.get("MinimumProtocolVersion") not in TLS_POLICIES:
        problems.append(f"{name}: viewer TLS minimum {cert.get('MinimumProtocolVersion')} is not TLS 1.2+")
    if cert.get("SslSupportMethod") != "sni-only":
        problems.append(f"{name}: not SNI-only (a dedicated-IP certificate)")
    # The API's distribution (no S3 origin) has its own check: check_api_edge.
    static = any(points_at(t, o.get("DomainName"), "AWS::S3::Bucket") for o in cfg.get("Origins", []))
    for beh in [cfg.get("DefaultCacheBehavior", {})] + list(cfg.get("CacheBehaviors", [])):
        where = f"{name}/{beh.get('PathPattern', 'default')}"
        if beh.get("ViewerProtocolPolicy") not in ("redirect-to-https", "https-only"):
            problems.append(f"{where}: plain HTTP served")
        if not static:
            continue
        if not points_at(t, beh.get("ResponseHeadersPolicyId"), "AWS::CloudFront::ResponseHeadersPolicy"):
            problems.append(f"{where}: no response headers policy of this template")
        if set(beh.get("AllowedMethods", ["GET", "HEAD"])) - {"GET", "HEAD", "OPTIONS"}:
            problems.append(f"{where}: allows writes to a static origin")
    return problems


def bucket_problems(t: Template, name: str, res: dict[str, Any]) -> list[str]:
    problems = []
    p = props(res)
    block = p.get("PublicAccessBlockConfiguration", {})
    for flag in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"):
        if block.get(flag) is not True:
            problems.append(f"{name}: {flag} is not true")
    if not p.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration"):
        problems.append(f"{name}: no default encryption")
    if p.get("VersioningConfiguration", {}).get("Status") != "Enabled":
        problems.append(f"{name}: versioning is off")
    rules = p.get("OwnershipControls", {}).get("Rules", [])
    if [r.get("ObjectOwnership") for r in rules] != ["BucketOwnerEnforced"]:
        problems.append(f"{name}: ACLs are not disabled (BucketOwnerEnforced)")
    policies = [props(r).get("PolicyDocument", {}) for _, r in resources(t, "AWS::S3::BucketPolicy") if ref_target(props(r).get("Bucket")) == name]
    sts = [st for doc in policies for st in statements(doc)]
    tls_only = any(
        st.get("Effect") == "Deny" and st.get("Action") == "s3:*" and st.get("Principal") == "*"
        and st.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
        and len(as_list(st.get("Resource"))) == 2
        for st in sts
    )
    if not tls_only:
        problems.append(f"{name}: no Deny of every request without TLS on the bucket and its objects")
    for st in sts:
        if st.get("Effect") != "Allow":
            continue
        source = st.get("Condition", {}).get("StringEquals", {}).get("AWS:SourceArn")
        dist = _sub_text(source) or ""
        ok = st.get("Principal") == {"Service": "cloudfront.amazonaws.com"} and as_list(st.get("Action")) == ["s3:GetObject"]
        target = dist.rsplit("/${", 1)[-1].rstrip("}") if ":distribution/${" in dist else None
        if not ok or t.get("Resources", {}).get(target, {}).get("Type") != "AWS::CloudFront::Distribution":
            problems.append(f"{name}: {st.get('Sid')} grants more than GetObject to one distribution of this template")
    return problems


def check_static_hosting(t: Template) -> list[str]:
    """web/site at BuyerOrigin, web/scanner at ScannerOrigin, web/console at ConsoleOrigin: private buckets behind OAC,
    security headers, TLS 1.2+."""
    problems = []
    dists = dict(resources(t, "AWS::CloudFront::Distribution"))
    served = {}
    for name, res in dists.items():
        problems.extend(distribution_problems(t, name, res))
        cfg = props(res).get("DistributionConfig", {})
        for alias in cfg.get("Aliases", []):
            origin = str(alias)
            for param in ("BuyerOrigin", "ScannerOrigin", "ConsoleOrigin"):
                if param in origin:
                    served[param] = [ref_target(o.get("DomainName")) for o in cfg.get("Origins", [])]
    if (served.get("BuyerOrigin") != ["SiteBucket"] or served.get("ScannerOrigin") != ["ScannerBucket"]
            or served.get("ConsoleOrigin") != ["ConsoleBucket"]):
        problems.append(f"the web apps are not served at their origins: {served}")
    for name, res in resources(t, "AWS::CloudFront::ResponseHeadersPolicy"):
        problems.extend(headers_policy_problems(name, res))
    for name, res in resources(t, "AWS::S3::Bucket"):
        problems.extend(bucket_problems(t, name, res))
    return problems


ALL_CHECKS = [
    check_table,
    check_queues,
    check_policies,
    check_functions,
    check_kms,
    check_logs,
    check_event_sources,
    check_alarms,
    check_backups,
    check_http_api,
    check_contract,
    check_envelope_keys,
    check_signing_key,
    check_leading_keys,
    check_static_hosting,
    check_local_only_settings,
    check_sms_publishing,
]


def all_problems(t: Template) -> list[str]:
    return [p for check in ALL_CHECKS for p in check(t)]


if __name__ == "__main__":
    import json
    import sys

    found = all_problems(json.load(open(sys.argv[1], encoding="utf-8")))
    for p in found:
        print(p)
    sys.exit(1 if found else 0)


# Managed CloudFront policies (AWS's fixed ids).
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
ORIGIN_VERIFY_HEADER = "x-karcis-origin-verify"


def check_api_edge(t: Template) -> list[str]:
    """The HTTP API behind CloudFront: only with ApiEdgeHost, the WebACL attached, every request
    forwarded uncached over TLS 1.2+ to this stack's HTTP API with the origin-verify secret, and
    every HTTP function told the secret's hash (functions/src/origin.rs)."""
    problems = []
    res = t.get("Resources", {}).get("ApiDistribution")
    if not res or res.get("Type") != "AWS::CloudFront::Distribution":
        return ["no ApiDistribution"]
    if res.get("Condition") != "HasApiEdge":
        problems.append("ApiDistribution: not conditional on ApiEdgeHost (HasApiEdge)")
    cfg = props(res).get("DistributionConfig", {})
    if ref_target(cfg.get("WebACLId")) != "ApiEdgeWebAclArn":
        problems.append("ApiDistribution: WebACLId is not ApiEdgeWebAclArn")
    origins = cfg.get("Origins", [])
    if len(origins) != 1:
        problems.append(f"ApiDistribution: {len(origins)} origins")
    for o in origins:
        if "${HttpApi}.execute-api." not in (_sub_text(o.get("DomainName")) or ""):
            problems.append(f"ApiDistribution: origin {o.get('Id')} is not this stack's HTTP API")
        custom = o.get("CustomOriginConfig", {})
        if custom.get("OriginProtocolPolicy") != "https-only" or custom.get("OriginSSLProtocols") != ["TLSv1.2"]:
            problems.append(f"ApiDistribution: origin {o.get('Id')} not https-only TLS 1.2")
        headers = {h.get("HeaderName"): h.get("HeaderValue") for h in o.get("OriginCustomHeaders", [])}
        if ref_target(headers.get(ORIGIN_VERIFY_HEADER)) != "ApiOriginVerifySecret":
            problems.append(f"ApiDistribution: origin {o.get('Id')} without the origin-verify secret")
    beh = cfg.get("DefaultCacheBehavior", {})
    if cfg.get("CacheBehaviors"):
        problems.append("ApiDistribution: extra cache behaviours")
    if beh.get("ViewerProtocolPolicy") != "https-only":
        problems.append("ApiDistribution: viewers not https-only (a redirect would drop POST bodies)")
    if beh.get("CachePolicyId") != CACHING_DISABLED:
        problems.append("ApiDistribution: API answers cached")
    if beh.get("OriginRequestPolicyId") != ALL_VIEWER_EXCEPT_HOST:
        problems.append("ApiDistribution: viewer headers (Authorization, Idempotency-Key, viewer address) not forwarded")
    if set(beh.get("AllowedMethods", [])) != {"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"}:
        problems.append("ApiDistribution: not every method forwarded")
    cert = cfg.get("ViewerCertificate", {})
    if cert.get("MinimumProtocolVersion") not in TLS_POLICIES or ref_target(cert.get("AcmCertificateArn")) != "WebCertificateArn":
        problems.append("ApiDistribution: viewer TLS below 1.2 or not the web certificate")
    for binary, spec in FUNCTIONS.items():
        if not spec.get("routes"):
            continue
        name, fn = functions_by_binary(t).get(binary, (binary, {}))
        env = props(fn).get("Environment", {}).get("Variables", {})
        if ref_target(env.get("ORIGIN_VERIFY_SHA256")) != "ApiOriginVerifySha256":
            problems.append(f"{name}: ORIGIN_VERIFY_SHA256 is not ApiOriginVerifySha256")
    return problems
