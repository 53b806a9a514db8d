"""Runs: init, presigned uploads, start, and polling the status until the run settles."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from seecodes_conformance.flows._base import StepsBase
from seecodes_conformance.http import PermitSession, is_throttled, json_or_none, new_http_client
from seecodes_conformance.oracle import assert_success, fail, throttled
from seecodes_conformance.outcomes import not_verified
from seecodes_conformance.redaction import register_credentials

SETTLED = frozenset({"succeeded", "failed"})
FIRST_POLL_INTERVAL_S = 0.5
MAX_POLL_INTERVAL_S = 5.0
RUN_STATUSES = ("queued", "in_process", "processing_remote", "succeeded", "failed")

SAMPLE_LIST_MD = b"# Tasks\n\n- [ ] Summarise the change log for the release notes\n"


def settle_wait_hint(waited: float) -> str:
    """What a user can change when a run outlasts the harness's wait of ``waited`` seconds."""
    return (
        f"a --run-wait above {waited:g} s, or a profile that waits longer (nightly and certify: "
        "900 s); or a target whose runs settle sooner"
    )


@dataclass(frozen=True)
class Run:
    run_id: str
    uploads: dict[str, str]
    permit: PermitSession
    # The init answer, for a test that judges it later than it was made (runs started early).
    init_response: httpx.Response | None = field(default=None, compare=False, repr=False)


class RunSteps(StepsBase):
    """A run's lifecycle as the IDE drives it."""

    def init_run(self, permit: PermitSession, files: list[str] | None = None) -> Run:
        body: dict[str, Any] = {"model": "strict light"}
        if files is not None:
            body["files"] = files
        response = permit.post("/v1/tasks/init", json=body)
        data = assert_success(response, "RUN-INIT", what="initialising a run")
        uploads = data.get("uploads") if isinstance(data, dict) else None
        run_id = data.get("runId") if isinstance(data, dict) else None
        if not isinstance(run_id, str) or not isinstance(uploads, dict):
            fail("RUN-INIT", "init answered 2xx without runId and uploads", [response])
        register_credentials(data)
        return Run(run_id, {str(k): str(v) for k, v in uploads.items()}, permit, response)

    def upload(self, url: str, content: bytes) -> httpx.Response:
        """PUT to a presigned target, as object stores take uploads; no harness credentials.

        Through the harness's own client, so the upload counts against the budget and rate,
        is sent again if throttled, and shows as evidence. A link whose origin cannot be reached
        (DNS, refused, TLS) is the target's fault: it handed the link out; one line says so.
        """
        parsed = httpx.URL(url)
        origin = f"{parsed.scheme}://{parsed.netloc.decode('ascii', 'replace')}"
        with new_http_client(
            origin, timeout=self.settings.request_timeout, tls=self.settings.tls
        ) as client:
            try:
                return client.put(url, content=content)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                fail(
                    "RUN-INIT",
                    f"the upload link the target handed out cannot be reached at {origin}: "
                    f"{type(exc).__name__}: {exc}",
                )

    def upload_all(self, run: Run, content: bytes = SAMPLE_LIST_MD) -> None:
        for name, url in run.uploads.items():
            response = self.upload(url, content)
            if is_throttled(response.status_code, response.headers):
                throttled(response, "RUN-INIT", f"the presigned upload of {name}")
            if not response.is_success:
                fail(
                    "RUN-INIT",
                    f"presigned upload of {name} answered {response.status_code}",
                    [response],
                )

    def start_run(self, permit: PermitSession, run_id: str, **extra: Any) -> httpx.Response:
        body = {"model": "strict light", "userPrompt": "generate change log", **extra}
        return permit.post(f"/v1/tasks/{run_id}/start", json=body)

    def started_run(self, permit: PermitSession) -> Run:
        """Init, upload list.md and start: a run that the target has queued."""
        run = self.init_run(permit)
        self.upload_all(run)
        assert_success(self.start_run(permit, run.run_id), "RUN-START", what="starting a run")
        return run

    def poll_statuses(
        self,
        permit: PermitSession,
        run_id: str,
        timeout: float | None = None,
        interval: float = FIRST_POLL_INTERVAL_S,
        *,
        invariant: str = "RUN-STATUS",
    ) -> list[str]:
        """Poll ``GET /v1/tasks/{runId}`` until the run settles; every status seen, in order.

        ``invariant`` is the check that needs the settled run. The protocol bounds no run's
        duration ("polled until the run settles"), so a run still unsettled after ``timeout``
        (default: --run-wait) makes that check not verified, never a violation. Polling is
        polite: the pause grows from ``interval`` by half each time, up to 5 s (a run that
        takes minutes is asked about every 5 s, not ten times a second).
        """
        if timeout is None:
            timeout = self.settings.run_wait
        seen: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            response = permit.get(f"/v1/tasks/{run_id}")
            if is_throttled(response.status_code, response.headers):
                throttled(response, invariant, "polling a run until it settles")
            assert_success(response, "RUN-STATUS", what="polling a run")
            status = self.run_status(response)
            if status not in RUN_STATUSES:
                fail("RUN-STATUS", f"run status {status!r} is not a documented status", [response])
            seen.append(str(status))
            if status in SETTLED:
                return seen
            if time.monotonic() > deadline:
                not_verified(
                    invariant,
                    "timeout",
                    f"run {run_id} did not settle within {timeout:g} s (statuses seen: "
                    f"{', '.join(dict.fromkeys(seen))})",
                    settle_wait_hint(timeout),
                )
            time.sleep(min(interval, max(0.0, deadline - time.monotonic()) + 0.01))
            interval = min(interval * 1.5, MAX_POLL_INTERVAL_S)

    # -- observed without judging (fixtures record, tests judge) ----------------------------
    @staticmethod
    def run_status(response: httpx.Response) -> str | None:
        """``status.status`` of a ``GET /v1/tasks/{runId}`` answer, or None."""
        body = json_or_none(response)
        status = body.get("status") if isinstance(body, dict) else None
        value = status.get("status") if isinstance(status, dict) else None
        return value if isinstance(value, str) else None

    def run_history(
        self,
        permit: PermitSession,
        run_id: str,
        *,
        timeout: float | None = None,
        interval: float = 0.02,
        polls_after_settled: int = 5,
    ) -> list[httpx.Response]:
        """Every status answer until the run settles, then ``polls_after_settled`` more.

        Stops early at a non-2xx answer or an undocumented status, and at ``timeout``
        (default: --run-wait) if the run never settles; the caller judges the history. The
        polls after settling catch a status that moves backwards.
        """
        history: list[httpx.Response] = []
        deadline = time.monotonic() + (self.settings.run_wait if timeout is None else timeout)
        remaining: int | None = None
        while True:
            response = permit.get(f"/v1/tasks/{run_id}")
            history.append(response)
            status = self.run_status(response)
            if not response.is_success or status not in RUN_STATUSES:
                return history
            if remaining is None and status in SETTLED:
                remaining = polls_after_settled
            if remaining is not None:
                if remaining <= 0:
                    return history
                remaining -= 1
            elif time.monotonic() > deadline:
                return history
            time.sleep(interval)
