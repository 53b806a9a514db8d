"""Certification reports, the CI gate and staging safety.

Three layers: pure units (statuses, waivers, baselines, manifest, JUnit, HTML), small pytest
runs in a subprocess against a fake target this file serves (gate exit codes, xdist, a
misbehaving target, the request budget), and whole-suite runs against the bundled reference
engine (both injected faults shown with evidence in every report; no secret in any output).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jsonschema import Draft202012Validator
from markupsafe import escape

from seecodes_conformance.http.traffic import (
    Policy,
    RequestBudgetExceeded,
    ResponseTooLarge,
    ResponseTooSlow,
    Traffic,
)
from seecodes_conformance.outcomes import Tally, Unverified
from seecodes_conformance.report import manifest
from seecodes_conformance.report.aggregate import invariant_results
from seecodes_conformance.report.baseline import change
from seecodes_conformance.report.gate import decide, verdict
from seecodes_conformance.report.html_report import render
from seecodes_conformance.report.json_report import to_json
from seecodes_conformance.report.junit import to_xml
from seecodes_conformance.report.model import (
    Evidence,
    Gate,
    InvariantResult,
    Result,
    RunInfo,
    TestRecord,
)
from seecodes_conformance.report.waivers import Waiver, WaiverError, parse_waivers

ROOT = Path(__file__).resolve().parents[1]
TODAY = dt.date(2026, 6, 1)
JWT_SHAPE = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")


# ------------------------------------------------------------------------------ pure units


@dataclass(frozen=True)
class _Entry:
    area: str
    level: str = "contract"
    quote: str = "The protocol says so."
    routes: tuple[str, ...] = ()
    rationale: str | None = None
    route_sources: tuple[tuple[str, str], ...] = ()


CATALOG = {
    "RK-REPLAY": _Entry("request-keys", routes=("GET /v1/jira/usage",)),
    "RK-ROTATION": _Entry("request-keys"),
    "LC-EXPIRY": _Entry("launch"),
    "HEALTH-OK": _Entry("system", routes=("GET /healthz",)),
}


def _results(*records: TestRecord) -> list[InvariantResult]:
    return invariant_results(CATALOG, records, lambda r: f"pytest {r.nodeid}")


def _by_id(results: list[InvariantResult]) -> dict[str, InvariantResult]:
    return {r.id: r for r in results}


def _passed(*invariants: str) -> dict[str, Tally]:
    return {iid: Tally(passes=1) for iid in invariants}


def test_status_follows_the_checks_that_ran_not_the_markers() -> None:
    results = _by_id(
        _results(
            TestRecord("t::ok", ["HEALTH-OK"], checks=_passed("HEALTH-OK")),
            TestRecord("t::ok2", ["HEALTH-OK"], outcome="skipped", message="why not"),
            TestRecord("t::skip", ["LC-EXPIRY"], outcome="skipped", message="lifetime 3600 s"),
            TestRecord(
                "t::replay",
                ["RK-REPLAY", "RK-ROTATION"],
                outcome="failed",
                message="[RK-REPLAY] replay accepted",
                violated="RK-REPLAY",
                evidence=[Evidence("> GET /v1/jira/usage\n< 200", "curl ...")],
            ),
        )
    )
    assert results["HEALTH-OK"].status == "passed" and results["HEALTH-OK"].checks == 1
    assert results["LC-EXPIRY"].status == "not_verified"
    assert "lifetime 3600 s" in results["LC-EXPIRY"].reasons[0]
    assert results["RK-REPLAY"].status == "failed"
    failure = results["RK-REPLAY"].failures[0]
    assert failure.evidence[0].curl == "curl ..." and failure.reproduce == "pytest t::replay"
    # The oracle named RK-REPLAY: the test stopped there, so RK-ROTATION is not concluded.
    assert results["RK-ROTATION"].status == "not_verified"
    assert "stopped at a failure of RK-REPLAY" in results["RK-ROTATION"].reasons[0]


def test_a_marker_on_a_passing_test_is_not_a_pass() -> None:
    """[verdicts] A test that passed without recording a check of its invariant proves nothing."""
    results = _by_id(_results(TestRecord("t::test_status_is_silent", ["HEALTH-OK"])))
    assert results["HEALTH-OK"].status == "not_verified"
    assert results["HEALTH-OK"].reasons == [
        "no-check: test_status_is_silent ran without reaching a check of it"
    ]


def test_a_rejection_without_its_positive_control_is_not_verified() -> None:
    """[verdicts] An engine that refuses everyone also refuses the intruder: a rejection counts
    only beside the rightful caller's success in the same test."""
    lone = TestRecord("t::lone", ["PERMIT-BINDING-RUN"],
                      checks={"PERMIT-BINDING-RUN": Tally(rejections=3)})  # fmt: skip
    results = _by_id(_results(lone))
    assert results["PERMIT-BINDING-RUN"].status == "not_verified"
    assert results["PERMIT-BINDING-RUN"].reasons[0].startswith("no-control:")
    checked = {"PERMIT-BINDING-RUN": Tally(rejections=3, controls=1)}
    controlled = TestRecord("t::ok", ["PERMIT-BINDING-RUN"], checks=checked)
    results = _by_id(_results(lone, controlled))
    assert results["PERMIT-BINDING-RUN"].status == "passed"
    assert results["PERMIT-BINDING-RUN"].checks == 3
    # A control alone checks nothing of an invariant that rejections check.
    only_control = TestRecord("t::c", ["PERMIT-BINDING-RUN"],
                              checks={"PERMIT-BINDING-RUN": Tally(controls=2)})  # fmt: skip
    results = _by_id(_results(lone, only_control))
    assert results["PERMIT-BINDING-RUN"].status == "not_verified"


def test_a_shared_fixture_names_its_reason_in_the_skip() -> None:
    message = "not verified: credentials: static tokens (to verify: --forge-source=test-issuer)"
    record = TestRecord("t::test_forged", ["FORGE-EXPIRY"], outcome="skipped", message=message)
    assert _by_id(_results(record))["FORGE-EXPIRY"].reasons == [
        "credentials: test_forged: static tokens (to verify: --forge-source=test-issuer)"
    ]


def test_a_success_before_a_test_stopped_is_not_a_check() -> None:
    """[verdicts] A rightful call that succeeded, then a throttled step that stopped the test:
    the check never ran to its end."""
    stopped = TestRecord("t::s", ["INSTANCE-STATE"], outcome="skipped", message="throttled",
                         checks={"INSTANCE-STATE": Tally(controls=1)})  # fmt: skip
    assert _by_id(_results(stopped))["INSTANCE-STATE"].status == "not_verified"


def test_not_verified_reasons_say_what_to_configure() -> None:
    reason = Unverified("lifetime", "launch codes live 3 days", "--state-file, a later run")
    record = TestRecord("t::exp", ["LC-EXPIRY"], outcome="skipped", message="x",
                        checks={"LC-EXPIRY": Tally(unverified=[reason])})  # fmt: skip
    results = _by_id(_results(record))
    assert results["LC-EXPIRY"].reasons == [
        "lifetime: launch codes live 3 days (to verify: --state-file, a later run)"
    ]


def test_a_failure_without_a_verdict_counts_against_every_marked_invariant() -> None:
    results = _by_id(
        _results(TestRecord("t::x", ["RK-REPLAY", "RK-ROTATION"], outcome="error", phase="setup"))
    )
    assert results["RK-REPLAY"].status == results["RK-ROTATION"].status == "failed"
    assert results["HEALTH-OK"].status == "not_verified"


