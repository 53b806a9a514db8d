"""The durability suite against a ``--base-url`` target restarted by ``--restart-command``.

The engine runs detached on a database file (tests/restartable_engine.py); the harness is given
the shell command that restarts it, as an operator would give it the restart of a staging
deployment. The clean engine passes, an engine that remembers used credentials only in memory
is caught, a failing restart command is a setup problem (not verified, with its stderr) and no
restart command at all leaves the checks not verified with the reason.
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from pathlib import Path

import pytest
from seecodes_reference_engine.faults import FAULTS

from restartable_engine import RestartableEngine
from seecodes_conformance.engine_process import EngineProcess
from seecodes_conformance.redaction import SecretRegistry
from seecodes_conformance.restart import CommandRestart, RestartFailed
from seecodes_conformance.tls import TlsConfig
from suite_runner import SuiteRun, run_suites

INVARIANTS = ("RK-REPLAY", "LC-REPLAY")
AFTER_RESTART_FAULTS = sorted(name for name, fault in FAULTS.items() if fault.after_restart)


def _durability(base_url: str, workdir: Path, *args: str) -> SuiteRun:
    """Only the durability suite (its tests are the ones named "across a restart")."""
    run = run_suites(
        base_url,
        workdir,
        invariants=INVARIANTS,
        args=["-k", "across_a_restart", *args],
        reports=True,
        timeout=300,
    )
    assert len(run.cases) == 2, run.summary()
    return run


def test_clean_engine_passes_across_a_restart_command(tmp_path: Path) -> None:
    with RestartableEngine(tmp_path / "engine") as engine:
        pid_file = engine.state_dir / "engine.pid"
        first_pid = pid_file.read_text()
        run = _durability(engine.base_url, tmp_path, f"--restart-command={engine.restart_command}")
        last_pid = pid_file.read_text()
    assert not run.with_outcome("failed", "error", "skipped"), run.summary()
    assert run.statuses()["RK-REPLAY"] == "passed", run.summary()
    assert run.statuses()["LC-REPLAY"] == "passed", run.summary()
    assert last_pid != first_pid, "the restart command never restarted the engine"


@pytest.mark.parametrize("fault", AFTER_RESTART_FAULTS)
def test_replay_records_kept_in_memory_are_caught(fault: str, tmp_path: Path) -> None:
    invariant = FAULTS[fault].invariant
    with RestartableEngine(tmp_path / "engine", faults=[fault]) as engine:
        run = _durability(engine.base_url, tmp_path, f"--restart-command={engine.restart_command}")
    failed = run.with_outcome("failed", "error")
    assert [c for c in failed if f"[{invariant}]" in c.message], run.summary()
    assert run.statuses()[invariant] == "failed", run.summary()
    other = next(i for i in INVARIANTS if i != invariant)
    assert run.statuses()[other] == "passed", f"{fault} is not narrow:\n{run.summary()}"


def test_failing_restart_command_is_a_setup_problem(tmp_path: Path) -> None:
    script = tmp_path / "restart.py"
    script.write_text(
        "import sys\nprint('systemctl: unit engine.service not found', file=sys.stderr)\n"
        "sys.exit(3)\n"
    )
    command = shlex.join([sys.executable, str(script)])
    with EngineProcess() as engine:
        run = _durability(engine.base_url, tmp_path, f"--restart-command={command}")
    assert not run.with_outcome("failed", "error"), run.summary()
    for invariant in INVARIANTS:
        verdict = run.invariant(invariant)
        assert verdict["status"] == "not_verified", run.summary()
        text = json.dumps(verdict)
        assert "setup" in text and "exited 3" in text and "unit engine.service" in text, text


def test_restart_that_leaves_the_target_down_ends_the_run_as_an_outage(tmp_path: Path) -> None:
    """Every later test would fail against a dead target: the run stops with exit 7 instead of
    charging the protocol."""
    with RestartableEngine(tmp_path / "engine") as engine:
        stop_then_fail = engine.restart_command.replace(" restart ", " stop ") + "; exit 1"
        run = run_suites(
            engine.base_url,
            tmp_path,
            invariants=INVARIANTS,
            args=["-k", "across_a_restart", f"--restart-command={stop_then_fail}"],
            timeout=300,
        )
    assert run.returncode == 7, run.summary()
    assert "failed and the target no longer answers" in run.output, run.output[-3000:]
    assert not run.with_outcome("failed"), run.summary()


def test_without_a_restart_command_the_checks_are_not_verified(tmp_path: Path) -> None:
    with EngineProcess() as engine:
        run = _durability(engine.base_url, tmp_path)
    for invariant in INVARIANTS:
        verdict = run.invariant(invariant)
        assert verdict["status"] == "not_verified", run.summary()
        assert "no restart command (--restart-command)" in json.dumps(verdict)


# -- CommandRestart on its own -------------------------------------------------------------------


def test_restart_command_stderr_is_shown_redacted() -> None:
    secrets = SecretRegistry()
    secret = "deploy-token-5f0c1e2d3b4a69788796a5b4c3d2e1f0"
    secrets.add(secret, "restart")
    restart = CommandRestart(
        f"echo 'login failed for {secret}' >&2; exit 1",
        "http://127.0.0.1:9",
        TlsConfig(),
        secrets=secrets,
    )
    with pytest.raises(RestartFailed) as failed:
        restart.restart()
    message = str(failed.value)
    assert "exited 1" in message and "login failed" in message
    assert secret not in message


def test_restart_command_that_hangs_is_stopped_at_its_timeout() -> None:
    restart = CommandRestart("sleep 5", "http://127.0.0.1:9", TlsConfig(), timeout=0.5)
    with pytest.raises(RestartFailed, match=r"did not finish within 0\.5 s") as failed:
        restart.restart()
    assert failed.value.target_down  # nothing answers on port 9


def test_restart_command_may_leave_the_target_running_in_the_background() -> None:
    """A command that starts the target in the background returns at once: the harness does
    not wait for the pipes the background process inherited."""
    with EngineProcess() as engine:
        restart = CommandRestart("sleep 3 & exit 0", engine.base_url, TlsConfig())
        started = time.monotonic()
        restart.restart()
    assert time.monotonic() - started < 2.5


def test_target_that_never_comes_back_is_a_restart_failure() -> None:
    restart = CommandRestart("true", "http://127.0.0.1:9", TlsConfig(), healthy_timeout=1.0)
    with pytest.raises(RestartFailed, match="did not answer GET /healthz with 200 within 1 s"):
        restart.restart()
