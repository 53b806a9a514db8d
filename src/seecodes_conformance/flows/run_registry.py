"""Runs settled concurrently: one background poller for every run the session started.

"A run may take minutes", and the protocol bounds no run's duration. Polling each run in its
own test, one after the other, makes the suite take (number of runs) x (run time). Instead,
tests hand their started runs to a ``RunRegistry``; one thread polls every pending run with a
polite backoff (0.5 s doubling to 5 s each, a throttled answer's ``Retry-After`` honoured),
through the harness's counted client, and records each run's history. A test then waits for
its run, bounded by --run-wait counted from the run's start, so the suite's wall time grows
with the slowest run, not with the number of runs.

The poller records and never judges: a check recorded from a background thread would land in
whichever test happens to run. Tests judge the recorded history; a run that did not settle
within the wait is "not verified" with a reason naming the wait. Each process (xdist worker)
has a registry of its own: runs are polled by the process whose tests need them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

import httpx

from seecodes_conformance.flows.runs import (
    FIRST_POLL_INTERVAL_S,
    MAX_POLL_INTERVAL_S,
    RUN_STATUSES,
    SETTLED,
    Run,
    RunSteps,
    settle_wait_hint,
)
from seecodes_conformance.http import is_throttled
from seecodes_conformance.http.throttling import retry_after_s
from seecodes_conformance.oracle import assert_success, fail, throttled
from seecodes_conformance.outcomes import LOG, Unverified, not_verified

__all__ = [
    "PROGRESS_AFTER_S",
    "PROGRESS_EVERY_S",
    "EarlyRuns",
    "RegistryRecord",
    "RunRegistry",
    "Starter",
    "TrackedRun",
    "starters_of",
]

PROGRESS_AFTER_S = 5.0  # a wait shorter than this shows nothing
PROGRESS_EVERY_S = 10.0  # at most one progress line this often
LONGEST_RETRY_AFTER_S = 60.0  # a Retry-After beyond this is read as this (the wait still bounds)

ProgressWriter = Callable[[str], None]


@dataclass
class TrackedRun:
    """A started run the poller watches, and everything it saw (recorded, not judged)."""

    run: Run
    label: str
    wait: float  # seconds from ``started`` the run may take to settle (--run-wait)
    polls_after_settled: int  # more polls once settled: a settled status must stay final
    started: float  # time.monotonic() when it was handed to the registry
    history: list[httpx.Response] = field(default_factory=list)
    settled_at: float | None = None
    timed_out: bool = False
    error: BaseException | None = None  # the poller's own trouble (budget, connection)
    throttled: httpx.Response | None = None  # the last answer, if it was "not now"
    done: threading.Event = field(default_factory=threading.Event)
    _next_poll: float = 0.0
    _interval: float = FIRST_POLL_INTERVAL_S
    _after: int = 0

    @property
    def statuses(self) -> list[str | None]:
        return [RunSteps.run_status(response) for response in self.history]

    @property
    def last_status(self) -> str | None:
        return RunSteps.run_status(self.history[-1]) if self.history else None

    @property
    def final(self) -> str | None:
        """The first settled status seen, or None if the run never settled."""
        return next((s for s in self.statuses if s in SETTLED), None)


@dataclass
class RegistryRecord:
    """What the registry did, for the self-tests and the benchmark (figures, not timings)."""

    tracked: int = 0
    polls: int = 0
    most_pending: int = 0  # the most runs pending at once: above 1, they settled concurrently
    waited_s: float = 0.0  # the total time tests spent waiting for runs


class RunRegistry:
    """Every run this process started, settled by one background poller."""

    def __init__(
        self,
        run_wait: float,
        *,
        progress: ProgressWriter | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.run_wait = run_wait
        self.record = RegistryRecord()
        self._progress = progress
        self._clock = clock
        self._runs: list[TrackedRun] = []
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._last_progress = 0.0

    # -- handing runs over -----------------------------------------------------------------
    def track(
        self,
        run: Run,
        *,
        label: str | None = None,
        polls_after_settled: int = 0,
        wait: float | None = None,
    ) -> TrackedRun:
        """Start watching ``run`` (already started); the first poll goes out at once."""
        now = self._clock()
        tracked = TrackedRun(
            run=run,
            label=label or run.run_id,
            wait=self.run_wait if wait is None else wait,
            polls_after_settled=polls_after_settled,
            started=now,
        )
        with self._changed:
            if self._closed:
                raise RuntimeError("the run registry is closed")
            self._runs.append(tracked)
            self.record.tracked += 1
            self.record.most_pending = max(self.record.most_pending, len(self.pending()))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._poll_forever, name="seecodes-run-poller", daemon=True
                )
                self._thread.start()
            self._changed.notify_all()
        return tracked

    def pending(self) -> list[TrackedRun]:
        return [tracked for tracked in self._runs if not tracked.done.is_set()]

    # -- waiting (the test's thread) --------------------------------------------------------
    def wait(self, tracked: TrackedRun) -> TrackedRun:
        """Block until the poller is done with ``tracked`` (settled, stopped or out of time),
        writing a progress line now and then; re-raises the poller's own trouble."""
        began = self._clock()
        # Beyond the wait and the longest pause between polls, something is stuck (a poll
        # held up by the transport's own patience): stop waiting, as for an unsettled run.
        give_up = tracked.started + tracked.wait + LONGEST_RETRY_AFTER_S + 2 * MAX_POLL_INTERVAL_S
        try:
            while not tracked.done.wait(timeout=1.0):
                if self._thread is None or not self._thread.is_alive():
                    tracked.error = RuntimeError("the run poller stopped before the run settled")
                    break
                if self._clock() > give_up:
                    tracked.timed_out = True
                    break
                self._maybe_report_progress(began)
        finally:
            self.record.waited_s += self._clock() - began
        if tracked.error is not None:
            raise tracked.error
        return tracked

    def settled(self, tracked: TrackedRun, invariant: str) -> TrackedRun:
        """``tracked`` once settled, judged as ``poll_statuses`` judges: every answer a
        documented status (RUN-STATUS); not verified for ``invariant`` if it never settled
        within the wait, or if the target kept answering "not now"."""
        self.wait(tracked)
        if tracked.final is not None:
            return tracked
        if tracked.throttled is not None:
            throttled(tracked.throttled, invariant, f"polling run {tracked.run.run_id}")
        if tracked.history:
            last = tracked.history[-1]
            assert_success(last, "RUN-STATUS", what="polling a run")
            status = RunSteps.run_status(last)
            if status not in RUN_STATUSES:
                fail("RUN-STATUS", f"run status {status!r} is not a documented status", [last])
        self.not_settled(tracked, invariant)

    @staticmethod
    def not_settled(tracked: TrackedRun, invariant: str | list[str]) -> NoReturn:
        seen = ", ".join(dict.fromkeys(map(str, tracked.statuses))) or "none"
        not_verified(
            invariant,
            "timeout",
            f"run {tracked.run.run_id} did not settle within {tracked.wait:g} s, the wait for a "
            f"run (statuses seen: {seen})",
            settle_wait_hint(tracked.wait),
        )

    def _maybe_report_progress(self, began: float) -> None:
        now = self._clock()
        if self._progress is None or now - began < PROGRESS_AFTER_S:
            return
        if now - self._last_progress < PROGRESS_EVERY_S:
            return
        self._last_progress = now
        with self._changed:
            pending = self.pending()
        if pending:
            self._progress(self.progress_line(pending, now))

    @staticmethod
    def progress_line(pending: list[TrackedRun], now: float) -> str:
        """``seecodes: waiting for 4 runs to settle (35 s so far, at most 180 s): run r-1
        processing_remote, ...``: which runs, how long so far, how long at most."""
        oldest = min(pending, key=lambda tracked: tracked.started)
        so_far = now - oldest.started
        at_most = max(tracked.wait for tracked in pending)
        runs = ", ".join(f"run {t.label} {t.last_status or 'not polled yet'}" for t in pending)
        noun = "run" if len(pending) == 1 else "runs"
        return (
            f"seecodes: waiting for {len(pending)} {noun} to settle ({so_far:.0f} s so far, "
            f"at most {at_most:g} s): {runs}"
        )

    def summary_line(self) -> str:
        """How the runs went, once the session is over: ``at most N pending at once`` above 1
        means they settled side by side (the self-tests read it)."""
        record = self.record
        return (
            f"seecodes: run registry: {record.tracked} run(s) tracked, at most "
            f"{record.most_pending} pending at once, {record.polls} polls, "
            f"{record.waited_s:.0f} s waited in all"
        )

    # -- the poller -------------------------------------------------------------------------
    def close(self) -> None:
        """Stop polling (session end); runs still pending stay unsettled."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=MAX_POLL_INTERVAL_S * 2)
        for tracked in self._runs:
            tracked.done.set()

    def _poll_forever(self) -> None:
        while True:
            with self._changed:
                if self._closed:
                    return
                now = self._clock()
                pending = self.pending()
                due = [tracked for tracked in pending if tracked._next_poll <= now]
                if not due:
                    soonest = min((t._next_poll for t in pending), default=now + 1.0)
                    self._changed.wait(timeout=max(0.01, min(soonest - now, 1.0)))
                    continue
            for tracked in due:
                self._poll_once(tracked)

    def _poll_once(self, tracked: TrackedRun) -> None:
        try:
            response = tracked.run.permit.get(f"/v1/tasks/{tracked.run.run_id}")
        except BaseException as exc:  # the test re-raises it: budget, connection, anything
            tracked.error = exc
            tracked.done.set()
            return
        now = self._clock()
        self.record.polls += 1
        tracked.history.append(response)
        status = RunSteps.run_status(response)
        if is_throttled(response.status_code, response.headers):
            tracked.history.pop()  # "not now" says nothing about the run
            tracked.throttled = response
            if now - tracked.started > tracked.wait:
                tracked.timed_out = True
                tracked.done.set()
                return
            asked = retry_after_s(response.headers)
            pause = min(asked, LONGEST_RETRY_AFTER_S) if asked is not None else 0.0
            tracked._next_poll = now + max(pause, tracked._interval)
            tracked._interval = min(tracked._interval * 2, MAX_POLL_INTERVAL_S)
            return
        tracked.throttled = None
        if not response.is_success or status not in RUN_STATUSES:
            tracked.done.set()  # the test judges this answer
            return
        if status in SETTLED:
            if tracked.settled_at is None:
                tracked.settled_at = now
                tracked._after = tracked.polls_after_settled
            elif tracked._after > 0:
                tracked._after -= 1
            if tracked._after <= 0:
                tracked.done.set()
                return
            tracked._next_poll = now + FIRST_POLL_INTERVAL_S
            return
        if tracked.settled_at is not None:  # moved on from a settled status: the test judges
            tracked.done.set()
            return
        if now - tracked.started > tracked.wait:
            tracked.timed_out = True
            tracked.done.set()
            return
        tracked._next_poll = now + min(tracked._interval, tracked.started + tracked.wait - now)
        tracked._interval = min(tracked._interval * 2, MAX_POLL_INTERVAL_S)


# starter(protocol steps, registry) -> the test's arrangement. The steps are typed Any: they
# combine every flow (flows.steps), which imports this module through flows.probes.
Starter = Callable[[Any, RunRegistry], Any]


class EarlyRuns:
    """The runs the session's tests need, started together at the first test that needs one.

    A suite module declares ``EARLY_RUNS = {name: starter}``: ``name`` is a fixture or test
    function of that module, ``starter(protocol, registry)`` arranges what that test needs
    (permits, started runs handed to ``registry``) and returns it, judging nothing it cannot
    stand behind. At the first ``take``, every starter of a selected test runs, so their runs
    settle side by side; the test then takes its arrangement and waits for its runs. A starter
    that raised re-raises in the test that takes it (its check, its verdict). Each starter
    gets protocol steps with principals of its own (``protocol_for(owner)``).
    """

    def __init__(
        self,
        registry: RunRegistry,
        starters: list[Starter],
        protocol_for: Callable[[str], Any],
    ) -> None:
        self.registry = registry
        self._starters = list(dict.fromkeys(starters))
        self._protocol_for = protocol_for
        self._made: dict[Starter, _Made] = {}
        self._started = False

    def take(self, starter: Starter) -> Any:
        """What ``starter`` arranged (made now if it was not among the early ones)."""
        if not self._started:
            self._started = True
            for early in self._starters:
                self._made[early] = self._make(early)
        made = self._made.pop(starter, None) or self._make(starter)
        if made.error is not None:
            for invariant, reason in made.unverified:  # recorded in the test that started it
                LOG.unverified([invariant], reason)
            raise made.error
        return made.value

    def _make(self, starter: Starter) -> _Made:
        owner = f"early:{starter.__module__}.{starter.__name__}"
        before = {iid: len(tally.unverified) for iid, tally in LOG.tallies().items()}
        try:
            return _Made(starter(self._protocol_for(owner), self.registry))
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # a check's failure or "not verified": the taker's
            recorded = [
                (iid, reason)
                for iid, tally in LOG.tallies().items()
                for reason in tally.unverified[before.get(iid, 0) :]
            ]
            return _Made(None, exc, recorded)


@dataclass
class _Made:
    value: Any
    error: BaseException | None = None
    unverified: list[tuple[str, Unverified]] = field(default_factory=list)


def starters_of(modules_and_names: list[tuple[object, set[str]]]) -> list[Starter]:
    """The starters that the given (module, names used by a selected test) pairs declare."""
    found: list[Starter] = []
    for module, names in modules_and_names:
        declared = getattr(module, "EARLY_RUNS", None)
        if not isinstance(declared, dict):
            continue
        found += [starter for name, starter in declared.items() if name in names]
    return found