def _gate(
    records: list[TestRecord],
    waivers: dict[str, Waiver] | None = None,
    baseline: dict[str, str] | None = None,
) -> tuple[Gate, dict[str, InvariantResult]]:
    results = _results(*records)
    gate = decide(results, records, [], waivers=waivers or {}, baseline=baseline, today=TODAY)
    return gate, _by_id(results)


FAIL_REPLAY = TestRecord("t::r", ["RK-REPLAY"], outcome="failed", violated="RK-REPLAY")
PASS_HEALTH = TestRecord("t::h", ["HEALTH-OK"], checks={"HEALTH-OK": Tally(passes=1)})


def _waiver(iid: str, expires: dt.date) -> dict[str, Waiver]:
    return {iid: Waiver(iid, "tracked in ENG-1", expires)}


def test_a_waived_failure_passes_the_gate_and_is_reported_as_waived() -> None:
    records = [FAIL_REPLAY, PASS_HEALTH]
    gate, results = _gate(records, _waiver("RK-REPLAY", TODAY))  # valid through its last day
    assert gate.passed, gate.problems
    assert results["RK-REPLAY"].status == "waived"
    assert gate.waived == ["RK-REPLAY"]
    assert records[0].tolerated and "waived until 2026-06-01" in records[0].tolerated
    assert not verdict(list(results.values()), [], profile="certify").certified


def test_an_expired_waiver_fails_the_gate() -> None:
    gate, results = _gate([FAIL_REPLAY], _waiver("RK-REPLAY", TODAY - dt.timedelta(days=1)))
    assert not gate.passed
    assert gate.expired_waivers == ["RK-REPLAY"]
    assert results["RK-REPLAY"].status == "failed"


def test_a_waiver_whose_invariant_passes_fails_the_gate_like_a_strict_xfail() -> None:
    gate, _ = _gate([PASS_HEALTH], _waiver("HEALTH-OK", TODAY))
    assert not gate.passed
    assert gate.stale_waivers == ["HEALTH-OK"]
    assert any("stale" in p for p in gate.problems)


def test_only_a_complete_passing_certify_run_is_certified() -> None:
    records = [TestRecord(f"t::{iid}", [iid], checks=_passed(iid)) for iid in CATALOG]
    results = _results(*records)
    ci = verdict(results, [], profile="ci")
    assert ci.conformant and not ci.certified and ci.label == "ALL INVARIANTS PASSED"
    certify = verdict(results, [], profile="certify")
    assert certify.certified and certify.label == "CERTIFIED" and certify.reasons == []
    partial = verdict(_results(*records[1:]), [], profile="certify")
    assert not partial.certified and partial.reasons == ["1 invariant(s) not verified"]


def test_waiver_file_format_is_checked() -> None:
    waivers = parse_waivers(
        {"waivers": [{"invariant": "RK-RACE", "reason": "ENG-9", "expires": "2026-03-31"}]}
    )
    assert waivers["RK-RACE"].expires == dt.date(2026, 3, 31)
    for bad in (
        [{"invariant": "RK-RACE", "expires": "2026-03-31"}],  # no reason
        [{"invariant": "RK-RACE", "reason": "x"}],  # no expiry
        [{"invariant": "RK-RACE", "reason": "x", "expires": "soon"}],
        [{"reason": "x", "expires": "2026-01-01"}],
    ):
        with pytest.raises(WaiverError):
            parse_waivers(bad)


def test_waiver_file_format_is_a_json_schema_that_yaml_dates_satisfy() -> None:
    schema = resources.files("seecodes_conformance.report").joinpath("waivers.schema.json")
    Draft202012Validator.check_schema(json.loads(schema.read_text("utf-8")))
    text = "waivers:\n  - invariant: RK-RACE\n    reason: ENG-9\n    expires: 2026-03-31\n"
    assert parse_waivers(yaml.safe_load(text))["RK-RACE"].expires == dt.date(2026, 3, 31)
    assert parse_waivers([]) == parse_waivers(None) == parse_waivers({"waivers": None}) == {}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("soon", "w.yaml: expected a list of waivers (or a mapping with 'waivers'), got 'soon'"),
        ({"waivers": {"RK-RACE": "x"}}, "w.yaml: expected a list of waivers"),
        ([5], "w.yaml entry 1: not a mapping, got 5"),
        ([{"reason": "x", "expires": "2026-01-01"}], "w.yaml entry 1: 'invariant' (an invariant"),
        (
            {"waivers": [{"invariant": "RK-RACE", "reason": " ", "expires": "2026-01-01"}]},
            "w.yaml entry 1 (RK-RACE): a non-empty 'reason' is required, got ' '",
        ),
        (
            [{"invariant": "RK-RACE", "reason": "x"}],
            "w.yaml entry 1 (RK-RACE): 'expires' (YYYY-MM-DD) is required",
        ),
        (
            [{"invariant": "RK-RACE", "reason": "x", "expires": "2026-02-30"}],
            "w.yaml entry 1 (RK-RACE): expires must be a date (YYYY-MM-DD), got '2026-02-30'",
        ),
        (
            [{"invariant": "A", "reason": "x", "expires": "2026-01-01"}] * 2,
            "w.yaml entry 2: A is waived twice",
        ),
    ],
)
def test_waiver_file_errors_name_the_entry_and_what_is_wrong(data: Any, message: str) -> None:
    with pytest.raises(WaiverError, match="^" + re.escape(message)):
        parse_waivers(data, "w.yaml")


def test_baseline_fails_only_on_regressions_and_lists_progress() -> None:
    fail_health = TestRecord("t::h", ["HEALTH-OK"], outcome="failed", violated="HEALTH-OK")
    pass_replay = TestRecord("t::r", ["RK-REPLAY"], checks=_passed("RK-REPLAY"))
    before = {"HEALTH-OK": "passed", "RK-REPLAY": "failed", "LC-EXPIRY": "failed"}
    gate, _ = _gate([fail_health, pass_replay], baseline=before)
    assert not gate.passed
    assert gate.regressions == ["HEALTH-OK"] and gate.progress == ["RK-REPLAY"]
    gate, results = _gate([FAIL_REPLAY, PASS_HEALTH], baseline=before)
    assert gate.passed, gate.problems
    assert gate.known_failures == ["RK-REPLAY"]
    assert results["RK-REPLAY"].change == "known-failure"
    assert change(None, "failed") == "new-failure"
    assert change("passed", "not_verified") == "lost"


def _result(records: list[TestRecord], gate: Gate | None = None) -> Result:
    results = _results(*records)
    gate = gate or decide(results, records, [], waivers={}, baseline=None, today=TODAY)
    run = RunInfo(
        target_url="http://127.0.0.1:1", embedded_engine=False, engine_faults=[],
        engine_variants=[], openapi={"version": "3.1.0", "sha256": "ab" * 32},
        harness_version="0.1.0", protocol_version="3.1.10", profile={"name": "ci"}, seeds={},
        run_prefix="SCCTEST", started_at="2026-06-01T00:00:00+00:00",
        finished_at="2026-06-01T00:01:00+00:00", duration_s=60.0, requests_sent=12,
        request_budget=None, rate_limit=None, workers=0, command="pytest suites",
    )  # fmt: skip
    return Result(
        run=run, invariants=results, tests=records, unattributed=[], gate=gate,
        verdict=verdict(results, [], profile="ci"), exit_status=0 if gate.passed else 1,
    )  # fmt: skip


