"""In the process that runs a test: attach its invariants, failure evidence and target facts.

Everything goes into one extra attribute of pytest's report (``report.seecodes``), redacted
with this process's secret registry before it leaves; pytest-xdist serialises report attributes,
so the controller receives the same data from workers as from a local run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from seecodes_conformance.http.evidence import TRANSCRIPT
from seecodes_conformance.http.traffic import (
    RequestBudgetExceeded,
    ResponseTooLarge,
    ResponseTooSlow,
)
from seecodes_conformance.markers import invariants_of
from seecodes_conformance.oracle import InvariantViolation
from seecodes_conformance.outcomes import LOG
from seecodes_conformance.report.records import ATTRIBUTE, MESSAGE_LIMIT
from seecodes_conformance.settings import Settings

EVIDENCE_EXCHANGES = 4  # the last exchanges of a failing test shown as evidence
_START = pytest.StashKey[int]()


def _hint(exc: BaseException, settings: Settings) -> str:
    """Say plainly what a misbehaving target did; httpx's own messages are terse."""
    if isinstance(exc, RequestBudgetExceeded | ResponseTooLarge | ResponseTooSlow):
        return ""
    if isinstance(exc, httpx.TimeoutException):
        try:
            what = f"{exc.request.method} {exc.request.url.path}"
        except RuntimeError:  # raised by httpx when the error carries no request
            what = "a request"
        return (
            f"the target did not answer {what} within {settings.request_timeout:g} s "
            "(--request-timeout)"
        )
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.ConnectError):
        return f"the target refused or broke the connection: {type(exc).__name__}: {exc}"
    if isinstance(exc, ValueError) and "JSON" in type(exc).__name__ + str(exc):
        last = TRANSCRIPT.last(1)
        kind = (
            dict((k.lower(), v) for k, v in last[0].response_headers).get("content-type", "unknown")
            if last
            else "unknown"
        )
        return (
            f"the target answered a body that is not JSON (content-type {kind}) where JSON is due"
        )
    return ""


class Capture:
    """Per-process hooks; registered in every process (xdist workers and the controller)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.target_sent = False

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Iterator[None]:
        item.stash[_START] = TRANSCRIPT.count
        LOG.reset()
        return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Iterator[None]:
        report: Any = yield
        data: dict[str, Any] = {
            "invariants": invariants_of(item),
            "item": item.nodeid,
            "checks": LOG.snapshot(),
        }
        if report.failed and call.excinfo is not None:
            data.update(self._failure(item, call.excinfo.value))
        funcargs: dict[str, Any] = getattr(item, "funcargs", {})
        if call.when == "setup" and not self.target_sent and "target" in funcargs:
            self.target_sent = True
            data["target"] = self._target_facts(funcargs["target"])
        setattr(report, ATTRIBUTE, data)
        return report

    def _failure(self, item: pytest.Item, exc: BaseException) -> dict[str, Any]:
        from seecodes_conformance.redaction import redact

        data: dict[str, Any] = {}
        if isinstance(exc, InvariantViolation):
            data["violated"] = exc.invariant
        message = (
            str(exc) if isinstance(exc, InvariantViolation) else (f"{type(exc).__name__}: {exc}")
        )
        hint = _hint(exc, self.settings)
        if hint:
            message = f"{hint}\n{message}"
        if isinstance(exc, RequestBudgetExceeded):
            data["budget_exhausted"] = True
        data["message"] = redact(message)[:MESSAGE_LIMIT]
        seen = TRANSCRIPT.count - item.stash.get(_START, TRANSCRIPT.count)
        exchanges = TRANSCRIPT.last(min(seen, EVIDENCE_EXCHANGES)) if seen > 0 else []
        data["evidence"] = [{"text": ex.render(), "curl": ex.as_curl()} for ex in exchanges]
        return data

    def _target_facts(self, target: Any) -> dict[str, Any]:
        """The served /openapi.json: its version and the SHA-256 of the exact bytes served."""
        from seecodes_conformance.http import new_http_client

        doc = getattr(target, "openapi", {}) or {}
        facts: dict[str, Any] = {
            "url": str(getattr(target, "base_url", "")),
            "embedded": bool(getattr(target, "embedded", False)),
            "openapi": {
                "version": doc.get("openapi"),
                "info_version": (doc.get("info") or {}).get("version"),
            },
        }
        try:
            with new_http_client(
                facts["url"], timeout=self.settings.request_timeout, tls=self.settings.tls
            ) as client:
                raw = client.get("/openapi.json").content
        except (httpx.HTTPError, RequestBudgetExceeded) as exc:
            facts["openapi"]["error"] = f"{type(exc).__name__}: {exc}"
            return facts
        facts["openapi"].update(sha256=hashlib.sha256(raw).hexdigest(), size=len(raw))
        facts["openapi_text"] = raw.decode("utf-8", errors="replace")
        return facts
