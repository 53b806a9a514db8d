"""The target (or a gateway in front of it) saying "not now": 429, or 503 with Retry-After.

Such an answer is never a rejection and never a violation: it says nothing about the protocol.
A request that consumes nothing (no request key, no launch code) is simply sent again, politely:
after ``Retry-After`` when the answer gives one, otherwise after a backoff from 0.5 s doubling
to 5 s, for at most ``Patience.total_s`` seconds. Every attempt is a request: it is counted
against the budget and paced to the rate ceiling like any other.

A request that carries a single-use credential is not sent again: the throttled attempt may have
used it up, so the check that sent it is not verified (the oracle says so) and the session
bootstraps a new key before its next call.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx

from seecodes_conformance.http._headers import REQUEST_KEY_HEADER

__all__ = [
    "CONSUMING_PATHS",
    "Patience",
    "PoliteTransport",
    "consumes_credential",
    "is_refusal",
    "is_throttled",
    "retry_after_s",
]

CONSUMING_PATHS = ("/v1/security/launch-exchange",)  # the body carries a single-use code
FIRST_BACKOFF_S = 0.5
MAX_BACKOFF_S = 5.0
MAX_REFUSALS = 3  # a connection reset before any answer, sent again at most this often


def is_refusal(exc: Exception) -> bool:
    """A connection the target (or a balancer) reset or closed before answering anything.

    Not a closed port ("connection refused" at connect): that is an unreachable target, and
    the run's probe says so at once instead of waiting for retries.
    """
    if isinstance(exc, httpx.ConnectError):
        return "reset" in str(exc).lower()
    if isinstance(exc, httpx.ReadError | httpx.WriteError):
        return True
    return isinstance(exc, httpx.RemoteProtocolError) and "without sending" in str(exc)


@dataclass(frozen=True)
class Patience:
    """How long to keep asking a throttling target before the check is not verified."""

    total_s: float = 60.0  # across all attempts of one request
    max_retry_after_s: float = 30.0  # a longer Retry-After is not waited for


def is_throttled(status: int, headers: Mapping[str, str] | httpx.Headers) -> bool:
    """429, or 503 with Retry-After: the target asks the caller to come back later."""
    if status == 429:
        return True
    return status == 503 and _header(headers, "retry-after") is not None


def retry_after_s(
    headers: Mapping[str, str] | httpx.Headers, now: float | None = None
) -> float | None:
    """Seconds the answer asks to wait (delta-seconds or an HTTP date), None if it does not say."""
    value = _header(headers, "retry-after")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def consumes_credential(request: httpx.Request) -> bool:
    """Does sending this request possibly use up a single-use credential?"""
    return REQUEST_KEY_HEADER.lower() in {k.lower() for k in request.headers} or (
        request.method == "POST" and request.url.path.endswith(CONSUMING_PATHS)
    )


def _header(headers: Mapping[str, str] | httpx.Headers, name: str) -> str | None:
    if isinstance(headers, httpx.Headers):
        return headers.get(name)
    return next((v for k, v in headers.items() if k.lower() == name), None)


class PoliteTransport(httpx.BaseTransport):
    """Sends again what a throttling target refused, when sending again consumes nothing.

    A connection reset before any answer is sent again the same way, at most
    ``MAX_REFUSALS`` times. ``count`` is called before each extra attempt, so the budget and
    rate see every request.
    """

    def __init__(
        self,
        inner: httpx.BaseTransport,
        count: Callable[[httpx.Request], None],
        patience: Callable[[], Patience],
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.inner = inner
        self.count = count
        self.patience = patience
        self.sleep = sleep
        self.throttled = 0  # throttled answers seen (retried or handed back)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        patience = self.patience()
        deadline = time.monotonic() + patience.total_s
        backoff = FIRST_BACKOFF_S
        refusals = 0
        while True:
            try:
                response = self.inner.handle_request(request)
            except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                # Refused before any answer: sending again is safe when nothing is consumed.
                refusals += 1
                if not is_refusal(exc) or consumes_credential(request):
                    raise
                if refusals > MAX_REFUSALS or time.monotonic() + backoff > deadline:
                    raise
                self.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
                self.count(request)
                continue
            if not is_throttled(response.status_code, response.headers):
                return response
            self.throttled += 1
            asked = retry_after_s(response.headers)
            wait = backoff if asked is None else asked
            if (
                consumes_credential(request)
                or wait > patience.max_retry_after_s
                or time.monotonic() + wait > deadline
            ):
                return response
            response.close()
            self.sleep(wait)
            backoff = min(backoff * 2, MAX_BACKOFF_S)
            self.count(request)

    def close(self) -> None:
        self.inner.close()