def test_junit_agrees_with_the_gate_and_survives_binary_bodies() -> None:
    failing = TestRecord(
        "suites/test_k.py::test_replay[usage]", ["RK-REPLAY"], outcome="failed",
        message="[RK-REPLAY] replay accepted\x00\x07", violated="RK-REPLAY",
        longrepr="body \x00\x1b[31m", evidence=[Evidence("< 200 \x00", "curl x")],
    )  # fmt: skip
    results = _results(failing, PASS_HEALTH)
    gate = decide(
        results, [failing, PASS_HEALTH], [], waivers=_waiver("RK-REPLAY", TODAY - dt.timedelta(1)),
        baseline=None, today=TODAY,
    )  # fmt: skip
    xml = ET.tostring(to_xml(_result([failing, PASS_HEALTH], gate)).getroot(), encoding="unicode")
    root = ET.fromstring(xml)  # well-formed despite NUL and ESC in the failure text
    case = root.find(".//testcase[@name='test_replay[usage]']")
    assert case is not None and case.get("classname") == "suites.test_k"
    failure = case.find("failure")
    assert failure is not None and failure.get("type") == "RK-REPLAY"
    assert "curl x" in (failure.text or "")
    gate_cases = root.findall(".//testcase[@classname='seecodes.gate']")
    assert any("expired" in (c.find("failure").get("message") or "") for c in gate_cases)  # type: ignore[union-attr]


def test_junit_writes_a_tolerated_failure_as_skipped() -> None:
    failing = TestRecord("t.py::test_r", ["RK-REPLAY"], outcome="failed", violated="RK-REPLAY")
    results = _results(failing)
    gate = decide(results, [failing], [], waivers=_waiver("RK-REPLAY", TODAY), baseline=None,
                  today=TODAY)  # fmt: skip
    root = to_xml(_result([failing], gate)).getroot()
    case = root.find(".//testcase[@name='test_r']")
    assert case is not None and case.find("failure") is None
    skipped = case.find("skipped")
    assert skipped is not None and "waived" in (skipped.get("message") or "")
    assert root.get("failures") == "0"


def test_html_shows_verdict_table_and_escapes_what_the_target_sent() -> None:
    failing = TestRecord(
        "t.py::test_r", ["RK-REPLAY"], outcome="failed", violated="RK-REPLAY",
        message="[RK-REPLAY] <script>alert(1)</script>",
        evidence=[Evidence("< 200 <b>x</b>", "curl -sS 'http://t/<x>'")],
    )  # fmt: skip
    html = render(_result([failing, PASS_HEALTH]))
    assert "CI GATE FAILED" in html  # a ci run: the banner states the gate
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'id="RK-REPLAY"' in html and "The protocol says so." in html
    assert "<h2>Invariants by area</h2>" in html and "request-keys" in html
    assert "GET /healthz" in html  # per-route coverage
    assert "pytest t.py::test_r" in html  # the reproduction command


def _matrix_result() -> Result:
    """RK-REPLAY governs usage (by its quote) and instances/me (by its Access pattern line);
    two executed checks reached usage, none reached instances/me."""
    usage, me = "GET /v1/jira/usage", "GET /v1/instances/me"
    catalog = {
        "RK-REPLAY": _Entry(
            "request-keys", routes=(usage, me), route_sources=((me, "Sentence <of> the route."),)
        )
    }
    records = [
        TestRecord(f"t::replay{n}", ["RK-REPLAY"], checks=_passed("RK-REPLAY"), routes=[usage])
        for n in (1, 2)
    ]
    result = _result(records)
    result.invariants = invariant_results(catalog, records, lambda r: f"pytest {r.nodeid}")
    return result


def _cell(html: str, route: str) -> str:
    found = re.search(rf'<span class="cell (\w+)" title="([^"]*)"><code>{re.escape(route)}</code>'
                      r" <b>([^<]*)</b></span>", html)  # fmt: skip
    assert found, f"no matrix cell for {route}"
    return " | ".join(found.groups())


def test_html_matrix_shows_each_cells_checks_sentence_and_highlights_an_unreached_one() -> None:
    html = render(_matrix_result())
    assert "Sentence x route matrix: 1/2 cells reached" in html
    assert _cell(html, "GET /v1/jira/usage") == "reached | The protocol says so. | 2"
    # an unreached cell is marked, its sentence (escaped) is the route's own, not the quote
    assert _cell(html, "GET /v1/instances/me") == (
        "unreached | Sentence &lt;of&gt; the route. | 0: not reached"
    )
    assert "“Sentence &lt;of&gt; the route.”" in html  # the small quote beside its cells
    assert '<details class="matrix" open><summary>request-keys: 1/2 cells reached' in html


def test_json_lists_each_cells_checks_and_sentence() -> None:
    entry = to_json(_matrix_result())["invariants"][0]
    assert entry["routes_checked"] == {"GET /v1/jira/usage": 2, "GET /v1/instances/me": 0}
    assert entry["route_sources"] == {
        "GET /v1/jira/usage": "The protocol says so.",
        "GET /v1/instances/me": "Sentence <of> the route.",
    }


def test_html_escapes_markup_in_test_ids_and_messages_everywhere_they_appear() -> None:
    nodeid = "t.py::test_r[<script>alert(2)</script>]"
    failing = TestRecord(
        nodeid, ["RK-REPLAY"], outcome="failed", violated="RK-REPLAY",
        message="<script>alert(3)</script>\nmore", longrepr="<img src=x onerror=alert(4)>",
    )  # fmt: skip
    result = _result([failing, PASS_HEALTH])
    result.unattributed = [failing]
    result.notes = ['<a href="javascript:alert(5)">note</a>']
    html = render(result)
    assert "<script" not in html and "<img" not in html and '<a href="javascript' not in html
    assert html.count("&lt;script&gt;alert(2)&lt;/script&gt;") >= 3  # failure, outside, tests
    assert "&lt;script&gt;alert(3)&lt;/script&gt;" in html  # the invariant table note
    assert "&lt;img src=x onerror=alert(4)&gt;" in html
    assert "<style>" in html and "<link" not in html  # the stylesheet is inlined


def test_manifest_detects_tampering_and_checks_signatures(tmp_path: Path) -> None:
    (tmp_path / "report.html").write_text("<html>ok</html>")
    (tmp_path / "certification.json").write_text("{}")
    key = Ed25519PrivateKey.generate()
    key_path = tmp_path.parent / "signing.pem"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public_path = tmp_path.parent / "public.pem"
    public_path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    manifest.write(tmp_path, {"target": "x"}, key_path)
    assert manifest.verify(tmp_path, public_path) == []
    (tmp_path / "report.html").write_text("<html>CERTIFIED</html>")
    assert manifest.verify(tmp_path, public_path) == ["report.html was changed (SHA-256 differs)"]
    (tmp_path / "report.html").write_text("<html>ok</html>")
    data = json.loads((tmp_path / "manifest.json").read_text())
    data["verdict"] = "CERTIFIED"
    (tmp_path / "manifest.json").write_text(json.dumps(data))
    assert any("signature" in p for p in manifest.verify(tmp_path, public_path))


