"""Slow targets: runs that take a while settle side by side, and the wait shows its progress.

"A run may take minutes": against the engine's ``slow-runs`` variant (runs settle only after a
delay, their non-terminal statuses in another order and repeating) the run suites pass, and
the session's runs settle concurrently: the run registry reports more than one run pending at
once and a total wait far below (number of runs) x (delay). These are figures the registry
records, never a tight timer. The poller's backoff and its respect for ``Retry-After`` are
shown on a scripted permit, by lower bounds on the pauses between polls.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from seecodes_conformance.engine_process import EngineProcess
from seecodes_conformance.flows import Run
from seecodes_conformance.flows.run_registry import EarlyRuns, RunRegistry, TrackedRun
from seecodes_conformance.oracle import InvariantViolation, fail
from seecodes_conformance.outcomes import LOG, NotVerified, not_verified
from seecodes_conformance.plugin import EMBEDDED_ENGINE_ARGS
from suite_runner import SuiteRun, run_suites

# Long enough that a test waits past the first progress line (5 s) on a busy machine, short
# enough for CI; the engine's default is 60 s.
SETTLE_S = 12
RUN_INVARIANTS = ["RUN-STATUS", "RUN-MONOTONIC", "RUN-ARTIFACTS", "PERMIT-BINDING-RUN",
                  "LC-NOT-PERMIT", "PERMIT-REQUIRED", "FORGE-NOT-PERMIT"]  # fmt: skip
SUMMARY = re.compile(
    r"seecodes: run registry: (\d+) run\(s\) tracked, at most (\d+) pending at once, "
    r"\d+ polls, (\d+) s waited in all"
)
PROGRESS = re.compile(r"seecodes: waiting for \d+ runs? to settle \(\d+ s so far, at most \d+ s\)")


# -- the poller, on a scripted permit ------------------------------------------------------------


@dataclass
class ScriptedPermit:
    """Answers ``GET /v1/tasks/{id}`` from a script of (status code, run status, headers)."""

    script: list[tuple[int, str | None, dict[str, str]]]
    polled_at: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, path: str, **_: Any) -> httpx.Response:
        with self.lock:
            self.polled_at.append(time.monotonic())
            code, status, headers = self.script[min(len(self.polled_at), len(self.script)) - 1]
        body = {"ok": True, "status": {"status": status}} if status else {"detail": "slow down"}
        return httpx.Response(code, json=body, headers=headers,
                              request=httpx.Request("GET", f"http://target{path}"))  # fmt: skip


def _tracked(registry: RunRegistry, permit: ScriptedPermit, **kwargs: Any) -> TrackedRun:
    return registry.track(Run("run-1", {}, permit), **kwargs)  # type: ignore[arg-type]


def _pauses(permit: ScriptedPermit) -> list[float]:
    return [b - a for a, b in zip(permit.polled_at, permit.polled_at[1:], strict=False)]


def test_polling_backs_off_from_half_a_second_doubling() -> None:
    permit = ScriptedPermit([(200, "processing_remote", {}), (200, "queued", {}),
                             (200, "in_process", {}), (200, "succeeded", {})])  # fmt: skip
    registry = RunRegistry(120)
    try:
        tracked = registry.settled(_tracked(registry, permit), "RUN-STATUS")
    finally:
        registry.close()

    assert tracked.final == "succeeded"
    assert tracked.statuses == ["processing_remote", "queued", "in_process", "succeeded"]
    pauses = _pauses(permit)
    assert len(pauses) == 3
    for pause, at_least in zip(pauses, (0.5, 1.0, 2.0), strict=True):
        assert pause >= at_least - 0.05, pauses


def test_a_throttled_poll_waits_as_long_as_retry_after_asks() -> None:
    permit = ScriptedPermit([(429, None, {"Retry-After": "2"}), (200, "succeeded", {})])
    registry = RunRegistry(120)
    try:
        tracked = registry.settled(_tracked(registry, permit), "RUN-STATUS")
    finally:
        registry.close()

    assert tracked.statuses == ["succeeded"]  # "not now" says nothing about the run
    assert _pauses(permit)[0] >= 2.0 - 0.05, _pauses(permit)


def test_a_run_that_does_not_settle_within_the_wait_is_not_verified_naming_the_wait() -> None:
    permit = ScriptedPermit([(200, "queued", {})])
    registry = RunRegistry(1.0)
    try:
        tracked = _tracked(registry, permit)
        with pytest.raises(NotVerified, match=r"did not settle within 1 s, the wait for a run"):
            registry.settled(tracked, "RUN-STATUS")
    finally:
        registry.close()
    assert tracked.timed_out


def test_the_progress_line_names_the_runs_how_long_so_far_and_at_most() -> None:
    permit = ScriptedPermit([(200, "processing_remote", {})])
    registry = RunRegistry(180)
    try:
        tracked = _tracked(registry, permit, label="r-1")
        deadline = time.monotonic() + 30
        while not tracked.history and time.monotonic() < deadline:
            time.sleep(0.05)
        line = registry.progress_line([tracked], tracked.started + 35)
    finally:
        registry.close()
    assert line == (
        "seecodes: waiting for 1 run to settle (35 s so far, at most 180 s): "
        "run r-1 processing_remote"
    )


# -- the suites against slow runs ----------------------------------------------------------------


def _against_slow_runs(tmp_path: Path, *args: str) -> SuiteRun:
    extra = (*EMBEDDED_ENGINE_ARGS, "--slow-run-settle", str(SETTLE_S))
    with EngineProcess(variants=("slow-runs",), extra_args=extra) as engine:
        return run_suites(engine.base_url, tmp_path, invariants=RUN_INVARIANTS, reports=True,
                          args=["--profile=smoke", *args])  # fmt: skip


def _registry_summaries(run: SuiteRun) -> list[tuple[int, int, int]]:
    found = [tuple(map(int, m.groups())) for m in SUMMARY.finditer(run.output)]
    return found  # type: ignore[return-value]


@pytest.mark.parametrize("workers", [0, 2], ids=["one-process", "two-workers"])
def test_slow_runs_pass_and_settle_side_by_side(workers: int, tmp_path: Path) -> None:
    """[slow targets] The run suites pass against runs that settle after SETTLE_S s with their
    statuses in another order; the runs settle concurrently (more than one pending at once,
    far less waited than runs x delay); the progress line shows, under -q and under xdist."""
    run = _against_slow_runs(tmp_path, "-n", str(workers))

    assert run.cases, run.summary()
    assert not run.with_outcome("failed", "error"), run.summary()
    assert run.returncode == 0, run.summary()
    for invariant in ("RUN-STATUS", "RUN-MONOTONIC", "RUN-ARTIFACTS", "PERMIT-BINDING-RUN"):
        assert run.statuses().get(invariant) == "passed", (invariant, run.statuses())
    summaries = _registry_summaries(run)
    assert summaries, run.output[-3000:]
    for tracked, most_pending, waited in summaries:  # one per process
        assert most_pending > 1, summaries
        assert waited < tracked * SETTLE_S / 2, summaries
    assert PROGRESS.search(run.output), run.output[-3000:]


# -- early runs: started together, judged in the test that takes them -----------------------------


def test_early_runs_start_every_starter_at_the_first_take_and_reraise_in_the_taker() -> None:
    started: list[str] = []

    def quick(protocol: Any, registry: RunRegistry) -> str:
        started.append(f"quick by {protocol}")
        return "arranged"

    def unsettled(protocol: Any, registry: RunRegistry) -> str:
        started.append("unsettled")
        not_verified("RUN-STATUS", "timeout", "the run did not settle", "a longer --run-wait")

    def broken(protocol: Any, registry: RunRegistry) -> str:
        started.append("broken")
        fail("RUN-START", "start answered 500")

    registry = RunRegistry(60)
    early = EarlyRuns(registry, [quick, unsettled, broken], protocol_for=lambda owner: owner)
    try:
        LOG.reset()
        assert early.take(quick) == "arranged"
        assert started == [f"quick by early:{__name__}.quick", "unsettled", "broken"]

        LOG.reset()  # the next test: its own log
        with pytest.raises(NotVerified):
            early.take(unsettled)
        assert [str(u) for u in LOG.tallies()["RUN-STATUS"].unverified], LOG.tallies()
        with pytest.raises(InvariantViolation, match=r"\[RUN-START\]"):
            early.take(broken)
        assert started.count("broken") == 1  # taken once: never started twice
    finally:
        LOG.reset()
        registry.close()
