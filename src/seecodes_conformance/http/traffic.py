"""Staging safety for every request the harness sends: a budget, a rate ceiling, bounded bodies.

``new_http_client`` routes each request through ``TRAFFIC``: the request hook counts it against
the total budget and spaces it to the rate ceiling; the transport caps the response body and
bounds the time spent reading it, so a target that answers 50 MB or drips bytes forever fails
the test with a clear message instead of exhausting memory or hanging the run. Code that sends
requests outside httpx (synchronized bursts) calls ``TRAFFIC.reserve(n)`` before sending.

Configured once per process from the settings; with xdist each worker gets an equal share of the
budget and of the rate, so the run as a whole stays within both.
"""

from __future__ import annotations

import math
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx

from seecodes_conformance.http.throttling import Patience, PoliteTransport

DEFAULT_MAX_RESPONSE_BYTES = 8 * 1024 * 1024


class RequestBudgetExceeded(RuntimeError):
    """The run has sent as many requests as ``--request-budget`` allows; nothing more is sent."""


class ResponseTooLarge(httpx.RemoteProtocolError):
    """The target answered with a body larger than ``--max-response-bytes``."""


class ResponseTooSlow(httpx.ReadTimeout):
    """The target kept sending a body past the request timeout."""


@dataclass(frozen=True)
class Policy:
    budget: int | None = None  # requests this process may send; None: no limit
    rate: float | None = None  # requests per second; None: no limit
    max_body: int = DEFAULT_MAX_RESPONSE_BYTES
    # How long a throttled request that consumes nothing is sent again.
    patience: Patience = field(default_factory=Patience)


class Traffic:
    """Counts, paces and bounds this process's requests to the target."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.policy = Policy()
        self.sent = 0
        self.refused = 0
        self._next_slot = 0.0

    def configure(self, policy: Policy) -> None:
        with self._lock:
            self.policy = policy

    @staticmethod
    def share(total: float, parts: int) -> float:
        """One process's share of a run-wide limit (xdist splits it evenly)."""
        return total / max(parts, 1)

    def reserve(self, n: int = 1, what: str = "a request") -> None:
        """Count ``n`` requests about to be sent; wait for the rate ceiling; refuse past budget."""
        with self._lock:
            budget = self.policy.budget
            if budget is not None and self.sent + n > budget:
                self.refused += n
                raise RequestBudgetExceeded(
                    f"request budget exhausted: this run may send {budget} requests to the target "
                    f"(--request-budget, per process) and has sent {self.sent}; {what} was not "
                    "sent, and no further request will be"
                )
            self.sent += n
            wait = 0.0
            if self.policy.rate:
                now = time.monotonic()
                start = max(now, self._next_slot)
                self._next_slot = start + n / self.policy.rate
                wait = start - now
        if wait > 0:
            time.sleep(wait)

    # -- httpx integration ------------------------------------------------------------------
    def on_request(self, request: httpx.Request) -> None:
        self.reserve(1, f"{request.method} {request.url.path}")

    def on_response(self, response: httpx.Response) -> None:
        """Read the (capped) body now, so a failure names the cap, not a consumed stream."""
        response.read()

    def transport(
        self, *, verify: ssl.SSLContext | bool = True, deadline: float | None = None
    ) -> httpx.BaseTransport:
        """A transport whose responses must arrive whole within ``deadline`` seconds, and which
        sends again, politely, what a throttling target asked to send later."""
        bounded = BoundedTransport(httpx.HTTPTransport(verify=verify), self, deadline)
        return PoliteTransport(
            bounded,
            count=lambda request: self.reserve(1, f"{request.method} {request.url.path} again"),
            patience=lambda: self.policy.patience,
        )


class BoundedTransport(httpx.BaseTransport):
    """Wraps a transport so every response body is size-capped and read within a deadline."""

    def __init__(
        self, inner: httpx.BaseTransport, traffic: Traffic, deadline: float | None = None
    ) -> None:
        self.inner = inner
        self.traffic = traffic
        self.deadline = deadline

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        policy = self.traffic.policy
        started = time.monotonic()
        response = self.inner.handle_request(request)
        what = f"{request.method} {request.url}"
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > policy.max_body:
            response.close()
            raise ResponseTooLarge(
                _too_large(what, policy.max_body, int(declared)), request=request
            )
        deadline = started + self.deadline if self.deadline else math.inf
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_BoundedStream(response, request, policy.max_body, deadline, what),
            extensions=response.extensions,
            request=request,
        )

    def close(self) -> None:
        self.inner.close()


class _BoundedStream(httpx.SyncByteStream):
    def __init__(
        self,
        response: httpx.Response,
        request: httpx.Request,
        limit: int,
        deadline: float,
        what: str,
    ) -> None:
        self.response = response
        self.request = request
        self.limit = limit
        self.deadline = deadline
        self.what = what

    def __iter__(self) -> Iterator[bytes]:
        total = 0
        stream = self.response.stream
        assert isinstance(stream, httpx.SyncByteStream)
        for chunk in stream:
            total += len(chunk)
            if total > self.limit:
                raise ResponseTooLarge(
                    _too_large(self.what, self.limit, None), request=self.request
                )
            if time.monotonic() > self.deadline:
                raise ResponseTooSlow(
                    f"{self.what}: the target was still sending the response body when the "
                    "request timeout ran out (--request-timeout)",
                    request=self.request,
                )
            yield chunk

    def close(self) -> None:
        self.response.close()


def _too_large(what: str, limit: int, declared: int | None) -> str:
    size = f"declares {declared} bytes" if declared is not None else f"sent more than {limit} bytes"
    return (
        f"{what}: the response body {size}, over the limit of {limit} "
        "(--max-response-bytes); reading stopped there"
    )


TRAFFIC = Traffic()
