"""The state machine on its own catches faults that only show in sequences, and shrinks
each to a short, redacted, replayable reproduction; and a throttling target makes some of its
steps not verified, never the test failed, skipped or flaky.

The fault matrix proves every fault is caught by *some* test of its invariant; here only the
state-machine test runs, with shrinking on, so a catch is the machine's own.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import xml.etree.ElementTree as ET
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from seecodes_reference_engine.faults import FAULTS, VARIANTS

from seecodes_conformance.engine_process import EngineProcess
from seecodes_conformance.plugin import EMBEDDED_ENGINE_ARGS
from suite_runner import run_suites

STATEFUL_TEST = "test_engine_behaves_like_its_model"
CHECKS_PROPERTY = "seecodes_stateful_checks"
# Headers a relay does not pass on (httpx already decoded the body it relays).
HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length",
                        "content-encoding", "host"})  # fmt: skip
# a key accepted twice, a status going backwards, a write redirected by body fields, and permit
# routes that skip the binding
SEQUENCE_FAULTS = [
    "rk-replay",
    "run-monotonic",
    "body-no-redirect",
    "permit-binding-progress",
    "permit-binding-progress-read",
    "permit-binding-index",
    "permit-binding-run",
    "permit-binding-snapshot",
]
MOST_STEPS = 5  # "at most a handful of steps", initial setup not counted
STEP_LINE = re.compile(r"^\s*\d+\. \w+\(", re.MULTILINE)


@pytest.mark.parametrize("fault", SEQUENCE_FAULTS)
def test_state_machine_catches_and_shrinks(fault: str, tmp_path: Path) -> None:
    invariant = FAULTS[fault].invariant
    with EngineProcess(faults=[fault], extra_args=EMBEDDED_ENGINE_ARGS) as engine:
        run = run_suites(
            engine.base_url, tmp_path, args=["-k", STATEFUL_TEST, "--stateful-shrink=1"]
        )
    [case] = [c for c in run.cases if STATEFUL_TEST in c.name] or [None]
    assert case is not None, f"the state-machine test did not run:\n{run.summary()}"
    assert case.outcome == "failed", f"{fault!r} was not caught by the machine:\n{run.summary()}"
    assert f"[{invariant}]" in case.message, f"failed, but not on {invariant}:\n{case.message}"

    reproduction = case.message[case.message.index("Reproduction (seed") :]
    steps = STEP_LINE.findall(reproduction)
    assert 1 <= len(steps) <= MOST_STEPS, f"not shrunk to a handful of steps:\n{reproduction}"
    assert re.search(r"Replay: pytest suites/test_stateful.py .*--stateful-seed=\d+", reproduction)
    assert f"--engine-fault={fault}" not in reproduction  # the target came via --base-url
    assert "Bearer ey" not in case.message and "eyJ" not in reproduction


# -- throttling -----------------------------------------------------------------------------------
class ThrottlingGateway:
    """A gateway in front of a real engine, as one deployed before a staging target: it answers
    every ``every``-th ``/v1/`` request itself with 429 (``Retry-After: 0``) and relays the rest.

    The harness sends non-consuming requests again (and so gets through); a request that carries
    a request key or a launch code it does not send again, so the step that sent it cannot
    conclude: that is what the state machine must survive without failing or going flaky.
    """

    def __init__(self, upstream: str, every: int) -> None:
        self.client = httpx.Client(base_url=upstream, timeout=30)  # one pool for every relay
        self.every = every
        self.seen = 0
        self.throttled: Counter[str] = Counter()
        self._lock = threading.Lock()
        gateway = self

        class Relay(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out as separate writes

            def log_message(self, format: str, *args: object) -> None:
                pass

            def relay(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                if gateway.throttles(self.command, self.path):
                    self.answer(429, [("Retry-After", "0"), ("Content-Type", "application/json")],
                                b'{"detail": "Too Many Requests"}')  # fmt: skip
                    return
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in HOP_BY_HOP}  # fmt: skip
                answer = gateway.client.request(
                    self.command, self.path, headers=headers, content=body
                )
                kept = [(k, v) for k, v in answer.headers.multi_items()
                        if k.lower() not in HOP_BY_HOP]  # fmt: skip
                self.answer(answer.status_code, kept, answer.content)

            def answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = relay

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Relay)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def throttles(self, method: str, path: str) -> bool:
        if not path.startswith("/v1/"):
            return False
        with self._lock:
            self.seen += 1
            if self.seen % self.every:
                return False
            self.throttled[f"{method} {path.split('?')[0]}"] += 1
            return True

    def __enter__(self) -> ThrottlingGateway:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.client.close()


def _checks_property(junit: Path) -> dict[str, Any]:
    for case in ET.parse(junit).getroot().iter("testcase"):
        if case.get("name") == STATEFUL_TEST:
            for prop in case.iter("property"):
                if prop.get("name") == CHECKS_PROPERTY:
                    return dict(json.loads(prop.get("value") or "{}"))
    return {}


@pytest.mark.parametrize("throttling", ["gateway", "throttle-429", "refuse-503"])
def test_state_machine_goes_on_through_throttling(throttling: str, tmp_path: Path) -> None:
    """Throttled answers make steps not verified, never a failure, a skip or a flaky run; the
    model stays in step with the target and still checks what the other steps reached."""
    reports = tmp_path / "reports"
    args = ["-k", STATEFUL_TEST, f"--report-dir={reports}"]
    with contextlib.ExitStack() as stack:
        if throttling == "gateway":
            engine = stack.enter_context(EngineProcess(extra_args=EMBEDDED_ENGINE_ARGS))
            gateway = stack.enter_context(ThrottlingGateway(engine.base_url, every=9))
            base_url = gateway.base_url
        else:
            assert throttling in VARIANTS, f"the bundled engine has no {throttling!r} variant"
            engine = stack.enter_context(
                EngineProcess(variants=[throttling], extra_args=EMBEDDED_ENGINE_ARGS)
            )
            base_url = engine.base_url
        run = run_suites(base_url, tmp_path, args=args)

    cases = [c for c in run.cases if STATEFUL_TEST in c.name]
    assert len(cases) == 1, f"the state-machine test did not run:\n{run.summary()}"
    [case] = cases
    assert case.outcome == "passed", f"throttling broke the machine:\n{run.summary()}"
    assert "Flaky" not in run.output and "nconsistent" not in run.output, run.output[-4000:]
    checks = _checks_property(tmp_path / "junit.xml")
    assert checks, f"no {CHECKS_PROPERTY} property:\n{run.summary()}"
    if throttling == "gateway":
        assert gateway.throttled, "the gateway throttled nothing"
        assert checks["steps_not_verified"] > 0, checks
    # Every step not verified says why, in the test's record of its checks.
    certification = reports / "latest" / "certification.json"
    [record] = [t for t in json.loads(certification.read_text())["tests"]
                if t["id"].endswith(STATEFUL_TEST)]  # fmt: skip
    reasons = {u["kind"] for tally in record["checks"].values() for u in tally["unverified"]}
    if checks["steps_not_verified"]:
        assert "throttled" in reasons, record["checks"]
    # What the model checked counts as checks, as on an unthrottled target.
    counted = {iid: n["checked"] for iid, n in checks["invariants"].items() if n["checked"]}
    assert len(counted) >= len(checks["invariants"]) // 2, checks