def test_manifest_hmac_needs_the_shared_secret(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text("{}")
    secret = tmp_path.parent / "secret.txt"
    secret.write_text("a shared secret of enough length\n")
    manifest.write(tmp_path, {}, secret)
    assert manifest.verify(tmp_path, secret) == []
    other = tmp_path.parent / "other.txt"
    other.write_text("another secret of enough length")
    assert manifest.verify(tmp_path, other)
    assert manifest.verify(tmp_path)  # an HMAC bundle cannot be checked without the secret
    sig = json.loads((tmp_path / "manifest.sig").read_text())
    assert "shared secret" not in json.dumps(sig) and base64.b64decode(sig["signature"])


# ------------------------------------------------------------------------------ traffic


def test_budget_refuses_past_the_limit() -> None:
    traffic = Traffic()
    traffic.configure(Policy(budget=3))
    traffic.reserve(2)
    traffic.reserve(1)
    with pytest.raises(RequestBudgetExceeded, match="request budget exhausted"):
        traffic.reserve(1)
    assert traffic.sent == 3


def test_rate_ceiling_spaces_requests() -> None:
    traffic = Traffic()
    traffic.configure(Policy(rate=50.0))
    started = time.monotonic()
    for _ in range(6):
        traffic.reserve()
    assert time.monotonic() - started >= 5 / 50.0 - 0.01


# ------------------------------------------------------------------------------ a fake target

OPENAPI = json.dumps({"openapi": "3.1.0", "info": {"version": "3.1.10"}, "paths": {}}).encode()
HUGE = 50 * 1024 * 1024


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # keep the test output quiet
        pass

    def _send(self, status: int, body: bytes, kind: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path == "/healthz":
            self._send(200, b'{"ok": true}')
        elif path == "/openapi.json":
            self._send(200, OPENAPI)
        elif path == "/hang":
            time.sleep(8)  # bounded: the client gives up long before
            self.close_connection = True
        elif path == "/reset":  # close with RST: SO_LINGER on, timeout 0
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.rfile.close()
            self.wfile.close()
            self.connection.close()
            self.close_connection = True
        elif path == "/html":
            self._send(200, b"<html><body>maintenance</body></html>", "text/html")
        elif path == "/huge":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(HUGE))
            self.end_headers()
            self._stream(HUGE)
        elif path == "/huge-chunked":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Connection", "close")
            self.end_headers()
            self._stream(HUGE)
        elif path == "/drip":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "100")
            self.end_headers()
            for _ in range(40):  # bounded: 40 bytes over ~12 s at most
                try:
                    self.wfile.write(b" ")
                    self.wfile.flush()
                except OSError:
                    return
                time.sleep(0.3)
        else:
            self._send(200, b'{"ok": true}')

    def _stream(self, size: int) -> None:
        chunk = b" " * 65536
        try:
            for _ in range(size // len(chunk)):
                self.wfile.write(chunk)
        except OSError:
            return


@pytest.fixture(scope="module")
def fake_target() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


FAKE_SUITE = """
import os

import pytest

from seecodes_conformance import oracle
from seecodes_conformance.redaction import REGISTRY

FAIL = set(filter(None, os.environ.get("FAKE_FAIL", "").split(",")))


def _check(http, invariant, path="/healthz"):
    response = http.get(path)
    if invariant in FAIL:
        oracle.fail(invariant, "the fake target was told to break this", [response])
    oracle.assert_success(response, invariant)


@pytest.mark.invariant("HEALTH-OK")
def test_health(http):
    _check(http, "HEALTH-OK")


@pytest.mark.invariant("RK-REPLAY", "RK-ROTATION")
def test_replay(http):
    _check(http, "RK-REPLAY", "/v1/jira/usage")
    _check(http, "RK-ROTATION", "/v1/jira/usage")


@pytest.mark.invariant("LC-EXPIRY")
def test_expiry(http):
    pytest.skip("the launch code lives 3600 s, longer than --max-wait 15 s")


@pytest.mark.invariant("MODELS-CATALOG")
def test_models_secret(http):
    permit = "permit-" + "s3cr3t" * 4
    REGISTRY.add(permit, "permit")
    response = http.get("/v1/models", headers={"Authorization": f"Bearer {permit}"})
    if "MODELS-CATALOG" in FAIL:
        print("the permit was", permit)
        assert permit == "something else", f"permit {permit} did not match"
    assert response.status_code == 200
"""

MISBEHAVING_SUITE = """
import pytest


@pytest.mark.invariant("HEALTH-OK")
@pytest.mark.parametrize("path", ["/hang", "/reset", "/huge", "/huge-chunked", "/drip"])
def test_misbehaving(http, path):
    http.get(path)


@pytest.mark.invariant("MODELS-CATALOG")
def test_html_where_json_is_due(http):
    http.get("/html").json()
"""


@dataclass
class Run:
    returncode: int
    output: str
    report_dir: Path
    elapsed: float

    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.report_dir / "certification.json").read_text())
        return data

    def statuses(self) -> dict[str, str]:
        return {i["id"]: i["status"] for i in self.json()["invariants"]}

    def text(self, name: str) -> str:
        return (self.report_dir / name).read_text(encoding="utf-8")


def _pytest(
    args: list[str],
    cwd: Path,
    reports: Path,
    env: dict[str, str] | None = None,
    timeout: float = 300,
) -> Run:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:randomly", "-p", "no:cacheprovider",
         f"--report-dir={reports}", *args],
        cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False,
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    folders = sorted(p for p in reports.glob("2*") if p.is_dir()) if reports.exists() else []
    return Run(
        done.returncode,
        done.stdout + done.stderr,
        folders[-1] if folders else reports / "missing",
        time.monotonic() - started,
    )


# The fake suites need neither; leaving them out halves each run's start-up.
LEAN = ("-p", "no:schemathesis", "-p", "no:hypothesispytest")


@pytest.fixture
def fake_suite(tmp_path: Path) -> Path:
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_fake.py").write_text(FAKE_SUITE)
    return suite


def _fake_run(
    suite: Path, target: str, reports: Path, *args: str, fail: str = "", **env: str
) -> Run:
    return _pytest(
        [f"--base-url={target}", *LEAN, *args], suite, reports, env={"FAKE_FAIL": fail, **env},
        timeout=120,
    )  # fmt: skip


def test_a_run_that_verified_nothing_exits_7_and_says_why(
    fake_suite: Path, fake_target: str
) -> None:
    """[verdicts] A gate that "passes" on no evidence would be a lie: when every invariant is
    not verified the run ends with exit 7 and names the reasons."""
    run = _fake_run(fake_suite, fake_target, fake_suite / "reports", "-k", "test_expiry")
    assert run.returncode == 7, run.output
    assert "nothing could be verified: " in run.output and "capability (1)" in run.output
    assert "NOT VERIFIED LC-EXPIRY" in run.output and "executed checks:" not in run.output
    assert set(run.statuses().values()) == {"not_verified"}


def test_fake_run_writes_three_reports_with_evidence(fake_suite: Path, fake_target: str) -> None:
    run = _fake_run(fake_suite, fake_target, fake_suite / "reports", fail="RK-REPLAY")
    assert run.returncode == 1, run.output
    assert {p.name for p in run.report_dir.iterdir()} >= {
        "certification.json", "junit.xml", "report.html", "served-openapi.json",
    }  # fmt: skip
    statuses = run.statuses()
    assert statuses["HEALTH-OK"] == "passed"
    assert "executed checks: HEALTH-OK 1" in run.output
    assert statuses["RK-REPLAY"] == "failed"
    assert statuses["RK-ROTATION"] == "not_verified"  # the test stopped at RK-REPLAY
    assert statuses["LC-EXPIRY"] == "not_verified"
    assert statuses["RUN-STATUS"] == "not_verified"
    data = run.json()
    assert data["verdict"]["certified"] is False and data["exit_status"] == 1
    assert data["run"]["openapi"]["sha256"] and data["run"]["requests_sent"] >= 4
    replay = next(i for i in data["invariants"] if i["id"] == "RK-REPLAY")
    assert replay["protocol"] and replay["failures"][0]["evidence"][0]["curl"].startswith("curl")
    assert "--base-url" in replay["failures"][0]["reproduce"]
    skipped = next(i for i in data["invariants"] if i["id"] == "LC-EXPIRY")
    assert "3600 s" in skipped["reasons"][0]
    junit = ET.parse(run.report_dir / "junit.xml").getroot()
    assert junit.find(".//failure[@type='RK-REPLAY']") is not None
    assert "RK-REPLAY" in run.text("report.html")
    assert re.search(r"^FAILED RK-REPLAY\s+test_fake.py::test_replay", run.output, re.M)
    assert "CI gate: FAIL (exit 1)" in run.output


