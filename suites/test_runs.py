"""The run lifecycle: init, upload, start, poll until settled, read the artifacts; and credits.

One run per module is observed by a fixture that records every answer without judging it; each
test then judges one invariant on that record, so one broken step fails its own test clearly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NoReturn

import httpx
import pytest

from seecodes_conformance.flows import RUN_STATUSES, SETTLED, ProtocolSteps, Run
from seecodes_conformance.flows.run_registry import EarlyRuns, RunRegistry, TrackedRun
from seecodes_conformance.flows.runs import settle_wait_hint
from seecodes_conformance.http import JiraAppSession, PermitSession, is_throttled
from seecodes_conformance.oracle import assert_success, checked, fail, throttled
from seecodes_conformance.outcomes import not_verified

# The wait for the run to settle is --run-wait; passing never depends on how fast it settles:
# the protocol bounds no run's duration, so a run still unsettled after it is not verified.
# Polled by the session's run registry (0.5 s doubling to 5 s): intermediate statuses may come in
# any order, so only the polls after settling matter, to catch a settled run that moves on.
POLLS_AFTER_SETTLED = 4
CREDIT_READ_ATTEMPTS = 5


@dataclass
class ObservedRun:
    permit: PermitSession
    run: Run
    wait: float  # how long the run was given to settle (--run-wait)
    start: httpx.Response | None = None
    tracked: TrackedRun | None = None  # in the run registry, once started
    history: list[httpx.Response] = field(default_factory=list)
    output: httpx.Response | None = None
    logs: httpx.Response | None = None

    @property
    def statuses(self) -> list[str | None]:
        return [ProtocolSteps.run_status(r) for r in self.history]

    @property
    def final(self) -> str | None:
        """The first settled status seen, or None if the run never settled."""
        return next((s for s in self.statuses if s in SETTLED), None)


def _start_observed(protocol: ProtocolSteps, registry: RunRegistry) -> ObservedRun:
    """Init (files omitted), upload and start one run, handed to ``registry`` to settle beside
    the session's other runs; record, never judge."""
    permit = protocol.mint_permit(protocol.new_task())
    run = protocol.init_run(permit)  # no files: the target defaults to ["list.md"]
    seen = ObservedRun(permit, run, registry.run_wait)
    if "list.md" not in run.uploads:
        return seen
    protocol.upload_all(run)
    seen.start = protocol.start_run(permit, run.run_id)
    if seen.start.is_success:
        seen.tracked = registry.track(
            run, label=f"{run.run_id} (runs suite)", polls_after_settled=POLLS_AFTER_SETTLED
        )
    return seen


EARLY_RUNS = {"observed": _start_observed}


@pytest.fixture(scope="module")
def observed(early_runs: EarlyRuns) -> ObservedRun:
    """The run started early (with the session's other runs), polled until it settled and a
    few polls more; then its logs and output. Recorded, never judged."""
    seen: ObservedRun = early_runs.take(_start_observed)
    if seen.tracked is None:
        return seen
    tracked = early_runs.registry.wait(seen.tracked)
    # Only "not now" answers: the last one shows why nothing was seen (the tests judge it).
    seen.history = tracked.history or ([tracked.throttled] if tracked.throttled else [])
    if seen.final is not None:
        seen.logs = seen.permit.get(f"/v1/tasks/{seen.run.run_id}/logs")
    if seen.final == "succeeded":
        seen.output = seen.permit.get(f"/v1/tasks/{seen.run.run_id}/output")
    return seen


def _require_started(seen: ObservedRun, invariant: str) -> httpx.Response:
    """The fixture's start answer, when the run was started (a precondition of ``invariant``)."""
    if seen.start is None:
        fail("RUN-INIT", "with files omitted, init offered no list.md upload to start a run with")
    if is_throttled(seen.start.status_code, seen.start.headers):
        throttled(seen.start, invariant, "starting the observed run")
    assert_success(seen.start, "RUN-START", what="starting the run after its uploads")
    return seen.start


def _require_settled(seen: ObservedRun, invariant: str) -> None:
    """The run was started and every poll until it settled was read (a precondition)."""
    _require_started(seen, invariant)
    last = seen.history[-1]
    if is_throttled(last.status_code, last.headers):
        throttled(last, invariant, "polling the observed run")
    assert_success(last, "RUN-STATUS", what="polling the run")
    if seen.statuses[-1] not in RUN_STATUSES:
        fail("RUN-STATUS", f"status {seen.statuses[-1]!r} is not one of {RUN_STATUSES}", [last])
    if seen.final is None:
        _not_settled(seen, invariant)


def _not_settled(seen: ObservedRun, invariant: str) -> NoReturn:
    not_verified(
        invariant,
        "timeout",
        f"the run did not settle within {seen.wait:g} s "
        f"(statuses seen: {', '.join(dict.fromkeys(map(str, seen.statuses)))})",
        settle_wait_hint(seen.wait),
    )


# -- RUN-INIT -----------------------------------------------------------------------------------


@pytest.mark.invariant("RUN-INIT")
def test_init_without_files_offers_list_md(observed: ObservedRun) -> None:
    run = observed.run
    if run.init_response is not None:  # made early, with the session's other runs: judged here
        assert_success(run.init_response, "RUN-INIT", what="initialising a run without files")

    if not run.run_id:
        fail("RUN-INIT", "init answered an empty runId")
    if not run.uploads.get("list.md"):
        fail(
            "RUN-INIT",
            f"with files omitted, uploads must include list.md; got {sorted(run.uploads)}",
        )
    checked("RUN-INIT")


# -- RUN-START ----------------------------------------------------------------------------------


