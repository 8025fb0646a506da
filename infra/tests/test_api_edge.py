"""The HTTP API behind CloudFront and WAF: infra/api-waf.yaml (the WebACL, deployed in us-east-1)
and the main template's ApiDistribution (checks.check_api_edge), each property broken once to
see the check reject it.
"""

from __future__ import annotations

import copy
import json
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import checks  # noqa: E402
import tools  # noqa: E402

WAF = tools.INFRA / "api-waf.yaml"


def load_waf() -> dict:
    # The SAM translator's parser reads CloudFormation's short tags (!Ref, !If...).
    from samtranslator.yaml_helper import yaml_parse

    return yaml_parse(WAF.read_text(encoding="utf-8"))


class ApiWafTemplate(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.t = load_waf()
        cls.acl = cls.t["Resources"]["ApiWebAcl"]["Properties"]
        cls.rules = {}
        for r in cls.acl["Rules"]:
            if "Fn::If" in r:
                cond, rule, other = r["Fn::If"]
                cls.rules[rule["Name"]] = (cond, rule)
                assert other == {"Ref": "AWS::NoValue"}
            else:
                cls.rules[r["Name"]] = (None, r)

    def test_cfn_lint_passes(self):
        code, per_file = tools.cfn_lint([WAF])
        self.assertEqual(per_file[str(WAF)], [], f"cfn-lint exit {code}")

    def test_cloudfront_scope_and_only_in_us_east_1(self):
        self.assertEqual(self.acl["Scope"], "CLOUDFRONT")
        self.assertEqual(self.acl["DefaultAction"], {"Allow": {}})
        (rule,) = self.t["Rules"].values()
        self.assertEqual(rule["Assertions"][0]["Assert"], {"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]})

    def test_rate_rule_per_ip_configurable(self):
        cond, rule = self.rules["rate-per-ip"]
        self.assertIsNone(cond)
        self.assertEqual(rule["Action"], {"Block": {}})
        rate = rule["Statement"]["RateBasedStatement"]
        self.assertEqual(rate["AggregateKeyType"], "IP")
        self.assertEqual(rate["Limit"], {"Ref": "RateLimit"})
        self.assertEqual(rate["EvaluationWindowSec"], {"Ref": "RateWindowSecs"})
        p = self.t["Parameters"]
        self.assertEqual(p["RateLimit"]["MinValue"], 10)  # WAF's minimum
        self.assertEqual(set(p["RateWindowSecs"]["AllowedValues"]), {60, 120, 300, 600})

    def test_managed_groups_and_paid_bot_control_off_by_default(self):
        groups = {
            r["Statement"]["ManagedRuleGroupStatement"]["Name"]: cond
            for cond, r in self.rules.values()
            if "ManagedRuleGroupStatement" in r["Statement"]
        }
        self.assertEqual(
            groups,
            {
                "AWSManagedRulesAmazonIpReputationList": None,
                "AWSManagedRulesKnownBadInputsRuleSet": None,
                "AWSManagedRulesBotControlRuleSet": "BotControlOn",
            },
        )
        for _, r in self.rules.values():
            if "ManagedRuleGroupStatement" in r["Statement"]:
                self.assertEqual(r["OverrideAction"], {"None": {}}, f"{r['Name']} only counts")
        self.assertEqual(self.t["Parameters"]["BotControl"]["Default"], "Disabled")
        self.assertEqual(len({r["Priority"] for _, r in self.rules.values()}), len(self.rules))

    def test_logs_blocked_requests_only_with_authorization_redacted(self):
        r = self.t["Resources"]
        self.assertTrue(r["ApiWafLogGroup"]["Properties"]["LogGroupName"]["Fn::Sub"].startswith("aws-waf-logs-"))
        self.assertIn("RetentionInDays", r["ApiWafLogGroup"]["Properties"])
        log = r["ApiWafLogging"]["Properties"]
        self.assertEqual(log["ResourceArn"], {"Fn::GetAtt": ["ApiWebAcl", "Arn"]})
        self.assertIn({"SingleHeader": {"Name": "authorization"}}, log["RedactedFields"])
        self.assertEqual(log["LoggingFilter"]["DefaultBehavior"], "DROP")
        (f,) = log["LoggingFilter"]["Filters"]
        self.assertEqual((f["Behavior"], f["Conditions"]), ("KEEP", [{"ActionCondition": {"Action": "BLOCK"}}]))


class ApiDistribution(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not tools.EXPANDED.exists():
            raise RuntimeError(f"{tools.EXPANDED} is missing: run `make test-infra` (it expands first)")
        cls.t = json.loads(tools.EXPANDED.read_text(encoding="utf-8"))

    def test_the_distribution_passes(self):
        self.assertEqual(checks.check_api_edge(self.t), [])
        p = self.t["Parameters"]
        self.assertTrue(p["ApiOriginVerifySecret"]["NoEcho"])
        for name in ("ApiEdgeHost", "ApiEdgeWebAclArn", "ApiOriginVerifySecret", "ApiOriginVerifySha256"):
            self.assertEqual(p[name]["Default"], "", f"{name}: off unless the operator turns it on")

    def test_each_broken_property_is_caught(self):
        def cfg(t):
            return t["Resources"]["ApiDistribution"]["Properties"]["DistributionConfig"]

        def first_http_function(t):
            name, _ = checks.functions_by_binary(t)["checkout"]
            return t["Resources"][name]["Properties"]["Environment"]["Variables"]

        breaks = {
            "unconditional": lambda t: t["Resources"]["ApiDistribution"].pop("Condition"),
            "no WebACL": lambda t: cfg(t).pop("WebACLId"),
            "no origin secret": lambda t: cfg(t)["Origins"][0].pop("OriginCustomHeaders"),
            "origin over plain HTTP": lambda t: cfg(t)["Origins"][0]["CustomOriginConfig"].update(OriginProtocolPolicy="match-viewer"),
            "cached": lambda t: cfg(t)["DefaultCacheBehavior"].update(CachePolicyId="658327ea-f89d-4fab-a63d-7e88639e58f6"),
            "headers dropped": lambda t: cfg(t)["DefaultCacheBehavior"].pop("OriginRequestPolicyId"),
            "redirects": lambda t: cfg(t)["DefaultCacheBehavior"].update(ViewerProtocolPolicy="redirect-to-https"),
            "reads only": lambda t: cfg(t)["DefaultCacheBehavior"].update(AllowedMethods=["GET", "HEAD"]),
            "old TLS": lambda t: cfg(t)["ViewerCertificate"].update(MinimumProtocolVersion="TLSv1"),
            "function not told": lambda t: first_http_function(t).pop("ORIGIN_VERIFY_SHA256"),
        }
        for what, broken in breaks.items():
            t = copy.deepcopy(self.t)
            broken(t)
            self.assertNotEqual(checks.check_api_edge(t), [], what)


if __name__ == "__main__":
    unittest.main()