def test_secrets_never_reach_any_output(fake_suite: Path, fake_target: str) -> None:
    user_junit = fake_suite / "user-junit.xml"
    run = _fake_run(
        fake_suite, fake_target, fake_suite / "reports", f"--junitxml={user_junit}",
        fail="MODELS-CATALOG",
    )  # fmt: skip
    assert run.returncode == 1, run.output
    secret = "permit-" + "s3cr3t" * 4
    outputs = {"terminal": run.output, "user junit": user_junit.read_text()}
    outputs |= {p.name: p.read_text() for p in run.report_dir.iterdir()}
    assert "[permit#" in run.output  # the failure was shown, redacted
    assert [name for name, text in outputs.items() if secret in text] == []


def test_waivers_and_baselines_decide_the_exit_status(fake_suite: Path, fake_target: str) -> None:
    reports = fake_suite / "reports"
    waivers = fake_suite / "waivers.yaml"
    future = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    past = (dt.date.today() - dt.timedelta(days=1)).isoformat()

    def waive(*entries: tuple[str, str]) -> str:
        items = [{"invariant": i, "reason": "ENG-1", "expires": d} for i, d in entries]
        waivers.write_text(json.dumps({"waivers": items}))  # JSON is YAML
        return f"--waivers={waivers}"

    run = _fake_run(fake_suite, fake_target, reports, waive(("RK-REPLAY", future)),
                    fail="RK-REPLAY")  # fmt: skip
    assert run.returncode == 0, run.output
    assert run.statuses()["RK-REPLAY"] == "waived"
    junit = ET.parse(run.report_dir / "junit.xml").getroot()
    assert junit.get("failures") == "0"
    assert junit.find(".//skipped[@type='seecodes.tolerated']") is not None
    run = _fake_run(fake_suite, fake_target, reports, waive(("RK-REPLAY", past)),
                    fail="RK-REPLAY")  # fmt: skip
    assert run.returncode == 1 and "expired" in run.output, run.output
    run = _fake_run(fake_suite, fake_target, reports, waive(("HEALTH-OK", future)))
    assert run.returncode == 1 and "stale" in run.output, run.output
    waivers.write_text("waivers:\n  - invariant: RK-REPLAY\n")
    run = _fake_run(fake_suite, fake_target, reports, f"--waivers={waivers}")
    assert run.returncode == 4 and "reason" in run.output, run.output

    baseline = _fake_run(fake_suite, fake_target, reports, fail="RK-REPLAY")
    saved = fake_suite / "baseline.json"
    shutil.copyfile(baseline.report_dir / "certification.json", saved)
    run = _fake_run(fake_suite, fake_target, reports, f"--baseline={saved}", fail="RK-REPLAY")
    assert run.returncode == 0, run.output  # a known failure
    run = _fake_run(fake_suite, fake_target, reports, f"--baseline={saved}",
                    fail="RK-REPLAY,HEALTH-OK")  # fmt: skip
    assert run.returncode == 1, run.output
    assert run.json()["gate"]["regressions"] == ["HEALTH-OK"]
    run = _fake_run(fake_suite, fake_target, reports, f"--baseline={saved}")
    assert run.returncode == 0 and "progress since the baseline: RK-REPLAY" in run.output


def test_xdist_controller_writes_reports_from_worker_data(
    fake_suite: Path, fake_target: str
) -> None:
    run = _fake_run(fake_suite, fake_target, fake_suite / "reports", "-n", "2", fail="RK-REPLAY")
    assert run.returncode == 1, run.output
    data = run.json()
    assert data["run"]["workers"] == 2 and data["run"]["requests_sent"] >= 4
    replay = next(i for i in data["invariants"] if i["id"] == "RK-REPLAY")
    assert replay["failures"][0]["evidence"], replay
    assert data["run"]["openapi"]["sha256"]