@pytest.mark.invariant("RUN-START")
def test_start_after_uploads_answers_queued_with_estimates(observed: ObservedRun) -> None:
    response = _require_started(observed, "RUN-START")

    body = assert_success(response, "RUN-START", what="starting the run after its uploads")
    if not isinstance(body, dict) or body.get("status") != "queued":
        fail("RUN-START", 'start must answer status "queued"', [response])
    not_numbers = [
        name
        for name in ("estimatedInputTokens", "estimatedCredits")
        if not ProtocolSteps.is_number(body.get(name))
    ]
    if not_numbers:
        fail("RUN-START", f"{', '.join(not_numbers)} not numbers", [response])
    checked("RUN-START")


# -- RUN-STATUS ---------------------------------------------------------------------------------


@pytest.mark.invariant("RUN-STATUS")
def test_status_is_documented_and_the_run_settles(observed: ObservedRun) -> None:
    _require_started(observed, "RUN-STATUS")

    for response, status in zip(observed.history, observed.statuses, strict=True):
        assert_success(response, "RUN-STATUS", what="polling the run")
        if status not in RUN_STATUSES:
            fail("RUN-STATUS", f"status {status!r} is not one of {RUN_STATUSES}", [response])
    if observed.final is None:
        _not_settled(observed, "RUN-STATUS")
    checked("RUN-STATUS")


# -- RUN-MONOTONIC ------------------------------------------------------------------------------


@pytest.mark.invariant("RUN-MONOTONIC")
def test_status_never_moves_backwards(observed: ObservedRun) -> None:
    _require_settled(observed, "RUN-MONOTONIC")

    # The protocol names no order among queued, in_process and processing_remote (they may
    # come in any order and repeat); a settled status is final: clients stop polling there.
    settled: str | None = None
    for response, status in zip(observed.history, observed.statuses, strict=True):
        if status not in RUN_STATUSES:  # only the last answer can be; _require_settled read it
            fail("RUN-STATUS", f"status {status!r} is not one of {RUN_STATUSES}", [response])
        if settled is not None and status != settled:
            fail(
                "RUN-MONOTONIC",
                f"status moved from the settled {settled!r} to {status!r} "
                f"(statuses seen: {observed.statuses})",
                [response],
            )
        if status in SETTLED:
            settled = status
    checked("RUN-MONOTONIC")


# -- RUN-ARTIFACTS ------------------------------------------------------------------------------


def _assert_text(response: httpx.Response | None, what: str) -> None:
    if response is None:
        fail("RUN-ARTIFACTS", f"the {what} was never read")
    if is_throttled(response.status_code, response.headers):
        throttled(response, "RUN-ARTIFACTS", f"reading the {what}")
    if not response.is_success:
        fail("RUN-ARTIFACTS", f"reading the {what} answered {response.status_code}", [response])
    kind = response.headers.get("content-type", "")
    if not kind.lower().startswith("text/"):
        fail("RUN-ARTIFACTS", f"the {what} must be text, got content-type {kind!r}", [response])
    checked("RUN-ARTIFACTS")


@pytest.mark.invariant("RUN-ARTIFACTS")
def test_output_after_success_is_text(observed: ObservedRun) -> None:
    _require_settled(observed, "RUN-ARTIFACTS")
    if observed.final != "succeeded":
        not_verified(
            "RUN-ARTIFACTS",
            "capability",
            f"the run settled as {observed.final!r}; output exists only after a successful run "
            '("the final text artifact produced by a successful AI run")',
            "a target whose runs of model 'strict light' on a list.md succeed",
        )

    _assert_text(observed.output, "run output")


@pytest.mark.invariant("RUN-ARTIFACTS")
def test_logs_after_settling_are_text(observed: ObservedRun) -> None:
    _require_settled(observed, "RUN-ARTIFACTS")

    _assert_text(observed.logs, "run logs")


# -- USAGE-CREDITS ------------------------------------------------------------------------------


def _amount(response: httpx.Response, name: str) -> float:
    """A credit amount as a number; its JSON type is SHAPE-CONFORMANCE's concern, not ours."""
    body = assert_success(response, "USAGE-CREDITS", what=f"reading {name}")
    value = body.get(name) if isinstance(body, dict) else None
    try:
        if isinstance(value, bool) or value is None:
            raise ValueError
        return float(value)
    except (TypeError, ValueError):
        fail("USAGE-CREDITS", f"{name} is not a credit amount: {value!r}", [response])


@pytest.mark.invariant("USAGE-CREDITS")
def test_usage_available_credits_equal_installation_credits(jira: JiraAppSession) -> None:
    # Other tests may debit the same installation meanwhile: bracket the usage read between two
    # instances/me reads and accept either; retry only when the balance visibly moved.
    for _ in range(CREDIT_READ_ATTEMPTS):
        me_before = jira.get("/v1/instances/me")
        usage = jira.get("/v1/jira/usage")
        me_after = jira.get("/v1/instances/me")
        before = _amount(me_before, "credits")
        available = _amount(usage, "availableCredits")
        after = _amount(me_after, "credits")
        if available in (before, after):
            checked("USAGE-CREDITS")
            return
        if before == after:
            fail(
                "USAGE-CREDITS",
                f"usage availableCredits {available} but instances/me credits {before} "
                "(unchanged around the usage read)",
                [me_before, usage, me_after],
            )
    fail(
        "USAGE-CREDITS",
        f"availableCredits matched neither bracketing credits reading in "
        f"{CREDIT_READ_ATTEMPTS} attempts (last: {before}, {available}, {after})",
        [me_before, usage, me_after],
    )
