"""The security alarms fire on the log lines the functions write.

Each metric filter's pattern is evaluated (a small evaluator of CloudWatch Logs JSON filter
patterns: `$.a.b = "text"` with a trailing `*` wildcard, `= number`, `&&`, `||`, parentheses)
against sample lines in the shape `functions/src/telemetry.rs` writes (tracing's JSON, no time,
no target), whose message texts are checked to be the code's own `tracing::...!` messages. A
pattern that matches nothing the code writes, or matches an honest line, fails here.
"""

from __future__ import annotations

import json
import re
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import tools  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "functions" / "src"


def line(level: str, message: str, **fields) -> str:
    return json.dumps({"level": level, "fields": {"message": message, **fields}})


# (filter resource, metric, lines that must count, lines that must not, source file, message)
CASES = [
    (
        "ForgedWebhookFilter",
        "ForgedWebhooks",
        [
            line("WARN", "webhook refused", provider="stripe", code="bad_signature"),
            line("WARN", "webhook refused", provider="midtrans", order_id="ord_1", why="amount or currency"),
        ],
        [line("INFO", "webhook event ignored", provider="stripe", event_type="charge.updated")],
        "payment_callback.rs",
        "webhook refused",
    ),
    (
        "PrivacyCodeFailureFilter",
        "PrivacyCodeFailures",
        [line("INFO", "privacy code refused"), line("INFO", "privacy code refused: challenge already used")],
        [line("INFO", "privacy challenge sent", customer_id="cus_1")],
        "privacy.rs",
        "privacy code refused",
    ),
    (
        "CheckoutRateLimitFilter",
        "RateLimitHits",
        [line("INFO", "client rate limit", route="order")],
        [line("INFO", "idempotent replay", order_id="ord_1")],
        "guard.rs",
        "client rate limit",
    ),
    (
        "PrivacyRateLimitFilter",
        "RateLimitHits",
        [line("INFO", "client rate limit", route="privacy_challenge")],
        [line("INFO", "privacy export", customer_id="cus_1")],
        "guard.rs",
        "client rate limit",
    ),
    (
        "AuditChainRefusedFilter",
        "AuditChainRefused",
        [
            line("INFO", "request rejected", problem="urn:karcis:problem:invalid-field", status=400),
            line("INFO", "request rejected", problem="urn:karcis:problem:conflict", status=409),
        ],
        [line("INFO", "request rejected", problem="urn:karcis:problem:unauthorized", status=401)],
        "http.rs",
        "request rejected",
    ),
]


def tokenize(pattern: str) -> list[str]:
    return re.findall(r'\$\.[A-Za-z0-9_.]+|"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?|&&|\|\||[(){}=]', pattern)


def compile_pattern(pattern: str):
    """A JSON filter pattern as a predicate over a parsed log event."""
    tokens = tokenize(pattern)
    if not tokens or tokens[0] != "{" or tokens[-1] != "}":
        raise ValueError(f"not a JSON pattern: {pattern}")
    tokens = tokens[1:-1]
    pos = 0

    def peek():
        return tokens[pos] if pos < len(tokens) else None

    def take():
        nonlocal pos
        pos += 1
        return tokens[pos - 1]

    def atom():
        if peek() == "(":
            take()
            inner = disjunction()
            if take() != ")":
                raise ValueError("unbalanced")
            return inner
        selector = take()
        if not selector.startswith("$.") or take() != "=":
            raise ValueError(f"unsupported near {selector}")
        value = take()
        path = selector[2:].split(".")

        def get(event):
            for key in path:
                if not isinstance(event, dict) or key not in event:
                    return None
                event = event[key]
            return event

        if value.startswith('"'):
            text = json.loads(value)
            if text.endswith("*"):
                return lambda e: isinstance(get(e), str) and get(e).startswith(text[:-1])
            return lambda e: get(e) == text
        number = float(value)
        return lambda e: isinstance(get(e), (int, float)) and float(get(e)) == number

    def conjunction():
        parts = [atom()]
        while peek() == "&&":
            take()
            parts.append(atom())
        return lambda e: all(p(e) for p in parts)

    def disjunction():
        parts = [conjunction()]
        while peek() == "||":
            take()
            parts.append(conjunction())
        return lambda e: any(p(e) for p in parts)

    result = disjunction()
    if pos != len(tokens):
        raise ValueError(f"trailing tokens in {pattern}")
    return result


class SecurityAlarmTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.t = json.loads(tools.EXPANDED.read_text(encoding="utf-8"))
        cls.r = cls.t["Resources"]

    def alarm_of(self, metric: str) -> dict:
        alarms = [
            p["Properties"]
            for p in self.r.values()
            if p["Type"] == "AWS::CloudWatch::Alarm" and p["Properties"].get("MetricName") == metric
        ]
        self.assertEqual(len(alarms), 1, metric)
        return alarms[0]

    def test_each_filter_counts_the_codes_lines_and_no_honest_ones(self):
        for name, metric, hits, misses, source, message in CASES:
            with self.subTest(name):
                props = self.r[name]["Properties"]
                matches = compile_pattern(props["FilterPattern"])
                for text in hits:
                    self.assertTrue(matches(json.loads(text)), f"{name} misses {text}")
                for text in misses:
                    self.assertFalse(matches(json.loads(text)), f"{name} counts {text}")
                self.assertEqual(props["MetricTransformations"][0]["MetricName"], metric)
                code = (SRC / source).read_text(encoding="utf-8")
                self.assertRegex(code, r'tracing::\w+!\([^;]*"' + re.escape(message), f"{message} not logged in {source}")
                alarm = self.alarm_of(metric)
                self.assertEqual(alarm["AlarmActions"], [{"Ref": "AlarmTopic"}])
                # The alarm fires on the hits of one period.
                self.assertLessEqual(alarm["Threshold"], {"ForgedWebhooks": 5, "PrivacyCodeFailures": 20, "RateLimitHits": 100, "AuditChainRefused": 1}[metric])

    def test_backup_failures_alarm_on_the_vault(self):
        alarm = self.alarm_of("NumberOfBackupJobsFailed")
        self.assertEqual(alarm["Namespace"], "AWS/Backup")
        self.assertEqual(alarm["Dimensions"], [{"Name": "BackupVaultName", "Value": {"Ref": "BackupVault"}}])
        self.assertEqual(alarm["Threshold"], 1)

    def test_the_evaluator_itself_can_fail(self):
        p = compile_pattern('{ $.fields.message = "a" && ($.fields.n = 1 || $.fields.m = "b*") }')
        self.assertTrue(p({"fields": {"message": "a", "n": 1}}))
        self.assertTrue(p({"fields": {"message": "a", "m": "bc"}}))
        self.assertFalse(p({"fields": {"message": "a", "n": 2}}))
        self.assertFalse(p({"fields": {"message": "x", "n": 1}}))


if __name__ == "__main__":
    unittest.main()