def test_unreachable_target_exits_7_with_a_report(fake_suite: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    for extra in ([], ["-n", "2"]):
        reports = fake_suite / f"reports{len(extra)}"
        run = _fake_run(fake_suite, f"http://127.0.0.1:{port}", reports, *extra)
        assert run.returncode == 7, run.output
        data = run.json()
        assert data["exit_status"] == 7 and not data["verdict"]["certified"]
        assert any("unavailable" in r or "reach" in r for r in data["verdict"]["reasons"]), data


def test_certify_profile_writes_a_signed_manifest(fake_suite: Path, fake_target: str) -> None:
    key = Ed25519PrivateKey.generate()
    key_path = fake_suite / "key.pem"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    run = _fake_run(fake_suite, fake_target, fake_suite / "reports", "--profile=certify",
                    f"--signing-key={key_path}")  # fmt: skip
    assert run.returncode == 0, run.output
    listed = json.loads(run.text("manifest.json"))
    assert set(listed["files"]) >= {"certification.json", "junit.xml", "report.html",
                                    "served-openapi.json"}  # fmt: skip
    assert listed["served_openapi"]["sha256"] == run.json()["run"]["openapi"]["sha256"]
    assert run.json()["run"]["seeds"]["profile"] is not None  # certify: a fixed seed
    assert manifest.verify(run.report_dir) == []
    (run.report_dir / "certification.json").write_text("{}")
    assert manifest.verify(run.report_dir)


def test_misbehaving_target_fails_tests_clearly_and_quickly(
    tmp_path: Path, fake_target: str
) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_bad.py").write_text(MISBEHAVING_SUITE)
    run = _pytest(
        [f"--base-url={fake_target}", *LEAN, "--request-timeout=2",
         "--max-response-bytes=1000000"],
        suite, tmp_path / "reports", timeout=120,
    )  # fmt: skip
    assert run.returncode == 1, run.output
    assert run.elapsed < 60, run.elapsed
    tests = {t["id"].split("::")[-1]: t for t in run.json()["tests"]}
    # A reset before any answer is "not now" (a balancer shedding load), never a verdict.
    reset = tests.pop("test_misbehaving[/reset]")
    assert reset["outcome"] == "skipped", reset
    assert "not verified" in reset["message"] and "reset a connection" in reset["message"], reset
    assert all(t["outcome"] == "failed" for t in tests.values()), tests
    expect = {
        "test_misbehaving[/hang]": "did not answer GET /hang within 2 s",
        "test_misbehaving[/huge]": "over the limit of 1000000",
        "test_misbehaving[/huge-chunked]": "over the limit of 1000000",
        "test_misbehaving[/drip]": "still sending the response body",
        "test_html_where_json_is_due": "not JSON (content-type text/html)",
    }
    for name, phrase in expect.items():
        assert phrase in tests[name]["message"], (name, tests[name]["message"])


def test_request_budget_stops_sending(fake_suite: Path, fake_target: str) -> None:
    run = _fake_run(fake_suite, fake_target, fake_suite / "reports", "--request-budget=3")
    assert run.returncode == 1, run.output
    data = run.json()
    assert data["run"]["requests_sent"] <= 3
    assert any("budget" in p for p in data["gate"]["problems"])
    assert "request budget exhausted" in run.output


def test_body_cap_and_deadline_in_the_client(fake_target: str) -> None:
    from seecodes_conformance.http import new_http_client

    with new_http_client(fake_target, timeout=1.0) as client:
        with pytest.raises(ResponseTooLarge):
            client.get("/huge")
        with pytest.raises(ResponseTooSlow):
            client.get("/drip")
        with pytest.raises(httpx.ReadTimeout):
            client.get("/hang")
        assert client.get("/healthz").json() == {"ok": True}


# ------------------------------------------------------------------------------ whole suite


def _secret_hits(run: Run, audit: Path, extra: dict[str, str]) -> dict[str, list[str]]:
    secrets: set[str] = set()
    for dump in audit.parent.glob(audit.name + ".*"):
        secrets.update(json.loads(dump.read_text()))
    assert len(secrets) > 50, "the audit dump is too small to mean anything"
    outputs = {"terminal": run.output, **extra}
    outputs |= {p.name: p.read_text(errors="replace") for p in run.report_dir.iterdir()}
    hits = {name: [s[:12] + "…" for s in secrets if s in text] for name, text in outputs.items()}
    for name, text in outputs.items():
        hits[name] += [f"JWT-shaped {m[:12]}…" for m in JWT_SHAPE.findall(text)]
    return {name: found for name, found in hits.items() if found}


def test_whole_suite_with_two_faults_reports_both_and_leaks_no_secret(tmp_path: Path) -> None:
    audit = tmp_path / "audit" / "secrets"
    audit.parent.mkdir()
    user_junit = tmp_path / "user-junit.xml"
    run = _pytest(
        ["suites", "-n", "2", "--engine-fault=rk-replay", "--engine-fault=lc-replay",
         "--profile=smoke", "--stateful-shrink=0", f"--junitxml={user_junit}"],
        ROOT, tmp_path / "reports", env={"SEECODES_SECRET_AUDIT_FILE": str(audit)}, timeout=1200,
    )  # fmt: skip
    assert run.returncode == 1, run.output[-5000:]
    data = run.json()
    by_id = {i["id"]: i for i in data["invariants"]}
    junit = ET.parse(run.report_dir / "junit.xml").getroot()
    html = run.text("report.html")
    for iid in ("RK-REPLAY", "LC-REPLAY"):
        entry = by_id[iid]
        assert entry["status"] == "failed", entry
        assert entry["protocol"] and entry["failures"][0]["evidence"], entry
        assert junit.find(f".//failure[@type='{iid}']") is not None, iid
        assert f'id="{iid}"' in html and escape(entry["protocol"]) in html
        assert re.search(rf"^FAILED {iid}\b", run.output, re.M), iid
    hits = _secret_hits(run, audit, {"user junit": user_junit.read_text()})
    assert hits == {}, hits


def test_clean_run_writes_all_three_reports(tmp_path: Path) -> None:
    run = _pytest(
        ["suites/test_surface.py", "suites/test_request_keys.py"], ROOT, tmp_path / "reports",
        timeout=900,
    )  # fmt: skip
    assert run.returncode == 0, run.output[-5000:]
    data = run.json()
    assert data["exit_status"] == 0 and data["gate"]["passed"]
    assert data["counts"]["failed"] == 0 and data["counts"]["passed"] > 0
    assert ET.parse(run.report_dir / "junit.xml").getroot().get("failures") == "0"
    assert "Invariants by area" in run.text("report.html")
    if shutil.which("chromium"):
        dom = subprocess.run(
            ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
             "--disable-background-networking", "--disable-component-update", "--no-first-run",
             f"--user-data-dir={tmp_path / 'chromium'}", (run.report_dir / "report.html").as_uri()],
            capture_output=True, text=True, timeout=120, check=False,
        ).stdout  # fmt: skip
        assert "CI GATE PASSED" in dom and 'class="areas"' in dom, dom[:2000]


# ------------------------------------------------------------------ credentials failing mid-run


def test_a_401_on_a_token_that_has_expired_by_now_is_a_credentials_problem() -> None:
    from seecodes_conformance.credentials import CredentialExpired, TokensInUse
    from seecodes_conformance.report.capture import credentials_problem

    now = 1_800_000_000.0
    tokens = TokensInUse()
    tokens.note("static", "a", now - 30)
    tokens.note("static", "b", now + 7200)
    problem = credentials_problem(None, [200, 401], failed=True, renewable=False, in_use=tokens,
                                  now=now)  # fmt: skip
    assert problem == (
        "the static Forge token for tenant 'a' expired at 2027-01-15T07:59:30Z (30 s ago), "
        "and the target answered 401: a credentials problem, not a verdict"
    )
    # Within a minute of its exp: the target's clock may be ahead of ours.
    tokens.note("static", "a", now + 45)
    assert "expires at 2027-01-15T08:00:45Z, in 45 s" in str(
        credentials_problem(None, [401], failed=True, renewable=False, in_use=tokens, now=now)
    )
    for statuses, failed, renewable in (([200], True, False), ([401], False, False),
                                        ([401], True, True)):  # fmt: skip
        assert credentials_problem(None, statuses, failed=failed, renewable=renewable,
                                   in_use=tokens, now=now) is None  # fmt: skip
    # A skip raised while handling an expired token (jira_factory skips a test whose principal
    # has no credentials) is still the credentials' failure.
    skip = pytest.skip.Exception("no token")
    skip.__context__ = CredentialExpired("the static Forge token for tenant 'a' expired")
    assert credentials_problem(skip, [], failed=False, renewable=False, in_use=TokensInUse())


EXPIRING_SUITE = """
import time

import pytest

from seecodes_conformance import credentials
from seecodes_conformance.credentials import Principal


@pytest.mark.invariant("HEALTH-OK")
def test_an_hour_later(forge, monkeypatch):
    later = time.time() + 3600
    monkeypatch.setattr(credentials.time, "time", lambda: later)
    forge.token(Principal("a"))


@pytest.mark.invariant("RK-REPLAY")
def test_never_reached():
    pass
"""


def test_a_static_token_expiring_mid_run_ends_it_with_exit_7_not_failures(
    tmp_path: Path, fake_target: str
) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_expiring.py").write_text(EXPIRING_SUITE)
    token = jwt.encode({"exp": int(time.time()) + 16 * 60}, "k" * 32, algorithm="HS256")

    args = [f"--base-url={fake_target}", *LEAN, "--forge-source=static", f"--forge-token=a={token}"]

    run = _pytest(args, suite, tmp_path / "reports", timeout=120)

    assert run.returncode == 7, run.output
    assert "the Forge credentials failed during the run: test_expiring.py::test_an_hour_later: " \
           "the static Forge token for tenant 'a' expired at " in run.output  # fmt: skip
    assert "test_never_reached" not in run.output and token not in run.output
    data = run.json()
    assert data["exit_status"] == 7
    assert any("expired at" in reason for reason in data["verdict"]["reasons"]), data["verdict"]


# ------------------------------------------------------------------ what the summary says


def _waived_result(message: str = "[RK-REPLAY] replay accepted") -> Result:
    failing = TestRecord("t.py::test_r", ["RK-REPLAY"], outcome="failed", violated="RK-REPLAY",
                         message=message)  # fmt: skip
    records = [failing, PASS_HEALTH]
    results = _results(*records)
    gate = decide(results, records, [], waivers=_waiver("RK-REPLAY", TODAY), baseline=None,
                  today=TODAY)  # fmt: skip
    result = _result(records, gate)
    result.invariants = results  # as the gate left them: RK-REPLAY waived
    result.verdict = verdict(results, [], profile="ci")
    return result


def _certify(result: Result) -> Result:
    result.run.profile = {"name": "certify"}
    result.verdict = verdict(result.invariants, [], profile="certify")
    return result


