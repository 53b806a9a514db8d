"""``--route`` runs the tests that check a documented route, and refuses a route not documented."""

from __future__ import annotations

import subprocess
import sys

from suite_runner import ROOT


def _collect(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "suites", "--collect-only", "-q", "-p", "no:randomly",
         "--report-dir=none", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def _ids(done: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in done.stdout.splitlines() if "::" in line]


def test_a_route_selects_its_tests_and_only_its_own_instances_of_route_parametrized_ones() -> None:
    done = _collect("--route", "POST /v1/security/launch-exchange")
    assert done.returncode == 0, done.stdout + done.stderr
    ids = _ids(done)
    assert any("test_used_code_is_rejected" in i for i in ids), ids  # LC-REPLAY
    assert any("test_fuzz[POST /v1/security/launch-exchange]" in i for i in ids), ids
    assert not any("test_fuzz[GET /v1/models]" in i for i in ids), ids  # another route's instance
    assert not any("test_healthz_answers_ok" in i for i in ids), ids  # HEALTH-OK: /healthz only


def test_a_path_alone_selects_every_method_of_it() -> None:
    ids = _ids(_collect("--route", "/v1/tasks/{taskId}/progress"))
    assert any("test_fuzz[GET /v1/tasks/{taskId}/progress]" in i for i in ids), ids
    assert any("test_fuzz[POST /v1/tasks/{taskId}/progress]" in i for i in ids), ids
    assert not any("test_fuzz[POST /v1/tasks/init]" in i for i in ids), ids


def test_route_and_invariant_selections_both_apply() -> None:
    ids = _ids(_collect("--route", "POST /v1/security/launch-exchange", "--invariant", "LC-REPLAY"))
    assert ids and any("test_used_code_is_rejected" in i for i in ids), ids
    assert not any("test_fuzz" in i for i in ids), ids


def test_an_undocumented_route_is_refused_with_the_documented_ones_listed() -> None:
    done = _collect("--route", "POST /v1/launch-exchange")
    output = done.stdout + done.stderr
    assert done.returncode == 4, output
    assert "--route names no documented route: 'POST /v1/launch-exchange'" in output, output
    assert "POST /v1/security/launch-exchange" in output, output
