"""Queue-driven backups in the template (issue 14): a daily schedule puts a job on the backup
queue, the backup function exports the table to an Object-Locked, KMS-encrypted bucket, a weekly
AWS Backup plan copies the table's backup offsite, and each failure is alarmed.

The job the schedule sends is checked against the function's own parser rules
(functions/src/operations/backup.rs: kind `daily_export`, a run id of 1-64 `[A-Za-z0-9_-]`), and
the alarms' filters against the function's own log messages.
"""

from __future__ import annotations

import json
import re
import sys
import unittest
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import checks  # noqa: E402
import tools  # noqa: E402
from test_security_alarms import SRC, compile_pattern, line  # noqa: E402


class BackupTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.t = json.loads(tools.EXPANDED.read_text(encoding="utf-8"))
        cls.r = cls.t["Resources"]

    def p(self, name: str) -> dict:
        return self.r[name]["Properties"]

    def test_a_daily_schedule_puts_a_valid_job_on_the_backup_queue(self):
        s = self.p("DailyBackupSchedule")
        self.assertRegex(s["ScheduleExpression"], r"^cron\(0 \d+ \* \* \? \*\)$")
        self.assertEqual(s["Target"]["Arn"], {"Fn::GetAtt": ["BackupQueue", "Arn"]})
        job = json.loads(s["Target"]["Input"].replace("<aws.scheduler.execution-id>", str(uuid.uuid4())))
        self.assertEqual(job["kind"], "daily_export")
        self.assertRegex(job["run_id"], r"^[A-Za-z0-9_-]{1,64}$")
        self.assertEqual(set(job), {"kind", "run_id"})  # the job is deny_unknown_fields
        # The same rules in the code.
        code = (SRC / "operations" / "backup.rs").read_text(encoding="utf-8")
        self.assertIn('job.kind != "daily_export"', code)
        self.assertIn("id.len() <= 64", code)
        # The schedule's role may send to the backup queue only.
        role = self.p(s["Target"]["RoleArn"]["Fn::GetAtt"][0])
        sends = [
            st for pol in role["Policies"] for st in pol["PolicyDocument"]["Statement"]
            if "sqs:SendMessage" in checks.as_list(st["Action"])
        ]
        self.assertEqual([st["Resource"] for st in sends], [{"Fn::GetAtt": ["BackupQueue", "Arn"]}])

    def test_the_backup_function_runs_the_queue_into_the_locked_bucket(self):
        fn = self.p("BackupFunction")
        env = fn["Environment"]["Variables"]
        self.assertEqual(env["BACKUP_BUCKET"], {"Ref": "BackupBucket"})
        self.assertEqual(env["BACKUP_KMS_KEY_ID"], {"Fn::GetAtt": ["BackupExportKey", "Arn"]})
        maps = [
            m["Properties"] for m in self.r.values()
            if m["Type"] == "AWS::Lambda::EventSourceMapping"
            and m["Properties"]["FunctionName"] == {"Ref": "BackupFunction"}
        ]
        self.assertEqual(len(maps), 1)
        self.assertEqual(maps[0]["EventSourceArn"], {"Fn::GetAtt": ["BackupQueue", "Arn"]})
        self.assertEqual(maps[0]["BatchSize"], 1)
        # A job outlives no visibility timeout: the queue hides it 6x the function's timeout.
        self.assertGreaterEqual(self.p("BackupQueue")["VisibilityTimeout"], 6 * fn["Timeout"])
        self.assertLessEqual(fn["Timeout"], 900)
        b = self.p("BackupBucket")
        sse = b["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
        self.assertEqual(sse, {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": {"Fn::GetAtt": ["BackupExportKey", "Arn"]}})
        self.assertTrue(b["ObjectLockEnabled"])
        rule = b["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]
        self.assertEqual(rule["Mode"], "COMPLIANCE")
        self.assertEqual(rule["Days"], {"Ref": "BackupRetentionDays"})
        self.assertEqual(b["VersioningConfiguration"], {"Status": "Enabled"})
        self.assertTrue(all(b["PublicAccessBlockConfiguration"].values()))
        policy = self.p("BackupBucketPolicy")["PolicyDocument"]["Statement"]
        self.assertTrue(any(st["Effect"] == "Deny" and st["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for st in policy))
        # The role writes objects; it cannot read, delete or change the lock.
        role = self.p("BackupFunctionRole")["Policies"][0]["PolicyDocument"]["Statement"]
        s3 = {a for st in role for a in checks.as_list(st["Action"]) if a.startswith("s3:")}
        self.assertEqual(s3, {"s3:PutObject", "s3:AbortMultipartUpload", "s3:PutObjectAcl"})

    def test_a_weekly_copy_goes_offsite(self):
        plan = self.r["WeeklyOffsiteBackupPlan"]
        self.assertEqual(plan["Condition"], "HasOffsiteVault")
        (rule,) = plan["Properties"]["BackupPlan"]["BackupPlanRule"]
        self.assertRegex(rule["ScheduleExpression"], r"^cron\(0 \d+ \? \* (SUN|MON|TUE|WED|THU|FRI|SAT) \*\)$")
        (copy,) = rule["CopyActions"]
        self.assertEqual(copy["DestinationBackupVaultArn"], {"Ref": "OffsiteBackupVaultArn"})
        sel = self.r["WeeklyOffsiteBackupSelection"]
        self.assertEqual(sel["Condition"], "HasOffsiteVault")
        self.assertEqual(
            {r["Fn::GetAtt"][0] for r in sel["Properties"]["BackupSelection"]["Resources"]},
            {"Table", "ErasureLogTable"},
        )
        pattern = self.t["Parameters"]["OffsiteBackupVaultArn"]["AllowedPattern"]
        self.assertRegex("arn:aws:backup:ap-southeast-1:123456789012:backup-vault:karcis-offsite", pattern)
        self.assertNotRegex("arn:aws:s3:::bucket", pattern)

    def test_every_failure_is_alarmed(self):
        failed = compile_pattern(self.p("BackupRunFailedFilter")["FilterPattern"])
        done = compile_pattern(self.p("BackupRunDoneFilter")["FilterPattern"])
        bad = json.loads(line("ERROR", "backup failed", run_id="daily-1", kind="daily_export", problem="x"))
        good = json.loads(line("INFO", "backup done", run_id="daily-1", items=10))
        self.assertTrue(failed(bad) and not failed(good))
        self.assertTrue(done(good) and not done(bad))
        code = (SRC / "operations" / "backup.rs").read_text(encoding="utf-8")
        for message in ("backup failed", "backup done"):
            self.assertRegex(code, r'tracing::\w+!\([^;]*"' + re.escape(message))
        alarms = {n: r["Properties"] for n, r in self.r.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
        self.assertEqual(alarms["BackupRunFailedAlarm"]["MetricName"], "BackupRunsFailed")
        missing = alarms["BackupRunMissingAlarm"]
        self.assertEqual(
            (missing["MetricName"], missing["ComparisonOperator"], missing["TreatMissingData"], missing["Period"]),
            ("BackupRunsDone", "LessThanThreshold", "breaching", 86400),
        )
        self.assertEqual(alarms["BackupCopyJobFailedAlarm"]["MetricName"], "NumberOfCopyJobsFailed")
        self.assertEqual(alarms["BackupDlqDepthAlarm"]["Dimensions"][0]["Value"], {"Fn::GetAtt": ["BackupDlq", "QueueName"]})
        for name in ("BackupRunFailedAlarm", "BackupRunMissingAlarm", "BackupCopyJobFailedAlarm", "BackupDlqDepthAlarm"):
            self.assertEqual(alarms[name]["AlarmActions"], [{"Ref": "AlarmTopic"}], name)


if __name__ == "__main__":
    unittest.main()
