"""What the harness says about the target itself: the protocol version it claims, and why the
first bootstrap failed (naming what actually happened, not always "credentials")."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from seecodes_conformance import PROTOCOL_VERSION
from seecodes_conformance.credentials import TestIssuer
from seecodes_conformance.engine_process import EngineProcess
from seecodes_conformance.plugin import EMBEDDED_ENGINE_ARGS
from seecodes_conformance.plugin.fixtures import bootstrap_failure
from seecodes_conformance.redaction import SecretRegistry
from seecodes_conformance.report.gate import verdict
from seecodes_conformance.report.model import PASSED, InvariantResult
from seecodes_conformance.target import version_claim
from suite_runner import ROOT, run_suites

ISSUER = TestIssuer(run_id="SCCUNIT", secrets=SecretRegistry())
BOOTSTRAP = httpx.Request("POST", "https://staging.example/v1/jira/request-key")


def _answer(status: int, body: str = "", **headers: str) -> httpx.Response:
    return httpx.Response(status, text=body, headers=headers, request=BOOTSTRAP)


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_token_is_a_credentials_problem_with_the_issuer_hint(status: int) -> None:
    message = bootstrap_failure(_answer(status, '{"detail":"bad token"}'), ISSUER)
    assert message.startswith("the target refused the Forge credentials")
    assert f"answered {status}" in message and "SEECODES_FORGE_JWKS" in message
    assert "bad token" in message  # what the target said


def test_a_501_is_named_not_implemented_without_a_credentials_hint() -> None:
    message = bootstrap_failure(_answer(501, "Not Implemented"), ISSUER)
    assert "does not implement the request-key bootstrap" in message
    assert "answered 501 Not Implemented" in message
    assert "credentials" not in message and "JWKS" not in message


@pytest.mark.parametrize("status", [404, 405])
def test_a_missing_route_points_at_the_base_url(status: int) -> None:
    message = bootstrap_failure(_answer(status), ISSUER)
    assert "has no request-key bootstrap" in message and "--base-url" in message
    assert "JWKS" not in message


def test_a_server_error_is_not_a_credentials_problem() -> None:
    message = bootstrap_failure(_answer(500, "Internal Server Error"), ISSUER)
    assert "failed on the request-key bootstrap" in message and "not a credentials" in message


@pytest.mark.parametrize(("status", "headers"), [(429, {}), (503, {"Retry-After": "5"})])
def test_throttling_points_at_the_rate_limit(status: int, headers: dict[str, str]) -> None:
    message = bootstrap_failure(_answer(status, **headers), ISSUER)
    assert "throttling" in message and "--rate-limit" in message


def test_a_success_without_a_key_says_what_was_missing() -> None:
    message = bootstrap_failure(_answer(200, '{"ok": true}'), ISSUER)
    assert "returned no request key" in message and "requestKey" in message


# -- the protocol version the target claims -------------------------------------------------------


def test_a_matching_claim_says_nothing() -> None:
    assert version_claim(PROTOCOL_VERSION, PROTOCOL_VERSION) is None


@pytest.mark.parametrize("claimed", ["3.2.0", "3.1.9", "4.0.0"])
def test_another_claimed_version_is_named_with_what_it_means(claimed: str) -> None:
    claim = version_claim(claimed, PROTOCOL_VERSION)
    assert claim is not None
    assert f"claims protocol {claimed}" in claim and f"checks {PROTOCOL_VERSION}" in claim
    assert "cannot certify" in claim


def test_a_missing_claim_is_stated() -> None:
    claim = version_claim(None, PROTOCOL_VERSION)
    assert claim is not None and "states no info.version" in claim


def test_certify_refuses_a_certificate_for_another_claimed_version() -> None:
    claim = version_claim("3.2.0", PROTOCOL_VERSION)
    passed = [
        InvariantResult(
            "HEALTH-OK", "health", "contract", "q", ["GET /healthz"], status=PASSED, checks=1
        )
    ]
    certify = verdict(passed, [], profile="certify", version_claim=claim)
    assert not certify.certified and certify.label == "NOT CERTIFIED" and claim in certify.reasons
    gate = verdict(passed, [], profile="ci", version_claim=claim)
    assert gate.conformant and gate.label == "ALL INVARIANTS PASSED"


def test_a_target_claiming_another_version_is_warned_about_at_start_and_in_the_summary(
    tmp_path: Path,
) -> None:
    document = json.loads((ROOT / "contract" / "openapi.json").read_text(encoding="utf-8"))
    document["info"]["version"] = "3.2.0"
    served = tmp_path / "openapi-3.2.0.json"
    served.write_text(json.dumps(document), encoding="utf-8")
    with EngineProcess(extra_args=[*EMBEDDED_ENGINE_ARGS, f"--openapi={served}"]) as engine:
        run = run_suites(engine.base_url, tmp_path, invariants=["HEALTH-OK"], reports=True)
    assert run.returncode == 0, run.summary()
    warning = "the target claims protocol 3.2.0 (/openapi.json info.version)"
    assert f"seecodes: warning: {warning}" in run.output, run.output[-3000:]
    assert f"PROTOCOL {warning}" in run.output, run.output[-3000:]
    assert run.certification is not None
    assert run.certification["run"]["openapi"]["info_version"] == "3.2.0"
