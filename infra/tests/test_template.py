"""Assertions on the expanded template (plain CloudFormation JSON from scripts/expand.py).

One test per property, so a failure names what broke. The checks themselves live in checks.py
and are shared with the negative tests, which prove each one rejects a broken template.
"""

from __future__ import annotations

import json
import re
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import checks  # noqa: E402
import tools  # noqa: E402


def load() -> dict:
    if not tools.EXPANDED.exists():
        raise RuntimeError(f"{tools.EXPANDED} is missing: run `make test-infra` (it expands first)")
    return json.loads(tools.EXPANDED.read_text(encoding="utf-8"))


class TemplateTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.t = load()

    def assertNoProblems(self, check):
        problems = check(self.t)
        self.assertEqual(problems, [], "\n".join(problems))

    def test_table_pitr_sse_cmk_ttl_deletion_protection(self):
        self.assertNoProblems(checks.check_table)

    def test_every_queue_has_a_dlq_and_a_cmk(self):
        self.assertNoProblems(checks.check_queues)
        # and the DLQs are exactly the three the design names
        self.assertEqual(checks.dead_letter_queues(self.t), {"MintDlq", "NotifyDlq", "RevokeDlq", "ScheduledDlq", "BackupDlq"})

    def test_no_wildcard_actions_no_unjustified_star_resources(self):
        self.assertNoProblems(checks.check_policies)

    def test_functions_arm64_own_role_own_log_group(self):
        self.assertNoProblems(checks.check_functions)
        self.assertEqual(len(list(checks.resources(self.t, "AWS::Lambda::Function"))), len(checks.FUNCTIONS))

    def test_kms_rotation_on(self):
        # Every symmetric key rotates; the asymmetric staff signing key is the one justified
        # exception (checks.ASYMMETRIC_KEYS: KMS cannot rotate it, it is replaced instead).
        self.assertNoProblems(checks.check_kms)
        keys = {n for n, _ in checks.resources(self.t, "AWS::KMS::Key")}
        self.assertEqual(
            keys, {"PiiKey", "IssuerKey", "ConfigKey", "TableKey", "QueueKey", "OpsKey", "StaffSigningKey",
             "BackupExportKey"}
        )
        self.assertEqual(set(checks.ASYMMETRIC_KEYS), {"StaffSigningKey"})
        self.assertNotIn("EnableKeyRotation", self.t["Resources"]["StaffSigningKey"]["Properties"])

    def test_staff_signing_key_sign_raw_es256_only(self):
        self.assertNoProblems(checks.check_signing_key)
        policy = self.t["Resources"]["StaffSigningKey"]["Properties"]["KeyPolicy"]
        by_sid = {s["Sid"]: s for s in checks.statements(policy)}
        sign = by_sid["StaffSignsTokens"]
        self.assertEqual(checks.ref_target(sign["Principal"]["AWS"]), "StaffRole")
        self.assertEqual(sign["Action"], "kms:Sign")
        self.assertEqual(
            sign["Condition"]["StringEquals"],
            {"kms:SigningAlgorithm": "ECDSA_SHA_256", "kms:MessageType": "RAW"},
        )
        public = by_sid["StaffAndAuditIngestReadPublicKey"]
        self.assertEqual({checks.ref_target(p) for p in public["Principal"]["AWS"]}, {"StaffRole", "AuditIngestRole", "CheckoutRole", "ConsoleRole"})
        self.assertEqual(public["Action"], "kms:GetPublicKey")
        # audit-ingest and checkout (the fraud admin routes) can read the public key and nothing else
        for st in checks.statements(policy):
            if {"AuditIngestRole", "CheckoutRole"} &  {checks.ref_target(p) for p in checks.as_list(st["Principal"].get("AWS", []))}:
                self.assertEqual(checks.as_list(st["Action"]), ["kms:GetPublicKey"], st["Sid"])

    def test_staff_functions_least_privilege_on_the_table(self):
        for role in ("StaffRole", "AuditIngestRole"):
            (pol,) = self.t["Resources"][role]["Properties"]["Policies"]
            actions = set()
            for st in pol["PolicyDocument"]["Statement"]:
                for a in checks.as_list(st["Action"]):
                    if a.startswith("dynamodb:"):
                        actions.add(a)
                        self.assertEqual(checks.ref_target(st["Resource"]), "Table", role)  # no gsi1
                self.assertFalse(any(a.startswith(("sqs:", "kms:Sign")) for a in checks.as_list(st["Action"])), role)
            expected = {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem"}
            if role == "StaffRole":
                # Sign-in attempt counters (UpdateItem) and setup codes consumed (DeleteItem).
                expected |= {"dynamodb:UpdateItem", "dynamodb:DeleteItem"}
            self.assertEqual(actions, expected, role)

    def test_every_role_bounded_by_leading_keys(self):
        # Each role's table statements carry dynamodb:LeadingKeys lists whose union is exactly
        # its function's allow-list (checks.TABLE_LEADING_KEYS / INDEX_LEADING_KEYS); the Scan of
        # retention is the one unbounded, justified exception.
        self.assertNoProblems(checks.check_leading_keys)
        self.assertEqual(set(checks.TABLE_LEADING_KEYS), set(checks.FUNCTIONS))
        self.assertEqual(
            {b: set(a) for b, a in checks.UNKEYED_TABLE_ACTIONS.items()},
            {"retention": {"dynamodb:Scan"}, "console": {"dynamodb:Scan"},
             "backup": {"dynamodb:ExportTableToPointInTime"}},
        )
        # The console's Scan (finance reports) may project only attributes without personal data.
        r = self.t["Resources"]["ConsoleRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        (scan,) = [st for st in r if "dynamodb:Scan" in checks.as_list(st["Action"])]
        self.assertEqual(checks.as_list(scan["Action"]), ["dynamodb:Scan"])
        allowed = set(scan["Condition"]["ForAllValues:StringEquals"]["dynamodb:Attributes"])
        self.assertFalse(allowed & {"buyer_sealed", "customer_id", "access_token_sealed", "access_token_hash", "pk", "sk"})
        self.assertEqual(scan["Condition"]["StringEquals"]["dynamodb:Select"], "SPECIFIC_ATTRIBUTES")

    def test_leading_keys_are_keys_of_the_code(self):
        # Every allow-listed pattern is a partition key the Rust code builds (a typo such as
        # "ORDERS#*" would deny the real key in AWS while the offline tests stay green).
        src = "".join(
            f.read_text(encoding="utf-8") for f in (tools.INFRA.parent / "functions" / "src").rglob("*.rs")
        )
        patterns = set().union(*checks.TABLE_LEADING_KEYS.values())
        for per_index in checks.INDEX_LEADING_KEYS.values():
            patterns |= set().union(*per_index.values())
        for pattern in sorted(patterns):
            if pattern.endswith("#*"):
                self.assertIn(f'"{pattern[:-1]}', src, pattern)
            else:
                self.assertNotIn("*", pattern)
                self.assertIn(f'"{pattern}"', src, pattern)

    def test_staff_parameters(self):
        params = self.t["Parameters"]
        self.assertEqual(params["StaffTokenAudience"]["Default"], "karcis-door")
        self.assertEqual(params["StaffConsoleAudience"]["Default"], "karcis-console")
        self.assertEqual(params["StaffTokenIssuer"]["Default"], "karcis")
        self.assertEqual(params["StaffPreviousKeyIds"]["Default"], "")
        self.assertIs(params["AuditIngestTokenSha256"].get("NoEcho"), True)
        self.assertNotIn("Default", params["AuditIngestTokenSha256"])  # no empty hash: ingest would refuse to start
        pattern = re.compile(params["AuditIngestTokenSha256"]["AllowedPattern"])
        self.assertTrue(pattern.fullmatch("ab" * 32 + "," + "CD" * 32))
        self.assertFalse(pattern.fullmatch("not-a-hash"))
        previous = re.compile(params["StaffPreviousKeyIds"]["AllowedPattern"])
        arn = "arn:aws:kms:ap-southeast-3:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
        self.assertTrue(previous.fullmatch("") and previous.fullmatch(f"{arn},{arn}"))
        self.assertIn("StaffAudiencesDiffer", self.t.get("Rules", {}))

    def test_log_retention_and_encryption(self):
        self.assertNoProblems(checks.check_logs)

    def test_sqs_mappings_report_batch_item_failures(self):
        self.assertNoProblems(checks.check_event_sources)
        self.assertEqual(len(list(checks.resources(self.t, "AWS::Lambda::EventSourceMapping"))), 4)

    def test_alarms_on_dlqs_errors_throttles(self):
        self.assertNoProblems(checks.check_alarms)

    def test_daily_backup_into_cmk_vault(self):
        self.assertNoProblems(checks.check_backups)

    def test_http_api_routes_and_authorizer(self):
        self.assertNoProblems(checks.check_http_api)

    def test_contract_functions_env_triggers(self):
        self.assertNoProblems(checks.check_contract)

    def test_envelope_keys_bound_to_encryption_context(self):
        self.assertNoProblems(checks.check_envelope_keys)

    def test_checkout_may_only_generate_and_unwrap_pii_keys(self):
        policy = self.t["Resources"]["PiiKey"]["Properties"]["KeyPolicy"]
        (st,) = [s for s in checks.statements(policy) if checks.ref_target(s["Principal"]["AWS"]) == "CheckoutRole"]
        self.assertEqual(set(checks.as_list(st["Action"])), {"kms:GenerateDataKey", "kms:Decrypt"})
        self.assertEqual(st["Condition"]["StringEquals"], {"kms:EncryptionContext:purpose": "customer-pii"})

    def test_staff_uses_the_pii_key_for_the_blind_index_and_totp_only(self):
        policy = self.t["Resources"]["PiiKey"]["Properties"]["KeyPolicy"]
        staff = [s for s in checks.statements(policy) if checks.ref_target(s["Principal"]["AWS"]) == "StaffRole"]
        conditions = sorted((s["Condition"]["StringEquals"] for s in staff), key=str)
        self.assertEqual(conditions, sorted([
            {"kms:EncryptionContext:purpose": "customer-pii", "kms:EncryptionContext:customer_id": "__blind_index__"},
            {"kms:EncryptionContext:purpose": "staff-totp"},
        ], key=str))
        for st in staff:
            self.assertEqual(set(checks.as_list(st["Action"])), {"kms:GenerateDataKey", "kms:Decrypt"})

    def test_only_envelope_key_users_are_named_in_key_policies(self):
        expected = {
            # StaffRole: the blind-index key and staff TOTP data keys only (test below);
            # PaymentCallbackRole: the blind-index key only (the card check).
            "PiiKey": {"CheckoutRole", "PrivacyRole", "NotifyRole", "RetentionRole", "StaffRole", "PaymentCallbackRole"},
            # Only mint signs tickets: the public tickets function cannot unwrap an issuer key.
            # The console creates new events' key sets (GenerateDataKey only, asserted below).
            "IssuerKey": {"MintRole", "ConsoleRole"},
            # + the Turnstile secret (checkout, privacy) and the WhatsApp token (notify, privacy)
            "ConfigKey": {"CheckoutRole", "PaymentCallbackRole", "RevokeRole", "PrivacyRole", "NotifyRole"},
        }
        for key, roles in expected.items():
            named = set()
            for st in checks.statements(self.t["Resources"][key]["Properties"]["KeyPolicy"]):
                for p in checks.as_list(st.get("Principal", {}).get("AWS", [])):
                    target = checks.ref_target(p)
                    if target and target != "OperatorRoleArn":
                        named.add(target)
            self.assertEqual(named, roles, key)
        (console,) = [
            st for st in checks.statements(self.t["Resources"]["IssuerKey"]["Properties"]["KeyPolicy"])
            if checks.ref_target(st.get("Principal", {}).get("AWS")) == "ConsoleRole"
        ]
        self.assertEqual(checks.as_list(console["Action"]), ["kms:GenerateDataKey"])
        self.assertEqual(console["Condition"]["StringEquals"], {"kms:EncryptionContext:purpose": "ticket-issuer"})

    def test_checkov_suppressions_are_justified(self):
        raw = tools.TEMPLATE.read_text(encoding="utf-8")
        for name, res in self.t["Resources"].items():
            for skip in res.get("Metadata", {}).get("checkov", {}).get("skip", []):
                self.assertRegex(skip.get("id", ""), r"^CKV2?_AWS_\d+$", name)
                self.assertGreaterEqual(len(skip.get("comment", "")), 40, f"{name}: {skip.get('id')} needs a justification")
        self.assertNotIn("#checkov:skip", raw.replace(" ", ""), "use Metadata.checkov.skip with a comment")

    def test_the_logging_sender_and_stubs_cannot_be_deployed(self):
        # The logging sender and the stub endpoints are for local runs: no function gets them,
        # and notify and privacy get the real senders' settings (functions/src/senders/).
        self.assertNoProblems(checks.check_local_only_settings)
        by_binary = checks.functions_by_binary(self.t)
        for binary in ("notify", "privacy"):
            env = checks.props(by_binary[binary][1])["Environment"]["Variables"]
            self.assertLessEqual(checks.SENDER_ENV, set(env), binary)
        for binary in ("checkout", "privacy"):
            env = checks.props(by_binary[binary][1])["Environment"]["Variables"]
            self.assertLessEqual(checks.GUARD_ENV, set(env), binary)

    def test_sms_publishing_reaches_phone_numbers_only(self):
        self.assertNoProblems(checks.check_sms_publishing)

    def test_no_yaml_anchors(self):
        # CloudFormation does not document YAML aliases; every block is written out.
        raw = tools.TEMPLATE.read_text(encoding="utf-8")
        self.assertIsNone(re.search(r":\s+[&*][A-Za-z]\w*\s*$", raw, re.M))

    def test_checkout_returns_buyers_to_the_buyer_origin(self):
        # bin/checkout.rs requires both URLs (functions/tests/deploy_contract.rs starts it with
        # this environment); each is a path on BuyerOrigin, {order_id} left for checkout.
        env = self.t["Resources"]["CheckoutFunction"]["Properties"]["Environment"]["Variables"]
        params = self.t["Parameters"]
        for var, param in (("CHECKOUT_SUCCESS_URL", "CheckoutSuccessPath"), ("CHECKOUT_CANCEL_URL", "CheckoutCancelPath")):
            self.assertEqual(env[var], {"Fn::Sub": "${BuyerOrigin}${" + param + "}"}, var)
            default = params[param]["Default"]
            self.assertTrue(default.startswith("/return.html?order={order_id}"), default)
            pattern = re.compile(params[param]["AllowedPattern"])
            self.assertTrue(pattern.fullmatch(default))
            # Must start with "/": "@evil.example/x" would make BuyerOrigin the userinfo of
            # another host.
            self.assertFalse(pattern.fullmatch("@evil.example/x"))
            self.assertFalse(pattern.fullmatch("/x y"))

    def test_static_hosting_private_buckets_oac_headers_tls(self):
        # web/site at BuyerOrigin, web/scanner at ScannerOrigin: private, encrypted, versioned,
        # TLS-only buckets read by their distribution alone through origin access control;
        # security headers on every behaviour; viewers on TLS 1.2+ (the scanner on 1.3 only).
        self.assertNoProblems(checks.check_static_hosting)
        r = self.t["Resources"]
        self.assertEqual(
            {n for n, _ in checks.resources(self.t, "AWS::S3::Bucket")},
            {"SiteBucket", "ScannerBucket", "ConsoleBucket", "BackupBucket"},
        )
        self.assertEqual(
            r["ConsoleDistribution"]["Properties"]["DistributionConfig"]["ViewerCertificate"]["MinimumProtocolVersion"],
            "TLSv1.3_2025",
        )
        self.assertEqual(
            r["ScannerDistribution"]["Properties"]["DistributionConfig"]["ViewerCertificate"]["MinimumProtocolVersion"],
            "TLSv1.3_2025",
        )
        for bucket, dist in (("SiteBucketPolicy", "SiteDistribution"), ("ScannerBucketPolicy", "ScannerDistribution"),
                             ("ConsoleBucketPolicy", "ConsoleDistribution")):
            (allow,) = [s for s in r[bucket]["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
            self.assertTrue(allow["Condition"]["StringEquals"]["AWS:SourceArn"]["Fn::Sub"].endswith("/${" + dist + "}"))

    def test_web_csp_matches_what_the_apps_load(self):
        # Each app's CSP is the one its pages are tested under (web/scripts/serve.mjs, which the
        # browser tests run behind), narrowed to the app, with the real back end as connect-src
        # in place of serve.mjs's same-origin proxies: the HTTP API for the site, the edge
        # worker for the scanner.
        serve = (tools.INFRA.parent / "web" / "scripts" / "serve.mjs").read_text(encoding="utf-8")
        block = serve[serve.index("const CSP = ["):serve.index("].join")]
        local = checks.csp_directives("; ".join(re.findall(r'"([^"]+)"', block)))
        api = self.t["Outputs"]["ApiUrl"]["Value"]["Fn::Sub"]
        extra = {"site": {"connect-src": {api}}, "scanner": {"connect-src": {"${EdgeUrl}"}}, "console": {"connect-src": {api}}}
        for app, policy in (("site", "SiteHeadersPolicy"), ("scanner", "ScannerHeadersPolicy"), ("console", "ConsoleHeadersPolicy")):
            cfg = self.t["Resources"][policy]["Properties"]["ResponseHeadersPolicyConfig"]
            csp = checks.csp_directives(cfg["SecurityHeadersConfig"]["ContentSecurityPolicy"]["ContentSecurityPolicy"]["Fn::Sub"])
            for directive, sources in csp.items():
                if directive == "upgrade-insecure-requests":
                    continue
                allowed = set(local.get(directive, local["default-src"])) | extra[app].get(directive, set())
                self.assertLessEqual(set(sources), allowed, f"{app}: {directive}")
            for directive, needed in extra[app].items():
                self.assertLessEqual(needed, set(csp[directive]), f"{app}: {directive}")
        site = checks.csp_directives(
            self.t["Resources"]["SiteHeadersPolicy"]["Properties"]["ResponseHeadersPolicyConfig"]
            ["SecurityHeadersConfig"]["ContentSecurityPolicy"]["ContentSecurityPolicy"]["Fn::Sub"]
        )
        self.assertIn("https://challenges.cloudflare.com", site["script-src"])  # Turnstile
        # The pages themselves load nothing from another origin (Turnstile is added by event.js).
        for page in sorted([*(tools.INFRA.parent / "web").glob("s*/*.html"), *(tools.INFRA.parent / "web").glob("console/*.html")]):
            html = page.read_text(encoding="utf-8")
            self.assertIsNone(re.search(r"<(script|link|img|iframe)[^>]+(src|href)=\"(https?:)?//", html), page.name)

    def test_access_log_has_no_personal_data(self):
        (stage,) = [r for _, r in checks.resources(self.t, "AWS::ApiGatewayV2::Stage")]
        fmt = stage["Properties"]["AccessLogSettings"]["Format"]
        for field in ("sourceIp", "userAgent", "identity"):
            self.assertNotIn(field, fmt)


if __name__ == "__main__":
    unittest.main()