def test_the_banner_states_the_gate_and_the_certificate_only_under_certify() -> None:
    """A passing CI gate run is not painted red as "NOT CERTIFIED": it certifies nothing, so
    its banner states the gate; the certification verdict is the banner of certify runs."""
    from seecodes_conformance.report.terminal import summary_lines

    passing_gate = _waived_result()
    assert passing_gate.gate.passed and not passing_gate.verdict.conformant
    html = render(passing_gate)
    assert '<header class="verdict ok">' in html and ">CI GATE PASSED<" in html
    assert "<title>CI GATE PASSED · " in html and "CERTIFIED" not in html
    head, markup = summary_lines(passing_gate, [], ROOT, terminal=False)[0]
    assert head.startswith("CI GATE PASSED (profile ci): 1 invariant(s) failed under a waiver")
    assert markup == {"green": True, "bold": True}

    failing_gate = _result([FAIL_REPLAY, PASS_HEALTH])
    assert ">CI GATE FAILED<" in render(failing_gate)
    head, markup = summary_lines(failing_gate, [], ROOT, terminal=False)[0]
    assert head.startswith("CI GATE FAILED (profile ci)") and markup["red"]

    clean = _result([TestRecord(f"t::{i}", [i], checks=_passed(i)) for i in CATALOG])
    head, _ = summary_lines(clean, [], ROOT, terminal=False)[0]
    assert head == "CI GATE PASSED (profile ci): every invariant passed"

    certify = _certify(_waived_result())
    html = render(certify)
    assert '<header class="verdict bad">' in html and ">NOT CERTIFIED<" in html
    head, markup = summary_lines(certify, [], ROOT, terminal=False)[0]
    assert head.startswith("NOT CERTIFIED (profile certify): ") and markup["red"]


def test_a_tolerated_failure_next_to_exit_0_is_explained_in_one_line() -> None:
    from seecodes_conformance.report.terminal import summary_lines

    lines = [line for line, _ in summary_lines(_waived_result(), [], ROOT, terminal=False)]
    assert 'pytest\'s "1 failed" below is tolerated by the gate (waived: RK-REPLAY), hence exit 0' \
        in lines  # fmt: skip
    plain = [line for line, _ in summary_lines(_result([FAIL_REPLAY]), [], ROOT, terminal=False)]
    assert not [line for line in plain if "tolerated" in line]  # exit 1: nothing to explain


def test_summary_lines_are_cut_for_a_terminal_only() -> None:
    from seecodes_conformance.report.terminal import summary_lines

    long = "[RK-REPLAY] replay accepted: " + "the engine said so at length " * 12 + "THE END"
    result = _waived_result(long)
    in_log = next(line for line, _ in summary_lines(result, [], ROOT, terminal=False)
                  if line.startswith("WAIVED"))  # fmt: skip
    assert in_log.endswith("THE END") and len(in_log) > 300
    on_terminal = next(line for line, _ in summary_lines(result, [], ROOT, terminal=True)
                       if line.startswith("WAIVED"))  # fmt: skip
    assert len(on_terminal) == 160 and on_terminal.endswith("…")


LONG_FAILURE_SUITE = """
import pytest

from seecodes_conformance import oracle


@pytest.mark.invariant("HEALTH-OK")
def test_health(http):
    oracle.assert_success(http.get("/healthz"), "HEALTH-OK")


@pytest.mark.invariant("RK-REPLAY")
def test_replay(http):
    response = http.get("/v1/jira/usage")
    oracle.fail("RK-REPLAY", "a replay was accepted: " + "the target said yes " * 15 + "END",
                [response])
"""


def test_a_waived_gate_run_in_a_ci_log_passes_green_whole_and_explained(
    tmp_path: Path, fake_target: str
) -> None:
    """What a CI log shows for a passing gate with a waived failure: the gate's banner (not
    NOT CERTIFIED), the failure line whole (a log is not a terminal) and why pytest's "1 failed"
    comes with exit 0."""
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_long.py").write_text(LONG_FAILURE_SUITE)
    waivers = suite / "waivers.yaml"
    future = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    waiver = {"invariant": "RK-REPLAY", "reason": "ENG-1", "expires": future}
    waivers.write_text(json.dumps([waiver]))

    run = _pytest([f"--base-url={fake_target}", *LEAN, f"--waivers={waivers}"], suite,
                  tmp_path / "reports", timeout=120)  # fmt: skip

    assert run.returncode == 0, run.output
    assert "NOT CERTIFIED" not in run.output
    assert re.search(r"^CI GATE PASSED \(profile ci\): 1 invariant\(s\) failed under a waiver",
                     run.output, re.M), run.output  # fmt: skip
    waived = next(line for line in run.output.splitlines() if line.startswith("WAIVED"))
    assert waived.endswith("the target said yes END"), waived
    assert 'pytest\'s "1 failed" below is tolerated by the gate (waived: RK-REPLAY), hence exit 0' \
        in run.output  # fmt: skip
    assert re.search(r"\b1 failed\b", run.output.splitlines()[-1])
    assert ">CI GATE PASSED<" in run.text("report.html")


# ------------------------------------------------------------------ each test counted once

SUBTEST_SUITE = """
import pytest

from seecodes_conformance.outcomes import LOG


@pytest.mark.invariant("HEALTH-OK")
@pytest.mark.parametrize("combination", ["GET /healthz", "GET /openapi.json"])
def test_fuzz(combination, request, subtests):
    # What schemathesis does for each operation it fuzzes: rename the item while the
    # operation's subtest runs, then name it back.
    node_id = request.node._nodeid
    request.node._nodeid = f"{node_id}[{combination}]"
    try:
        with subtests.test(msg=combination):
            LOG.passed("HEALTH-OK")
    finally:
        request.node._nodeid = node_id
"""


def test_a_test_with_renamed_subtests_is_counted_once_in_every_report(
    tmp_path: Path, fake_target: str
) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_sub.py").write_text(SUBTEST_SUITE)

    run = _pytest([f"--base-url={fake_target}", *LEAN], suite, tmp_path / "reports", timeout=120)

    assert "2 passed" in run.output, run.output
    ids = [t["id"] for t in run.json()["tests"]]
    assert ids == [
        "test_sub.py::test_fuzz[GET /healthz]",
        "test_sub.py::test_fuzz[GET /openapi.json]",
    ]
    junit = ET.parse(run.report_dir / "junit.xml").getroot()
    assert junit.get("tests") == "2" and len(junit.findall(".//testcase")) == 2
    assert '<div class="tile">tests<b>2</b></div>' in run.text("report.html")
    assert run.statuses()["HEALTH-OK"] == "passed"


def test_junit_counts_what_it_writes() -> None:
    twice = [PASS_HEALTH, PASS_HEALTH]
    root = to_xml(_result(twice)).getroot()
    assert root.get("tests") == "1" and len(root.findall(".//testcase")) == 1


def test_html_shows_values_as_words_not_python_or_json_literals() -> None:
    result = _result([PASS_HEALTH])
    result.run.profile = {"name": "ci", "race_bursts": 5, "seed": None, "derandomize": True,
                          "run_wait": 180.0}  # fmt: skip
    result.run.seeds = {"profile": None, "fuzz": [4100581289]}
    result.coverage = {"combinations": {"GET /healthz": {"sent": 7, "documented": True,
                                                         "shrunk": False}}}  # fmt: skip
    html = render(result)
    assert re.findall(r"\b(True|False|None|null)\b", html) == []
    assert "ci: race bursts 5; seed none; derandomize yes; run wait 180</dd>" in html
    assert "<dd>fuzz 4100581289; profile none</dd>" in html
    assert "<td>7</td><td>yes</td><td>no</td>" in html


# ------------------------------------------------------------------ what a failure section shows

