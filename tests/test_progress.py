"""Long waits say what they wait for, how long so far and how long at most, and stay quiet
when short: on the terminal, past pytest's capture, with -q and from xdist workers."""

from __future__ import annotations

from pathlib import Path

import pytest

from seecodes_conformance import progress as progress_module
from seecodes_conformance.engine_process import EngineProcess
from seecodes_conformance.plugin import EMBEDDED_ENGINE_ARGS
from seecodes_conformance.progress import PROGRESS_AFTER_S, PROGRESS_EVERY_S, Progress
from suite_runner import run_suites


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def test_a_long_sleep_says_what_it_waits_for(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    monkeypatch.setattr(
        progress_module.time, "sleep", lambda s: setattr(clock, "now", clock.now + s)
    )
    lines: list[str] = []
    progress = Progress(clock)
    progress.configure(lines.append)

    progress.sleep(25.0, "a permit to expire (PERMIT-LIFETIME)")

    assert lines == [
        "seecodes: waiting for a permit to expire (PERMIT-LIFETIME) (0 s so far, at most 25 s)",
        "seecodes: waiting for a permit to expire (PERMIT-LIFETIME) (10 s so far, at most 25 s)",
        "seecodes: waiting for a permit to expire (PERMIT-LIFETIME) (20 s so far, at most 25 s)",
    ]
    assert clock.now == pytest.approx(25.0)


def test_a_short_sleep_and_an_unconfigured_one_are_quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress_module.time, "sleep", lambda s: None)
    lines: list[str] = []
    progress = Progress()
    progress.sleep(PROGRESS_AFTER_S + 60, "nothing configured")  # no writer: silent
    progress.configure(lines.append)
    progress.sleep(PROGRESS_AFTER_S - 1, "a short wait")
    assert lines == []


def test_ticks_report_a_long_activity_at_most_every_interval() -> None:
    clock = FakeClock()
    lines: list[str] = []
    progress = Progress(clock)
    progress.configure(lines.append)
    for second in range(0, 31):
        clock.now = float(second)
        progress.tick("machine", lambda so_far: f"running {so_far:.0f} s")
    assert lines == ["running 5 s", "running 15 s", "running 25 s"]
    assert PROGRESS_EVERY_S == 10.0
    progress.done("machine")
    clock.now = 100.0
    progress.tick("machine", lambda so_far: f"running {so_far:.0f} s")
    assert lines[-1] == "running 25 s"  # a new activity starts its own count


@pytest.mark.parametrize("workers", ["0", "2"])
def test_an_expiry_wait_shows_on_the_terminal(tmp_path: Path, workers: str) -> None:
    """Request keys of 8 s: the RK-EXPIRY wait prints its line under -q, with and without
    xdist workers, and the run still passes."""
    with EngineProcess(extra_args=(*EMBEDDED_ENGINE_ARGS, "--request-key-ttl", "8")) as engine:
        run = run_suites(engine.base_url, tmp_path, invariants=["RK-EXPIRY"], args=["-n", workers])
    assert run.returncode == 0, run.summary()
    assert "seecodes: waiting for request keys to expire (RK-EXPIRY)" in run.output, run.output
