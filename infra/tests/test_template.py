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
        self.assertEqual(checks.dead_letter_queues(self.t), {"MintDlq", "NotifyDlq", "RevokeDlq", "ScheduledDlq"})

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
            keys, {"PiiKey", "IssuerKey", "ConfigKey", "TableKey", "QueueKey", "OpsKey", "StaffSigningKey"}
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
        self.assertEqual({checks.ref_target(p) for p in public["Principal"]["AWS"]}, {"StaffRole", "AuditIngestRole"})
        self.assertEqual(public["Action"], "kms:GetPublicKey")
        # audit-ingest can read the public key and nothing else
        for st in checks.statements(policy):
            if "AuditIngestRole" in {checks.ref_target(p) for p in checks.as_list(st["Principal"].get("AWS", []))}:
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
        self.assertEqual({b: set(a) for b, a in checks.UNKEYED_TABLE_ACTIONS.items()}, {"retention": {"dynamodb:Scan"}})

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
        self.assertEqual(len(list(checks.resources(self.t, "AWS::Lambda::EventSourceMapping"))), 3)

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

    def test_only_envelope_key_users_are_named_in_key_policies(self):
        expected = {
            "PiiKey": {"CheckoutRole", "PrivacyRole", "NotifyRole", "RetentionRole"},
            # Only mint signs tickets: the public tickets function cannot unwrap an issuer key.
            "IssuerKey": {"MintRole"},
            "ConfigKey": {"CheckoutRole", "PaymentCallbackRole", "RevokeRole"},
        }
        for key, roles in expected.items():
            named = set()
            for st in checks.statements(self.t["Resources"][key]["Properties"]["KeyPolicy"]):
                for p in checks.as_list(st.get("Principal", {}).get("AWS", [])):
                    target = checks.ref_target(p)
                    if target and target != "OperatorRoleArn":
                        named.add(target)
            self.assertEqual(named, roles, key)

    def test_checkov_suppressions_are_justified(self):
        raw = tools.TEMPLATE.read_text(encoding="utf-8")
        for name, res in self.t["Resources"].items():
            for skip in res.get("Metadata", {}).get("checkov", {}).get("skip", []):
                self.assertRegex(skip.get("id", ""), r"^CKV2?_AWS_\d+$", name)
                self.assertGreaterEqual(len(skip.get("comment", "")), 40, f"{name}: {skip.get('id')} needs a justification")
        self.assertNotIn("#checkov:skip", raw.replace(" ", ""), "use Metadata.checkov.skip with a comment")

    def test_no_yaml_anchors(self):
        # CloudFormation does not document YAML aliases; every block is written out.
        raw = tools.TEMPLATE.read_text(encoding="utf-8")
        self.assertIsNone(re.search(r":\s+[&*][A-Za-z]\w*\s*$", raw, re.M))

    def test_access_log_has_no_personal_data(self):
        (stage,) = [r for _, r in checks.resources(self.t, "AWS::ApiGatewayV2::Stage")]
        fmt = stage["Properties"]["AccessLogSettings"]["Format"]
        for field in ("sourceIp", "userAgent", "identity"):
            self.assertNotIn(field, fmt)


if __name__ == "__main__":
    unittest.main()
