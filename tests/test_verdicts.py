"""A verdict is never greater than its evidence.

Throttling and load shedding ("not now") are never rejections and never passes; a fault behind
a throttling gateway is still caught, or its invariant is not verified, never passed; runs
that never settle leave their checks not verified with the reason, not failed.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from seecodes_reference_engine.faults import FAULTS

from seecodes_conformance.engine_process import EngineProcess
from seecodes_conformance.http.throttling import consumes_credential, is_throttled, retry_after_s
from seecodes_conformance.oracle import assert_rejected, assert_success
from seecodes_conformance.outcomes import LOG, NotVerified
from seecodes_conformance.plugin import EMBEDDED_ENGINE_ARGS
from suite_runner import run_suites


def _answer(status: int, **headers: str) -> httpx.Response:
    return httpx.Response(
        status, headers=headers, json={"detail": "x"},
        request=httpx.Request("GET", "https://staging.example/v1/jira/usage"),
    )  # fmt: skip


@pytest.mark.parametrize(
    "answer",
    [_answer(429), _answer(429, **{"Retry-After": "3"}), _answer(503, **{"Retry-After": "0"})],
    ids=["429", "429-retry-after", "503-retry-after"],
)
def test_a_throttled_answer_is_neither_a_rejection_nor_a_success(answer: httpx.Response) -> None:
    """[verdicts] 429, and 503 with Retry-After, say "not now": the check is not verified."""
    LOG.reset()
    with pytest.raises(NotVerified, match="throttled"):
        assert_rejected(answer, "RK-REPLAY", what="a replayed key")
    with pytest.raises(NotVerified, match="throttled"):
        assert_success(answer, "RK-REPLAY", what="the rightful key")
    tally = LOG.tallies()["RK-REPLAY"]
    assert (tally.rejections, tally.controls, tally.passes) == (0, 0, 0)
    assert {u.kind for u in tally.unverified} == {"throttled"}


def test_a_bare_503_is_a_server_error_not_a_throttle() -> None:
    assert not is_throttled(503, {})
    assert is_throttled(503, {"retry-after": "1"}) and is_throttled(429, {})


def test_retry_after_in_seconds_and_as_an_http_date() -> None:
    assert retry_after_s({"Retry-After": "7"}) == 7.0
    assert retry_after_s({"retry-after": "Wed, 02 Dec 2026 10:00:05 GMT"}, now=1796205600.0) == 5.0
    assert retry_after_s({"Retry-After": "soon"}) is None and retry_after_s({}) is None


def test_only_requests_without_a_single_use_credential_are_sent_again() -> None:
    key = httpx.Request("GET", "https://t/v1/instances/me",
                        headers={"x-seecodes-jira-request-key": "k"})  # fmt: skip
    code = httpx.Request("POST", "https://t/v1/security/launch-exchange", json={"code": "c"})
    plain = httpx.Request(
        "GET", "https://t/v1/tasks/context", headers={"Authorization": "Bearer p"}
    )
    assert consumes_credential(key) and consumes_credential(code)
    assert not consumes_credential(plain)


@pytest.mark.parametrize(
    "fault", ["rk-tenant-binding", "permit-binding-run", "rk-replay", "lc-replay"]
)
def test_a_fault_behind_a_throttling_gateway_is_caught_or_not_verified(
    fault: str, tmp_path: Path
) -> None:
    """[verdicts] Throttled answers never count as rejections: behind a gateway that answers
    every 7th request 429, a binding fault is still caught, or not verified; never passed."""
    invariant = FAULTS[fault].invariant
    with EngineProcess(
        faults=(fault,), variants=("throttle-429",), extra_args=EMBEDDED_ENGINE_ARGS
    ) as engine:
        run = run_suites(engine.base_url, tmp_path, invariants=[invariant], reports=True,
                         args=["--profile=smoke"])  # fmt: skip
    status = run.statuses().get(invariant)
    assert status in ("failed", "not_verified"), run.summary()


def test_runs_that_never_settle_are_not_verified_with_the_reason(tmp_path: Path) -> None:
    """[verdicts] "A run may take minutes": a run still going when --run-wait runs out is not
    a protocol failure; its checks are not verified, and the report says why."""
    with EngineProcess(variants=("never-settle",), extra_args=EMBEDDED_ENGINE_ARGS) as engine:
        run = run_suites(engine.base_url, tmp_path, invariants=["RUN-STATUS"], reports=True,
                         args=["--profile=smoke", "--run-wait=3"])  # fmt: skip
    assert not run.with_outcome("failed", "error"), run.summary()
    assert run.invariant("RUN-STATUS")["status"] in ("passed", "not_verified")
    waited = [t for t in run.certification["tests"]
              if "test_status_is_documented_and_the_run_settles" in t["id"]]  # fmt: skip
    assert waited and waited[0]["outcome"] == "skipped", waited
    reasons = [str(u) for c in waited[0].get("checks", {}).values() for u in c["unverified"]]
    assert any("did not settle within 3 s" in r for r in reasons), waited
