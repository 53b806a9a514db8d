"""Request/response capture for failure messages and reports.

Every exchange the harness's clients make is recorded (bounded) and rendered only through the
redaction function, so evidence can be printed or stored without leaking a credential.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections import deque
from dataclasses import dataclass

import httpx

from seecodes_conformance.redaction import REGISTRY, SecretRegistry

BODY_LIMIT = 2000
_SENSITIVE_HEADERS = {"authorization", "x-seecodes-jira-request-key", "x-seecodes-next-request-key",
                      "cookie", "set-cookie"}  # fmt: skip


@dataclass(frozen=True)
class Exchange:
    method: str
    url: str
    request_headers: tuple[tuple[str, str], ...]
    request_body: bytes
    status: int
    response_headers: tuple[tuple[str, str], ...]
    response_body: bytes

    def render(self, secrets: SecretRegistry = REGISTRY) -> str:
        """A short, redacted, human-readable form of the exchange."""
        lines = [f"> {self.method} {self.url}"]
        lines += [
            f"> {k}: {_header_value(k, v)}"
            for k, v in self.request_headers
            if k.lower() not in {"user-agent", "accept-encoding", "connection", "accept"}
        ]
        if self.request_body:
            lines.append("> " + _snippet(self.request_body))
        lines.append(f"< {self.status}")
        lines += [
            f"< {k}: {_header_value(k, v)}"
            for k, v in self.response_headers
            if k.lower() in _SENSITIVE_HEADERS or k.lower() == "content-type"
        ]
        if self.response_body:
            lines.append("< " + _snippet(self.response_body))
        return secrets.redact("\n".join(lines))

    def as_curl(self, secrets: SecretRegistry = REGISTRY) -> str:
        """A reproduction command; credentials appear only as redaction markers."""
        parts = [f"curl -sS -X {self.method} '{self.url}'"]
        parts += [
            f"-H '{k}: {_header_value(k, v)}'"
            for k, v in self.request_headers
            if k.lower() in _SENSITIVE_HEADERS or k.lower() == "content-type"
        ]
        if self.request_body:
            parts.append(
                "--data-binary '" + _snippet(self.request_body).replace("'", "'\\''") + "'"
            )
        return secrets.redact(" ".join(parts))


def _header_value(name: str, value: str) -> str:
    # Registered secrets are replaced by markers in render(); unregistered sensitive values are
    # replaced here so a credential the harness never saw minted is still never shown.
    if name.lower() in _SENSITIVE_HEADERS and value not in REGISTRY:
        if value.lower().startswith("bearer "):
            return "Bearer " + (value[7:] if value[7:] in REGISTRY else "[unregistered]")
        return "[unregistered]"
    return value


def _snippet(body: bytes) -> str:
    text = body[:BODY_LIMIT].decode("utf-8", errors="replace")
    with contextlib.suppress(ValueError, RecursionError):
        text = json.dumps(json.loads(text), separators=(",", ":"))[:BODY_LIMIT]
    return text + ("…" if len(body) > BODY_LIMIT else "")


def exchange_of(response: httpx.Response, *, body_limit: int | None = None) -> Exchange:
    """The exchange behind ``response``, reading its body if it was not read yet."""
    request = response.request
    try:
        request_body = bytes(request.content)
    except httpx.RequestNotRead:
        request_body = b"(streamed)"
    try:
        body = response.read()
    except httpx.HTTPError:
        body = b""
    return Exchange(
        method=request.method,
        url=str(request.url),
        request_headers=tuple(request.headers.items()),
        request_body=request_body,
        status=response.status_code,
        response_headers=tuple(response.headers.items()),
        response_body=body if body_limit is None else body[:body_limit],
    )


class Transcript:
    """The last exchanges of this process, plus a per-test buffer for reports."""

    def __init__(self, size: int = 200) -> None:
        self._lock = threading.Lock()
        self.recent: deque[Exchange] = deque(maxlen=size)
        self.count = 0
        self._touched: set[tuple[str, str]] = set()  # (method, path) since the last reset

    def record(self, response: httpx.Response) -> None:
        exchange = exchange_of(response, body_limit=BODY_LIMIT * 2)
        with self._lock:
            self.recent.append(exchange)
            self.count += 1
            self._touched.add((response.request.method, response.request.url.path))

    def touch(self, method: str, path: str) -> None:
        """A request answered outside httpx (a race burst's raw sockets)."""
        with self._lock:
            self._touched.add((method.upper(), path.split("?", 1)[0]))

    def touched(self, *, reset: bool = False) -> set[tuple[str, str]]:
        """Every (method, path) answered since the last reset (however many exchanges)."""
        with self._lock:
            touched = set(self._touched)
            if reset:
                self._touched.clear()
            return touched

    def last(self, n: int = 5) -> list[Exchange]:
        with self._lock:
            return list(self.recent)[-n:] if n > 0 else []

    def since(self, count: int) -> list[Exchange]:
        """The exchanges recorded after ``count`` was read (as many as are still kept)."""
        with self._lock:
            return list(self.recent)[-(self.count - count) :] if self.count > count else []


TRANSCRIPT = Transcript()
