"""Burst requests, responses and results: the public data of a race burst."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

H1_LAST_BYTE = "h1-last-byte"
H1_LAST_HEADER_BYTE = "h1-last-header-byte"
H2_SINGLE_PACKET = "h2-single-packet"
#: Accepted values of ``send_burst(technique=...)``; "h1"/"h2" are short aliases.
TECHNIQUES = ("auto", "h1", H1_LAST_BYTE, H1_LAST_HEADER_BYTE, "h2", H2_SINGLE_PACKET)

#: Payload one TCP segment carries on an ordinary 1500-byte-MTU path, with room for options.
PACKET_BYTES = 1400
H2_FINAL_FRAME_BYTES = 10  # a DATA frame with the last body byte: 9-byte header + 1
TLS_RECORD_OVERHEAD = 29  # worst case of TLS 1.2 AES-GCM; TLS 1.3 needs 22
RECV_BYTES = 65536
H2_WINDOW = 2**24  # our receive window, so responses never stall on flow control
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
H2_DROPPED_HEADERS = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"}
)


class BurstError(RuntimeError):
    """The burst could not be set up (connect, TLS, warm-up, protocol); nothing was released."""


@dataclass(frozen=True, repr=False)
class PreparedRequest:
    """One request of a burst; ``path`` (with its query) is appended to the base URL's path."""

    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def __repr__(self) -> str:
        # Header values, bodies and queries may carry credentials.
        return (
            f"PreparedRequest({self.method} {self.path.split('?', 1)[0]}, "
            f"headers={sorted(self.headers)}, body=<{len(self.body)} bytes>)"
        )


@dataclass(frozen=True, repr=False)
class BurstResponse:
    """A response of a burst; ``status`` is 0 and ``error`` set on a connection-level failure."""

    status: int
    headers: list[tuple[str, str]]  # names lower-cased, in arrival order
    body: bytes
    sent_at: float  # perf_counter() at the release (at the first send if answered before it)
    received_at: float  # perf_counter() when the response was complete (or failed)
    error: str | None = None

    def header(self, name: str) -> str | None:
        """First value of a header, case-insensitively."""
        wanted = name.lower()
        return next((v for n, v in self.headers if n == wanted), None)

    def json(self) -> Any:
        return json.loads(self.body)

    def __repr__(self) -> str:
        names = [n for n, _ in self.headers]
        return (
            f"BurstResponse(status={self.status}, headers={names}, "
            f"body=<{len(self.body)} bytes>, elapsed_s={self.received_at - self.sent_at:.6f}, "
            f"error={self.error!r})"
        )


@dataclass
class PartialResponse:
    """One request's response as it arrives, and how it ended: what the HTTP/1.1 connection and
    the HTTP/2 stream both accumulate, so a timeout or a reset reads the same from either."""

    status: int = 0
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)
    started: bool = False
    done: bool = False
    error: str | None = None
    sent_at: float = 0.0
    received_at: float = 0.0

    @property
    def pending(self) -> bool:
        return not self.done and self.error is None

    def fail(self, reason: str) -> None:
        if self.pending:
            self.error = reason
            self.received_at = time.perf_counter()

    def response(self) -> BurstResponse:
        if self.done:
            return BurstResponse(
                self.status, self.headers, bytes(self.body), self.sent_at, self.received_at
            )
        return BurstResponse(
            0,
            self.headers,
            bytes(self.body),
            self.sent_at,
            self.received_at or time.perf_counter(),
            self.error or "no response",
        )


@dataclass(frozen=True, repr=False)
class BurstResult:
    """Every response, in request order, plus how precisely the burst was released."""

    technique: str  # "h1-last-byte" | "h1-last-header-byte" | "h2-single-packet"
    responses: list[BurstResponse]
    release_spread_s: float  # start of the first final write to the end of the last
    groups: int  # > 1 when split into gated groups (explained in ``note``)
    note: str
    early: int = 0  # responses that began before the release: those requests did not race

    @property
    def statuses(self) -> list[int]:
        return [r.status for r in self.responses]

    def __repr__(self) -> str:
        counts: dict[int, int] = {}
        for status in self.statuses:
            counts[status] = counts.get(status, 0) + 1
        errors = sum(1 for r in self.responses if r.error)
        return (
            f"BurstResult(technique={self.technique!r}, n={len(self.responses)}, "
            f"statuses={dict(sorted(counts.items()))}, errors={errors}, "
            f"release_spread_us={self.release_spread_s * 1e6:.0f}, groups={self.groups}, "
            f"early={self.early}, "
            f"note={self.note!r})"
        )


def encode(value: str, what: str) -> bytes:
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError(f"{what} is not latin-1 encodable") from None


def checked_headers(index: int, req: PreparedRequest) -> list[tuple[str, str]]:
    """User headers minus framing headers, which the engine sets itself."""
    out = []
    for name, value in req.headers.items():
        lname = name.lower()
        if lname == "transfer-encoding":
            raise ValueError(
                f"request {index}: Transfer-Encoding is not supported; bodies use Content-Length"
            )
        if lname == "content-length":
            if value.strip() != str(len(req.body)):
                raise ValueError(f"request {index}: Content-Length does not match the body")
            continue
        out.append((name, value))
    return out


def needs_length(req: PreparedRequest) -> bool:
    return bool(req.body) or req.method.upper() in BODY_METHODS