EVIDENCE_SUITE = """
import pytest

from seecodes_conformance import oracle


@pytest.mark.invariant("RK-REPLAY")
def test_many_exchanges(http):
    for n in range(60):
        response = http.get(f"/v1/jira/usage?n={n}")
    oracle.fail("RK-REPLAY", "the last of 60 calls was wrong", [response])


@pytest.mark.invariant("RK-ROTATION")
def test_state_machine_like(http):
    response = http.get("/v1/instances/me")
    failure = AssertionError("[RK-ROTATION] the model and the engine disagree")
    failure.add_note(
        "Reproduction (seed 4242): the failing run's steps and their requests, secrets "
        "redacted:\\n  1. use_current_key(actor=Actor(a1))\\n       GET /v1/instances/me -> 200\\n"
        "Replay: pytest suites/test_stateful.py --profile=ci --stateful-seed=4242"
    )
    raise failure
"""


def test_a_failure_shows_its_exchanges_up_to_50_and_its_notes(
    tmp_path: Path, fake_target: str
) -> None:
    """Every exchange of a failing test is evidence (the last 50 when there are more, saying
    how many were left out), and what was added to the failure (a state-machine run's steps,
    seed and replay command) reaches the HTML and JSON reports, not only the terminal."""
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_evidence.py").write_text(EVIDENCE_SUITE)

    run = _pytest([f"--base-url={fake_target}", *LEAN], suite, tmp_path / "reports", timeout=120)

    assert run.returncode == 1, run.output
    data = {i["id"]: i for i in run.json()["invariants"]}
    many = data["RK-REPLAY"]["failures"][0]
    assert len(many["evidence"]) == 50
    first, last = many["evidence"][0]["text"], many["evidence"][-1]["text"]
    assert last.startswith("> GET ") and "n=59" in last and "n=10" in first
    # 60 calls and the target's probe in setup: the last 50 are the calls n=10..59.
    left_out = re.fullmatch(
        r"(\d+) earlier exchange\(s\) of this test left out; the last 50 are shown",
        many["evidence_note"],
    )
    assert left_out and int(left_out[1]) >= 10, many["evidence_note"]
    html = run.text("report.html")
    assert "requests and responses of this test (50)" in html and "exchange 50</p>" in html
    assert many["evidence_note"] in html
    machine = data["RK-ROTATION"]["failures"][0]
    replay = "Replay: pytest suites/test_stateful.py --profile=ci --stateful-seed=4242"
    for part in ("Reproduction (seed 4242)", "use_current_key(actor=Actor(a1))", replay):
        assert part in machine["message"], machine["message"]
        assert str(escape(part)) in html
    junit = ET.parse(run.report_dir / "junit.xml").getroot()
    text = junit.find(".//failure[@type='RK-REPLAY']").text or ""  # type: ignore[union-attr]
    assert f"--- {many['evidence_note']} ---" in text and "--- exchange 50 ---" in text


def test_a_long_failure_keeps_the_head_of_its_message_and_the_end_of_its_notes() -> None:
    from seecodes_conformance.report.capture import with_notes

    steps = "\n".join(f"{n:>3}. step {n}" for n in range(3000)) + "\nReplay: pytest x --seed=1"
    text = with_notes("[RK-ROTATION] disagreement\n" + "detail " * 3000, [steps], limit=12000)
    assert len(text) <= 12000
    assert text.startswith("[RK-ROTATION] disagreement") and text.endswith(
        "Replay: pytest x --seed=1"
    )
    assert "characters left out" in text
    assert with_notes("short", []) == "short"


# ------------------------------------------------------------------ the manifest checker


def _ed25519_pair(folder: Path, name: str) -> tuple[Path, Path]:
    key = Ed25519PrivateKey.generate()
    private = folder / f"{name}.pem"
    pkcs8, plain = serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, pkcs8, plain))
    public = folder / f"{name}.pub.pem"
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM, spki))
    return private, public


def _check_bundle(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "seecodes_conformance.report.manifest", *args],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip


def test_the_manifest_checker_says_unsigned_and_tells_a_private_key_from_a_wrong_key(
    tmp_path: Path,
) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    signer, signer_public = _ed25519_pair(keys, "signer")
    other, other_public = _ed25519_pair(keys, "other")
    unsigned, signed = tmp_path / "unsigned", tmp_path / "signed"
    for bundle in (unsigned, signed):
        bundle.mkdir()
        (bundle / "certification.json").write_text("{}")
    manifest.write(unsigned, {"target": "x"}, None)
    manifest.write(signed, {"target": "x"}, signer)

    done = _check_bundle(str(unsigned))
    assert done.returncode == 0 and "the bundle is unsigned (no manifest.sig)" in done.stdout
    assert "signature check out" not in done.stdout
    done = _check_bundle(str(unsigned), "--key", str(signer_public))
    assert done.returncode == 1 and "the bundle is unsigned" in done.stdout

    done = _check_bundle(str(signed), "--key", str(signer_public))
    assert done.returncode == 0, done.stdout
    assert "every digest and the ed25519 signature check out" in done.stdout
    done = _check_bundle(str(signed), "--key", str(other_public))
    assert done.returncode == 1
    assert f"signed with a different Ed25519 key than --key {other_public}" in done.stdout
    for private, half in ((signer, "matches"), (other, "does not match")):
        done = _check_bundle(str(signed), "--key", str(private))
        assert done.returncode == 1
        assert f"--key {private} is a private key, not the public key" in done.stdout
        assert f"its public half {half} the key that signed this bundle" in done.stdout
    secret = keys / "secret.txt"
    secret.write_text("a shared secret of enough length")
    done = _check_bundle(str(signed), "--key", str(secret))
    assert done.returncode == 1 and "is not a PEM public key" in done.stdout
    assert "a shared secret" not in done.stdout + done.stderr  # key material is never shown

    # The public key a checker needs, printed from the signing key.
    done = _check_bundle("--public-key", str(signer))
    assert done.returncode == 0 and done.stdout == signer_public.read_text()
    done = _check_bundle("--public-key", str(secret))
    assert done.returncode == 1 and "an HMAC secret has no public half" in done.stderr
    assert "a shared secret" not in done.stdout + done.stderr


def test_a_public_key_given_as_the_signing_key_is_refused(tmp_path: Path) -> None:
    """Taken for an HMAC secret, a public key would let anyone who has it forge signatures."""
    _, public = _ed25519_pair(tmp_path, "k")
    with pytest.raises(manifest.SigningKeyError, match="is a public key: signing needs"):
        manifest.check_key(public)


def test_an_advisory_finding_is_reported_but_gates_only_when_strict() -> None:
    """[robustness] A 5xx on extreme input the protocol says nothing about is an advisory
    finding: shown with its evidence, never failing the gate unless --strict-robustness."""
    finding = InvariantResult("ROBUST-X", "system", "advisory", "q", [], status="failed")
    passing = InvariantResult("HEALTH-OK", "system", "contract", "q", [], status="passed")
    passing.checks = 1
    records: list[TestRecord] = []
    relaxed = decide([finding, passing], records, [], waivers={}, baseline=None, today=TODAY)
    assert relaxed.passed and relaxed.advisories == ["ROBUST-X"]
    loose = verdict([finding, passing], [], profile="ci")
    assert loose.conformant and "1 advisory robustness finding(s)" in " ".join(loose.reasons)
    finding.status = "failed"
    strict = decide([finding, passing], records, [], waivers={}, baseline=None, today=TODAY,
                    strict_robustness=True)  # fmt: skip
    assert not strict.passed
    assert not verdict([finding, passing], [], profile="ci", strict_robustness=True).conformant
