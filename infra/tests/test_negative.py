"""Negative tests: broken copies of the template must be rejected by the validators that should
catch them (and accepted by the others, which documents each tool's blind spots).

All mutants are built first; checkov and cfn-lint then run once over all of them (one process
each, they take seconds to start), the SAM transform and `sam validate` once per mutant.
"""

from __future__ import annotations

import json
import shutil
import sys
import unittest
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import checks  # noqa: E402
import tools  # noqa: E402
from mutants import MUTANTS, Mutant  # noqa: E402

RESULTS: dict[str, dict[str, tuple[bool, str]]] = {}


def build_and_validate() -> None:
    work = tools.BUILD / "mutants"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    text = tools.TEMPLATE.read_text(encoding="utf-8")
    for m in MUTANTS:
        (work / f"{m.name}.yaml").write_text(m.apply(text), encoding="utf-8")
        RESULTS[m.name] = {}

    def expand_one(m: Mutant):
        return m, tools.expand(work / f"{m.name}.yaml", work / f"{m.name}.json")

    def sam_one(m: Mutant):
        return m, tools.sam_validate(work / f"{m.name}.yaml")

    sam_mutants = [m for m in MUTANTS if "sam-validate" in m.fails or m.sam_must_pass]
    with ThreadPoolExecutor(max_workers=2) as pool:
        sam_jobs = [pool.submit(sam_one, m) for m in sam_mutants]
        for m, proc in pool.map(expand_one, MUTANTS):
            RESULTS[m.name]["expand"] = (proc.returncode != 0, proc.stdout + proc.stderr)
        expanded = [work / f"{m.name}.json" for m in MUTANTS if not RESULTS[m.name]["expand"][0]]
        _, lint = tools.cfn_lint(expanded)
        for m in MUTANTS:
            if not RESULTS[m.name]["expand"][0]:
                rules = lint[str(work / f"{m.name}.json")]
                RESULTS[m.name]["cfn-lint"] = (bool(rules), " ".join(rules))
                tpl = json.loads((work / f"{m.name}.json").read_text(encoding="utf-8"))
                problems = checks.all_problems(tpl)
                RESULTS[m.name]["checks"] = (bool(problems), "\n".join(problems))
        # checkov on the SAM copies only (the real template is also checked expanded): a scan
        # costs about a second of CPU per template.
        checkov_dir = work / "checkov"
        checkov_dir.mkdir()
        for m in MUTANTS:
            shutil.copy(work / f"{m.name}.yaml", checkov_dir)
        failed = tools.checkov_dir(checkov_dir)
        for m in MUTANTS:
            ids = failed.get(f"{m.name}.yaml", [])
            RESULTS[m.name]["checkov"] = (bool(ids), " ".join(sorted(set(ids))))
        for job in sam_jobs:
            m, proc = job.result()
            RESULTS[m.name]["sam-validate"] = (proc.returncode != 0, (proc.stdout + proc.stderr)[-1500:])


class NegativeTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        build_and_validate()

    def check_mutant(self, m: Mutant) -> None:
        got = RESULTS[m.name]
        for validator, (failed, output) in sorted(got.items()):
            if validator in m.fails:
                self.assertTrue(failed, f"{m.name} ({m.why}): {validator} should reject it but accepted it")
            else:
                self.assertFalse(
                    failed,
                    f"{m.name}: {validator} rejected it unexpectedly (update mutants.py if a tool got "
                    f"stricter):\n{output}",
                )
        for validator in m.fails:
            self.assertIn(validator, got, f"{m.name}: {validator} did not run")
        if m.checkov_ids:
            self.assertTrue(
                m.checkov_ids <= set(got["checkov"][1].split()),
                f"{m.name}: checkov failed {got['checkov'][1]!r}, expected {sorted(m.checkov_ids)}",
            )


def _make(m: Mutant):
    def test(self):
        self.check_mutant(m)

    test.__doc__ = f"{m.name}: {m.why} -> rejected by {', '.join(sorted(m.fails))}"
    return test


for _m in MUTANTS:
    setattr(NegativeTests, f"test_{_m.name.replace('-', '_')}", _make(_m))


if __name__ == "__main__":
    unittest.main()
