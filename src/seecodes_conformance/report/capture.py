"""In the process that runs a test: attach its invariants, failure evidence and target facts.

Everything goes into one extra attribute of pytest's report (``report.seecodes``), redacted
with this process's secret registry before it leaves; pytest-xdist serialises report attributes,
so the controller receives the same data from workers as from a local run.

A test that failed because the Forge credentials did (a token command that broke, a static token
that expired during the run, a 401 on a token that has expired by now) ends the run once its
reports are out: exit 7 with the reason, as for credentials refused at start, rather than a row
of failures that say nothing about the target.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from typing import Any

import httpx
import pytest

from seecodes_conformance.contract import route_of
from seecodes_conformance.credentials import IN_USE, CredentialSourceFailed, TokensInUse
from seecodes_conformance.http.evidence import TRANSCRIPT
from seecodes_conformance.http.traffic import (
    RequestBudgetExceeded,
    ResponseTooLarge,
    ResponseTooSlow,
)
from seecodes_conformance.markers import invariants_of, routes_named_by
from seecodes_conformance.oracle import InvariantViolation
from seecodes_conformance.outcomes import LOG
from seecodes_conformance.redaction import redact
from seecodes_conformance.report.records import ATTRIBUTE, MESSAGE_LIMIT
from seecodes_conformance.settings import Settings
from seecodes_conformance.target import EXIT_TARGET_UNAVAILABLE

EVIDENCE_EXCHANGES = 50  # a failing test's exchanges shown as evidence (the last, if more)
EXPIRY_MARGIN_S = 60.0  # a target's clock may run this far ahead of the harness's
_START = pytest.StashKey[int]()
_NODEID = pytest.StashKey[str]()  # the item's id as collected


def _notes(exc: BaseException) -> list[str]:
    """What was added to the exception (PEP 678 notes): a state-machine failure's steps, its
    seed and the command that replays it; hypothesis' falsifying example."""
    notes = getattr(exc, "__notes__", None)
    return [str(note) for note in notes if str(note).strip()] if isinstance(notes, list) else []


def with_notes(message: str, notes: list[str], limit: int = MESSAGE_LIMIT) -> str:
    """``message`` followed by ``notes``, within ``limit`` characters: the message's head and
    the notes' ends (a replay command comes last) survive the cut."""
    if not notes:
        return message[:limit]
    tail = "\n".join(notes)
    if len(tail) > limit * 3 // 4:
        keep = limit * 3 // 8
        tail = f"{tail[:keep]}\n… ({len(tail) - 2 * keep} characters left out) …\n{tail[-keep:]}"
    return message[: limit - len(tail) - 1] + "\n" + tail


def _in_chain(exc: BaseException | None, kind: type[BaseException]) -> BaseException | None:
    """``exc`` or the exception it was raised from or during, if one is a ``kind``."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, kind):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def credentials_problem(
    exc: BaseException | None,
    statuses: Iterable[int],
    *,
    failed: bool,
    renewable: bool,
    in_use: TokensInUse = IN_USE,
    now: float | None = None,
) -> str | None:
    """Why this test's outcome is a credentials problem rather than a verdict, if it is.

    ``renewable``: the run's tokens come from the test issuer, which mints a fresh one each
    time; its 401s are the target's verdicts.
    """
    broken = _in_chain(exc, CredentialSourceFailed)
    if broken is not None:
        return str(broken)
    if not failed or renewable or 401 not in set(statuses):
        return None
    stale = in_use.expired(margin=EXPIRY_MARGIN_S, now=now)
    if not stale:
        return None
    return "; ".join(stale) + ", and the target answered 401: a credentials problem, not a verdict"


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


def routes_touched(item: pytest.Item) -> list[str]:
    """The documented routes this test sent requests to (so far), and those its id names (a
    fuzz test's requests go through schemathesis' own client)."""
    routes = {route_of(method, path) for method, path in TRANSCRIPT.touched()}
    return sorted({r for r in routes if r is not None} | routes_named_by(item))


class Capture:
    """Per-process hooks; registered in every process (xdist workers and the controller)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.target_sent = False
        self.credentials_failed: str | None = None  # ends the run after this test's reports

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Iterator[None]:
        item.stash[_START] = TRANSCRIPT.count
        # Schemathesis renames the item while each of its subtests runs ("test_fuzz[GET /x]"
        # becomes "test_fuzz[GET /x][GET /x]"); the report counts the test under the id it was
        # collected with.
        item.stash[_NODEID] = item.nodeid
        LOG.reset()
        TRANSCRIPT.touched(reset=True)
        return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Iterator[None]:
        report: Any = yield
        data: dict[str, Any] = {
            "invariants": invariants_of(item),
            "item": item.stash.get(_NODEID, item.nodeid),
            "checks": LOG.snapshot(),
            "routes": routes_touched(item),
        }
        if report.failed and call.excinfo is not None:
            data.update(self._failure(item, call.excinfo.value))
        if self.credentials_failed is None:
            problem = self._credentials_problem(item, call, report.failed)
            if problem:
                self.credentials_failed = f"{data['item']}: {problem}"
        funcargs: dict[str, Any] = getattr(item, "funcargs", {})
        if call.when == "setup" and not self.target_sent and "target" in funcargs:
            self.target_sent = True
            data["target"] = self._target_facts(funcargs["target"])
        setattr(report, ATTRIBUTE, data)
        return report

    def _credentials_problem(
        self, item: pytest.Item, call: pytest.CallInfo[None], failed: bool
    ) -> str | None:
        exc = call.excinfo.value if call.excinfo is not None else None
        seen = TRANSCRIPT.count - item.stash.get(_START, TRANSCRIPT.count)
        statuses = [ex.status for ex in TRANSCRIPT.last(seen)] if failed and seen > 0 else []
        renewable = self.settings.forge_source not in ("static", "command")
        return credentials_problem(exc, statuses, failed=failed, renewable=renewable)

    def pytest_runtest_logfinish(self, nodeid: str) -> None:
        """After the test's last report: a credentials failure ends the run (exit 7)."""
        problem, self.credentials_failed = self.credentials_failed, None
        if problem:
            pytest.exit(
                redact(f"seecodes: the Forge credentials failed during the run: {problem}"),
                returncode=EXIT_TARGET_UNAVAILABLE,
            )

    def _failure(self, item: pytest.Item, exc: BaseException) -> dict[str, Any]:
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
        data["message"] = redact(with_notes(message, _notes(exc)))
        seen = TRANSCRIPT.count - item.stash.get(_START, TRANSCRIPT.count)
        exchanges = TRANSCRIPT.last(min(seen, EVIDENCE_EXCHANGES)) if seen > 0 else []
        data["evidence"] = [{"text": ex.render(), "curl": ex.as_curl()} for ex in exchanges]
        if seen > len(exchanges):
            data["evidence_left_out"] = seen - len(exchanges)
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
