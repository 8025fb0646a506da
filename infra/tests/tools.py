"""Paths of the validators (set by mk/infra.mk) and how to run each one offline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

INFRA = Path(__file__).resolve().parent.parent
TEMPLATE = INFRA / "template.yaml"
BUILD = Path(os.environ.get("KARCIS_INFRA_BUILD", INFRA / ".build"))
EXPANDED = BUILD / "template.json"
REGION = os.environ.get("AWS_REGION", "ap-southeast-3")

_ENV_VARS = {
    "expand": "KARCIS_TRANSLATOR_PY",
    "cfn-lint": "KARCIS_CFN_LINT",
    "checkov": "KARCIS_CHECKOV",
    "sam-validate": "KARCIS_SAM",
}


def tool(name: str) -> str:
    var = _ENV_VARS[name]
    path = os.environ.get(var)
    if not path or not os.path.exists(path):
        raise RuntimeError(f"{var} is not set to an installed tool: run through `make test-infra`")
    return path


def offline_env() -> dict[str, str]:
    """The environment for the AWS tools: a region, no credentials, no telemetry."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_REGION=REGION,
        AWS_DEFAULT_REGION=REGION,
        AWS_CONFIG_FILE="/dev/null",
        AWS_SHARED_CREDENTIALS_FILE="/dev/null",
        AWS_EC2_METADATA_DISABLED="true",
        SAM_CLI_TELEMETRY="0",
        BC_SKIP_MAPPING="TRUE",
    )
    return env


def run(cmd: list[str], timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env=offline_env(), capture_output=True, text=True, timeout=timeout)


def expand(src: Path, dst: Path) -> subprocess.CompletedProcess:
    return run([tool("expand"), str(INFRA / "scripts" / "expand.py"), str(src), str(dst)])


# cfn-lint takes seconds of CPU per expanded template; a loaded 2-core machine (a release build
# next to the tests) made 28 mutants take more than 300 s. The bound grows with the files.
CFN_LINT_SECS_PER_FILE = 60


def cfn_lint(files: list[Path]) -> tuple[int, dict[str, list[str]]]:
    """Lints several files in one process; returns exit code and rule ids matched per file."""
    proc = run(
        [tool("cfn-lint"), "--format", "json", "--", *map(str, files)],
        timeout=300 + CFN_LINT_SECS_PER_FILE * len(files),
    )
    per_file: dict[str, list[str]] = {str(f): [] for f in files}
    if proc.stdout.strip():
        for match in json.loads(proc.stdout):
            fname = match.get("Filename", "")
            rule = match.get("Rule", {}).get("Id", "?")
            for f in files:
                if os.path.abspath(fname) == os.path.abspath(str(f)):
                    per_file[str(f)].append(rule)
    if proc.returncode not in (0, 2, 4, 6, 8, 10, 12, 14) and not proc.stdout.strip():
        raise RuntimeError(f"cfn-lint crashed ({proc.returncode}): {proc.stderr[-2000:]}")
    return proc.returncode, per_file


def checkov_dir(directory: Path) -> dict[str, list[str]]:
    """Runs checkov once over a directory; failed check ids per file name."""
    proc = run(
        [
            tool("checkov"), "--skip-download", "--framework", "cloudformation",
            "--output", "json", "--directory", str(directory),
        ],
        # about a second of CPU per template, quiet; bounded generously for a loaded machine
        timeout=300 + 20 * sum(1 for _ in directory.iterdir()),
    )
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"checkov crashed ({proc.returncode}): {proc.stderr[-2000:]}")
    data = json.loads(proc.stdout)
    reports = data if isinstance(data, list) else [data]
    failed: dict[str, list[str]] = {}
    for report in reports:
        for chk in report.get("results", {}).get("failed_checks", []):
            failed.setdefault(Path(chk["file_path"]).name, []).append(chk["check_id"])
    return failed


def sam_validate(template: Path) -> subprocess.CompletedProcess:
    return run([tool("sam-validate"), "validate", "--lint", "--template", str(template), "--region", REGION])


if __name__ == "__main__":
    print({k: os.environ.get(v) for k, v in _ENV_VARS.items()}, file=sys.stderr)
