"""The forged-or-stale QR alarm fires on a spike of the door's refusals, as the audit-ingest
function logs them, and not on honest traffic.

The door's entries reach AWS through the audit forwarding (edge -> audit-ingest, on by default);
for each batch the function logs "audit batch accepted" with `forged_or_stale`, the number of
newly stored `invalid` and `stale` entries (functions/src/operations/qr_alarm.rs). The metric
filter's pattern is evaluated with the evaluator of test_security_alarms.py, its value taken
from the line as CloudWatch Logs does (`$.fields.forged_or_stale`), and the alarm's threshold
applied to one period's sum.
"""

from __future__ import annotations

import json
import re
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import tools  # noqa: E402
from test_security_alarms import SRC, compile_pattern, line  # noqa: E402


def batch(forged: int, stale: int, stored: int = 50) -> str:
    return line(
        "INFO",
        "audit batch accepted",
        event_id="evt-1",
        first=1,
        last=stored,
        stored=stored,
        forged_qr=forged,
        stale_qr=stale,
        forged_or_stale=forged + stale,
    )


class ForgedOrStaleQrAlarmTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        r = json.loads(tools.EXPANDED.read_text(encoding="utf-8"))["Resources"]
        cls.filter = r["ForgedOrStaleQrFilter"]["Properties"]
        cls.alarm = r["ForgedOrStaleQrAlarm"]["Properties"]
        cls.log_group = r["AuditIngestLogGroup"]["Properties"]

    def period_sum(self, lines: list[str]) -> float:
        """What one period of these log lines adds to the metric."""
        matches = compile_pattern(self.filter["FilterPattern"])
        transform = self.filter["MetricTransformations"][0]
        value = transform["MetricValue"]
        self.assertTrue(value.startswith("$."), value)
        total = 0.0
        for text in lines:
            event = json.loads(text)
            if not matches(event):
                continue
            for key in value[2:].split("."):
                event = event[key]
            total += float(event)
        return total

    def fires(self, lines: list[str]) -> bool:
        self.assertEqual(self.alarm["ComparisonOperator"], "GreaterThanOrEqualToThreshold")
        return self.period_sum(lines) >= self.alarm["Threshold"]

    def test_a_spike_of_forged_or_stale_codes_fires(self):
        self.assertTrue(self.fires([batch(forged=20, stale=0), batch(forged=5, stale=10)]))
        self.assertTrue(self.fires([batch(forged=0, stale=1)] * 40))

    def test_honest_doors_and_other_lines_do_not(self):
        honest = [batch(forged=1, stale=2) for _ in range(5)] + [batch(0, 0)] * 100
        self.assertFalse(self.fires(honest))
        other = [
            line("INFO", "request rejected", problem="urn:karcis:problem:conflict", status=409, forged_or_stale=99),
            line("INFO", "audit batch refused", forged_or_stale=99),
        ]
        self.assertFalse(self.fires(other))

    def test_it_reads_the_ingest_functions_log_and_the_codes_fields(self):
        self.assertEqual(self.filter["LogGroupName"], {"Ref": "AuditIngestLogGroup"})
        self.assertEqual(self.alarm["MetricName"], self.filter["MetricTransformations"][0]["MetricName"])
        self.assertEqual(self.alarm["AlarmActions"], [{"Ref": "AlarmTopic"}])
        self.assertEqual(self.alarm["Period"], 300)
        code = (SRC / "audit_ingest" / "ingest.rs").read_text(encoding="utf-8")
        self.assertRegex(code, r'tracing::info!\([^;]*forged_or_stale = [^;]*"audit batch accepted"')
        counter = (SRC / "operations" / "qr_alarm.rs").read_text(encoding="utf-8")
        self.assertTrue(re.search(r'Some\("invalid"\) => out\.forged', counter))
        self.assertTrue(re.search(r'Some\("stale"\) => out\.stale', counter))


if __name__ == "__main__":
    unittest.main()
