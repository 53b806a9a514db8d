"""Run the conformance suites in a subprocess against a given engine and read the JUnit result.

The self-tests use this to prove each fault is caught (fault matrix) and that no legal variation
is flagged (restraint). Each run is a real pytest session against a real server.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class CaseResult:
    name: str
    outcome: str  # passed | failed | error | skipped
    message: str


@dataclass
class SuiteRun:
    returncode: int
    elapsed: float
    output: str
    cases: list[CaseResult] = field(default_factory=list)
    certification: dict[str, Any] = field(default_factory=dict)  # with reports=True

    def statuses(self) -> dict[str, str]:
        """Invariant id -> status, from certification.json."""
        return {i["id"]: i["status"] for i in self.certification.get("invariants", [])}

    def invariant(self, invariant_id: str) -> dict[str, Any]:
        return next(i for i in self.certification["invariants"] if i["id"] == invariant_id)

    def with_outcome(self, *outcomes: str) -> list[CaseResult]:
        return [c for c in self.cases if c.outcome in outcomes]

    def summary(self, limit: int = 4000) -> str:
        bad = self.with_outcome("failed", "error")
        lines = [
            f"exit {self.returncode} in {self.elapsed:.1f}s; "
            f"{len(self.cases)} cases, {len(bad)} failed"
        ]
        lines += [f"- {c.name}: {c.message[:300]}" for c in bad[:20]]
        text = "\n".join(lines)
        return text if bad else text + "\n" + self.output[-limit:]


def run_suites(
    base_url: str,
    workdir: Path,
    *,
    invariants: Sequence[str] = (),
    args: Sequence[str] = (),
    timeout: float = 900,
    reports: bool = False,
) -> SuiteRun:
    """``reports``: also write the certification report and read it into ``certification``."""
    junit = workdir / "junit.xml"
    report_dir = workdir / "reports"
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "suites",
        "-q",
        "-p",
        "no:randomly",
        "-n",
        "0",
        f"--base-url={base_url}",
        f"--junitxml={junit}",
        "--stateful-shrink=0",  # the matrix needs the verdict, not the shortest sequence
        f"--report-dir={report_dir if reports else 'none'}",
        *args,
    ]
    cmd += [f"--invariant={i}" for i in invariants]
    started = time.monotonic()
    done = subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )
    run = SuiteRun(done.returncode, time.monotonic() - started, done.stdout + done.stderr)
    if junit.exists():
        run.cases = _parse_junit(junit)
    certificates = sorted(report_dir.glob("*/certification.json")) if reports else []
    if certificates:
        run.certification = json.loads(certificates[-1].read_text(encoding="utf-8"))
    return run


def _parse_junit(path: Path) -> list[CaseResult]:
    cases = []
    for case in ET.parse(path).getroot().iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            node = case.find(tag)
            if node is not None:
                outcome = {"failure": "failed"}.get(tag, tag)
                message = (node.get("message") or "") + "\n" + (node.text or "")
                break
        cases.append(CaseResult(name, outcome, message))
    return cases
