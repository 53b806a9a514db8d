"""Synchronized request bursts: make N requests reach the server's handlers together.

Firing requests with ``asyncio.gather`` spreads them over milliseconds, so a check-then-act race
with a narrow window is missed most of the time (7-30 % detection at N=20 on loopback, against
94-100 % for the techniques here; see benchmarks/race_precision.py). Two techniques close that
gap by sending each request *almost* completely, pausing so the server has digested every
prefix, and then releasing the withheld remainders together:

* ``h1-last-byte``: N warmed HTTP/1.1 connections; each request goes out minus its last body byte,
  then all last bytes are written in one tight loop. Works against any HTTP/1.1 server.
  A bodiless request withholds the final ``\\n`` of its header block instead
  (``h1-last-header-byte``; weaker, since parsing and routing then happen after the release).
* ``h2-single-packet``: one HTTP/2 connection (h2c prior knowledge or TLS+ALPN); every stream's
  HEADERS, then the DATA of streams not already answered, go out without END_STREAM; then every
  open stream's empty END_STREAM DATA frame leaves in a single ``send()``, i.e. one packet.
  Bursts larger than one connection may carry (SETTINGS_MAX_CONCURRENT_STREAMS) or one packet
  may hold are split into gated groups, one per connection, released in one loop.

Withholding only synchronizes handlers that wait for the complete request; a handler that answers
on headers alone (a GET, a handler that never reads the body) starts before the release. Over h2
such handlers are not synchronized at all; over HTTP/1.1 ``h1-last-header-byte`` covers them.

The API is synchronous (sockets + selectors) so it can be called from tests, threads or anywhere
else without an event loop. It never logs; reprs show header names and body sizes, never values.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import h11

from seecodes_conformance.traffic import TRAFFIC

__all__ = [
    "H1_LAST_BYTE",
    "H1_LAST_HEADER_BYTE",
    "H2_SINGLE_PACKET",
    "TECHNIQUES",
    "BurstError",
    "BurstResponse",
    "BurstResult",
    "PreparedRequest",
    "forget_protocol_cache",
    "send_burst",
    "speaks_h2",
]

H1_LAST_BYTE = "h1-last-byte"
H1_LAST_HEADER_BYTE = "h1-last-header-byte"
H2_SINGLE_PACKET = "h2-single-packet"
#: Accepted values of ``send_burst(technique=...)``; "h1"/"h2" are short aliases.
TECHNIQUES = ("auto", "h1", H1_LAST_BYTE, H1_LAST_HEADER_BYTE, "h2", H2_SINGLE_PACKET)

#: Payload one TCP segment carries on an ordinary 1500-byte-MTU path, with room for options.
PACKET_BYTES = 1400
_H2_FINAL_FRAME_BYTES = 9  # an empty DATA frame is just its 9-byte frame header
_TLS_RECORD_OVERHEAD = 29  # worst case of TLS 1.2 AES-GCM; TLS 1.3 needs 22
_RECV_BYTES = 65536
_H2_WINDOW = 2**24  # our receive window, so responses never stall on flow control
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_H2_DROPPED_HEADERS = frozenset(
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


@dataclass(frozen=True, repr=False)
class BurstResult:
    """Every response, in request order, plus how precisely the burst was released."""

    technique: str  # "h1-last-byte" | "h1-last-header-byte" | "h2-single-packet"
    responses: list[BurstResponse]
    release_spread_s: float  # start of the first final write to the end of the last
    groups: int  # > 1 when split into gated groups (explained in ``note``)
    note: str

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
            f"note={self.note!r})"
        )


# --------------------------------------------------------------------------- target and sockets


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str
    port: int
    base_path: str

    @property
    def host_for_url(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host

    @property
    def origin(self) -> str:
        # Never includes userinfo from the base URL.
        return f"{self.scheme}://{self.host_for_url}:{self.port}"

    @property
    def authority(self) -> str:
        default = 443 if self.scheme == "https" else 80
        return self.host_for_url if self.port == default else f"{self.host_for_url}:{self.port}"

    def target_path(self, path: str) -> str:
        if not path.startswith("/"):
            path = "/" + path
        return self.base_path + path


def _parse_target(base_url: str) -> _Target:
    parts = urlsplit(base_url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"base_url must be http:// or https://, got scheme {scheme!r}")
    if not parts.hostname:
        raise ValueError("base_url has no host")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise ValueError("base_url has an invalid port") from None
    return _Target(scheme, parts.hostname, port, parts.path.rstrip("/"))


@functools.lru_cache(maxsize=16)
def _ssl_context(verify_tls: bool | str, alpn: tuple[str, ...]) -> ssl.SSLContext:
    if verify_tls is False:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif verify_tls is True:
        ctx = ssl.create_default_context()
    else:
        ctx = ssl.create_default_context(cafile=verify_tls)
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    return ctx


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _connect(
    target: _Target, timeout: float, verify_tls: bool | str, alpn: tuple[str, ...]
) -> socket.socket:
    try:
        sock = socket.create_connection((target.host, target.port), timeout=timeout)
    except OSError as exc:
        raise BurstError(f"cannot connect to {target.origin}: {_reason(exc)}") from None
    # Without NODELAY, Nagle holds some 1-byte releases until an ACK arrives (ms-wide tails).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if target.scheme == "https":
        try:
            sock = _ssl_context(verify_tls, alpn).wrap_socket(sock, server_hostname=target.host)
        except (OSError, ssl.SSLError) as exc:
            sock.close()
            raise BurstError(f"TLS handshake with {target.origin} failed: {_reason(exc)}") from None
    return sock


def _recv(sock: socket.socket) -> bytes:
    """Everything readable now; TLS may hold decrypted bytes the selector cannot see."""
    data = sock.recv(_RECV_BYTES)
    if data and isinstance(sock, ssl.SSLSocket):
        while sock.pending():
            more = sock.recv(_RECV_BYTES)
            if not more:
                break
            data += more
    return data


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.close()


class _Reader(Protocol):
    sock: socket.socket

    @property
    def waiting(self) -> bool: ...

    def on_readable(self) -> None: ...

    def fail_pending(self, reason: str) -> None: ...


def _pump(readers: Sequence[_Reader], deadline: float, *, poll_only: bool = False) -> None:
    """Read every connection until nothing is awaited (or, with poll_only, nothing is ready)."""
    sel = selectors.DefaultSelector()
    try:
        for r in readers:
            if r.waiting:
                sel.register(r.sock, selectors.EVENT_READ, r)
        rounds = 0
        while sel.get_map():
            if poll_only:
                rounds += 1
                if rounds > 64:
                    break
                wait = 0.0
            else:
                wait = deadline - time.perf_counter()
                if wait <= 0:
                    break
            ready = sel.select(wait)
            if not ready and poll_only:
                break
            for key, _ in ready:
                reader: _Reader = key.data
                reader.on_readable()
                if not reader.waiting:
                    sel.unregister(key.fileobj)
    finally:
        sel.close()
    if not poll_only:
        for r in readers:
            if r.waiting:
                r.fail_pending("timed out waiting for the response")


# --------------------------------------------------------------------------- protocol probe

_H2_CACHE: dict[tuple[str, str, int], bool] = {}
_H2_CACHE_LOCK = threading.Lock()


def speaks_h2(base_url: str, timeout: float = 3.0, *, verify_tls: bool | str = True) -> bool:
    """Whether the origin speaks HTTP/2: h2c prior knowledge for http, ALPN "h2" for https.

    Cached per origin. Raises BurstError when the origin cannot be reached at all, since an
    unreachable target is not an HTTP/1.1 target.
    """
    target = _parse_target(base_url)
    key = (target.scheme, target.host, target.port)
    with _H2_CACHE_LOCK:
        if key in _H2_CACHE:
            return _H2_CACHE[key]
    result = _probe_h2(target, timeout, verify_tls)
    with _H2_CACHE_LOCK:
        _H2_CACHE[key] = result
    return result


def forget_protocol_cache() -> None:
    """Drop cached speaks_h2 answers (a target restarted with other protocols)."""
    with _H2_CACHE_LOCK:
        _H2_CACHE.clear()


def _probe_h2(target: _Target, timeout: float, verify_tls: bool | str) -> bool:
    if target.scheme == "https":
        sock = _connect(target, timeout, verify_tls, ("h2", "http/1.1"))
        try:
            return isinstance(sock, ssl.SSLSocket) and sock.selected_alpn_protocol() == "h2"
        finally:
            _close(sock)
    sock = _connect(target, timeout, verify_tls, ())
    proto = h2.connection.H2Connection(
        h2.config.H2Configuration(client_side=True, header_encoding=None)
    )
    proto.initiate_connection()
    deadline = time.perf_counter() + timeout
    try:
        sock.sendall(proto.data_to_send())
        while (remaining := deadline - time.perf_counter()) > 0:
            sock.settimeout(remaining)
            data = sock.recv(_RECV_BYTES)
            if not data:
                return False
            try:
                events = proto.receive_data(data)
            except h2.exceptions.ProtocolError:
                return False  # e.g. "HTTP/1.1 400 Bad Request" parsed as a frame
            if any(isinstance(e, h2.events.RemoteSettingsChanged) for e in events):
                proto.close_connection()
                sock.sendall(proto.data_to_send())
                return True
        return False
    except OSError:
        return False
    finally:
        _close(sock)


# --------------------------------------------------------------------------- requests


def _encode(value: str, what: str) -> bytes:
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError(f"{what} is not latin-1 encodable") from None


def _checked_headers(index: int, req: PreparedRequest) -> list[tuple[str, str]]:
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


def _needs_length(req: PreparedRequest) -> bool:
    return bool(req.body) or req.method.upper() in _BODY_METHODS


# --------------------------------------------------------------------------- HTTP/1.1


class _H1Conn:
    """One HTTP/1.1 connection carrying one request at a time, parsed with h11."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.proto = h11.Connection(h11.CLIENT)
        self.final = b""
        self.sent_at = 0.0
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.headers: list[tuple[str, str]] = []
        self.body = bytearray()
        self.started = False
        self.done = False
        self.error: str | None = None
        self.received_at = 0.0
        self._eof = False

    @property
    def waiting(self) -> bool:
        return not self.done and self.error is None

    def serialize(self, index: int, target: _Target, req: PreparedRequest) -> tuple[bytes, bytes]:
        """(header block, body) as h11 frames them; h11 also learns what response to expect."""
        headers = _checked_headers(index, req)
        if not any(n.lower() == "host" for n, _ in headers):
            headers.insert(0, ("Host", target.authority))
        if _needs_length(req):
            headers.append(("Content-Length", str(len(req.body))))
        raw = [
            (
                _encode(n, f"request {index}: a header name"),
                _encode(v, f"request {index}: the value of header {n!r}"),
            )
            for n, v in headers
        ]
        try:
            head = self.proto.send(
                h11.Request(
                    method=_encode(req.method, "method"),
                    target=_encode(target.target_path(req.path), f"request {index}: the path"),
                    headers=raw,
                )
            )
            body = self.proto.send(h11.Data(data=req.body)) if req.body else b""
            body += self.proto.send(h11.EndOfMessage()) or b""
        except h11.LocalProtocolError:
            # h11's message quotes the offending value, which may be a credential.
            raise ValueError(
                f"request {index}: invalid HTTP/1.1 request (method, path or a header)"
            ) from None
        return head or b"", body

    def next_cycle(self) -> bool:
        """Reuse after a complete exchange; False when either side must close."""
        if self.proto.our_state is h11.DONE and self.proto.their_state is h11.DONE:
            self.proto.start_next_cycle()
            self._reset()
            return True
        return False

    def on_readable(self) -> None:
        try:
            data = _recv(self.sock)
        except OSError as exc:
            # A reset may follow a complete close-delimited response; parse what arrived.
            self._feed(b"")
            if self.waiting:
                self.fail_pending(f"connection error: {_reason(exc)}")
            return
        self._feed(data)

    def _feed(self, data: bytes) -> None:
        if self._eof:
            return
        self._eof = not data
        try:
            self.proto.receive_data(data)
            while True:
                event = self.proto.next_event()
                if event is h11.NEED_DATA or event is h11.PAUSED:
                    break
                if isinstance(event, h11.Response):
                    self.started = True
                    self.status = event.status_code
                    self.headers = [
                        (n.decode("latin-1"), v.decode("latin-1")) for n, v in event.headers
                    ]
                elif isinstance(event, h11.Data):
                    self.started = True
                    self.body += event.data
                elif isinstance(event, h11.EndOfMessage):
                    self.headers += [
                        (n.decode("latin-1"), v.decode("latin-1")) for n, v in event.headers
                    ]
                    self.done = True
                    self.received_at = time.perf_counter()
                    break
                elif isinstance(event, h11.ConnectionClosed):
                    break
        except h11.RemoteProtocolError:
            if self._eof:
                self.fail_pending("connection closed before the response was complete")
            else:
                self.fail_pending("malformed HTTP/1.1 response")
            return
        if self._eof and self.waiting:
            self.fail_pending("connection closed before the response was complete")

    def fail_pending(self, reason: str) -> None:
        if self.waiting:
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


def _burst_h1(
    target: _Target,
    requests: Sequence[PreparedRequest],
    *,
    header_byte: bool,
    timeout: float,
    pause_s: float,
    verify_tls: bool | str,
    warmup_path: str | None,
) -> BurstResult:
    conns: list[_H1Conn] = []
    notes: list[str] = []
    try:
        for _ in requests:
            conns.append(_H1Conn(_connect(target, timeout, verify_tls, ("http/1.1",))))

        if warmup_path is not None:
            # A cold connection's first request pays for lazy setup in client and server alike.
            warm = PreparedRequest("GET", warmup_path)
            for c in conns:
                c.sock.sendall(b"".join(c.serialize(-1, target, warm)))
            _pump(conns, time.perf_counter() + timeout)
            reopened = 0
            for i, c in enumerate(conns):
                if c.error:
                    raise BurstError(
                        f"warm-up GET {warmup_path.split('?', 1)[0]} on "
                        f"{target.origin} failed: {c.error}"
                    )
                if not c.next_cycle():
                    _close(c.sock)
                    conns[i] = _H1Conn(_connect(target, timeout, verify_tls, ("http/1.1",)))
                    reopened += 1
            if reopened:
                notes.append(
                    f"{reopened} connections were closed by the server after the "
                    "warm-up and were reopened cold"
                )

        withheld_header = 0
        for i, (c, req) in enumerate(zip(conns, requests, strict=True)):
            head, body = c.serialize(i, target, req)
            if body and not header_byte:
                prefix, c.final = head + body[:-1], body[-1:]
            else:
                prefix, c.final = head[:-1], head[-1:] + body
                withheld_header += 1
            c.sent_at = time.perf_counter()
            try:
                c.sock.sendall(prefix)
            except OSError as exc:
                c.fail_pending(f"connection error while sending: {_reason(exc)}")

        # The pause lets the server parse every prefix before the release (halves the spread).
        time.sleep(pause_s)
        _pump(conns, 0.0, poll_only=True)
        early = sum(1 for c in conns if c.started or c.done)

        first = time.perf_counter()
        for c in conns:
            if c.waiting:
                c.sent_at = time.perf_counter()
            try:
                c.sock.sendall(c.final)
            except OSError as exc:
                if c.waiting:
                    # The response may already be buffered; read before judging.
                    c.on_readable()
                    c.fail_pending(f"connection error on release: {_reason(exc)}")
        spread = time.perf_counter() - first

        _pump(conns, time.perf_counter() + timeout)
        responses = [c.response() for c in conns]
    finally:
        for c in conns:
            _close(c.sock)

    technique = H1_LAST_HEADER_BYTE if withheld_header else H1_LAST_BYTE
    summary = (
        f"HTTP/1.1 over {len(conns)} warmed connections; final bytes written in one loop"
        if warmup_path is not None
        else f"HTTP/1.1 over {len(conns)} connections (no warm-up); final bytes written in one loop"
    )
    if withheld_header:
        which = "all" if withheld_header == len(conns) else f"{withheld_header} of {len(conns)}"
        notes.insert(
            0,
            f"{which} requests withheld the last header byte (bodiless or forced): "
            "weaker, since parsing and routing run after the release",
        )
    if early:
        notes.append(
            f"{early} responses began before the release: those handlers did not wait "
            "for the complete request, so they were not synchronized"
        )
    return BurstResult(technique, responses, spread, 1, "; ".join([summary, *notes]))


# --------------------------------------------------------------------------- HTTP/2


@dataclass
class _Stream:
    index: int  # position in the burst; -1 for the warm-up stream
    sid: int
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


def _h2_headers(target: _Target, index: int, req: PreparedRequest) -> list[tuple[bytes, bytes]]:
    authority = target.authority
    extra: list[tuple[bytes, bytes]] = []
    for name, value in _checked_headers(index, req):
        lname = name.lower()
        if lname == "host":
            authority = value
        elif lname in _H2_DROPPED_HEADERS or (lname == "te" and value.lower() != "trailers"):
            continue  # connection-specific; forbidden in HTTP/2
        else:
            extra.append(
                (
                    _encode(lname, f"request {index}: a header name"),
                    _encode(value, f"request {index}: the value of header {name!r}"),
                )
            )
    if _needs_length(req):
        extra.append((b"content-length", str(len(req.body)).encode()))
    return [
        (b":method", _encode(req.method.upper(), "method")),
        (b":scheme", target.scheme.encode()),
        (b":authority", _encode(authority, f"request {index}: the Host header")),
        (b":path", _encode(target.target_path(req.path), f"request {index}: the path")),
        *extra,
    ]


class _H2Conn:
    """One HTTP/2 connection (h2 library) carrying several streams of the burst."""

    def __init__(self, target: _Target, timeout: float, verify_tls: bool | str) -> None:
        self.target = target
        self.timeout = timeout
        self.sock = _connect(target, timeout, verify_tls, ("h2",))
        if isinstance(self.sock, ssl.SSLSocket) and self.sock.selected_alpn_protocol() != "h2":
            _close(self.sock)
            raise BurstError(f"{target.origin} did not negotiate h2 via ALPN")
        self.proto = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding=None)
        )
        self.streams: dict[int, _Stream] = {}
        self.closed = False
        self.goaway: str | None = None
        self.settings_seen = False
        self.final = b""
        self.proto.initiate_connection()
        self.proto.update_settings(
            {
                h2.settings.SettingCodes.ENABLE_PUSH: 0,
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: _H2_WINDOW,
            }
        )
        self.proto.increment_flow_control_window(_H2_WINDOW)
        self.flush()
        deadline = time.perf_counter() + timeout
        while not self.settings_seen and not self.closed:
            if deadline - time.perf_counter() <= 0:
                break
            self._read_once(deadline)
        if not self.settings_seen:
            _close(self.sock)
            raise BurstError(
                f"{target.origin} does not speak HTTP/2 "
                f"({'ALPN h2' if target.scheme == 'https' else 'h2c prior knowledge'})"
                f": {self.goaway or 'no SETTINGS frame received'}"
            )

    def _read_once(self, deadline: float) -> None:
        self.sock.settimeout(max(0.001, deadline - time.perf_counter()))
        try:
            self.on_readable()
        finally:
            self.sock.settimeout(self.timeout)

    @property
    def max_streams(self) -> int:
        return int(self.proto.remote_settings.max_concurrent_streams)

    @property
    def waiting(self) -> bool:
        return not self.closed and any(s.pending for s in self.streams.values())

    def flush(self) -> None:
        data = self.proto.data_to_send()
        if data and not self.closed:
            try:
                self.sock.sendall(data)
            except OSError as exc:
                self._lost(f"connection error while sending: {_reason(exc)}")

    def open_stream(
        self, index: int, headers: list[tuple[bytes, bytes]], *, end_stream: bool
    ) -> _Stream:
        if self.closed or self.goaway:
            stream = _Stream(index, 0, sent_at=time.perf_counter())
            stream.fail(self.goaway or "connection lost before this stream could be opened")
            return stream
        sid = self.proto.get_next_available_stream_id()
        stream = _Stream(index, sid, sent_at=time.perf_counter())
        self.streams[sid] = stream
        try:
            self.proto.send_headers(sid, headers, end_stream=end_stream)
        except h2.exceptions.TooManyStreamsError:
            stream.fail("the server lowered SETTINGS_MAX_CONCURRENT_STREAMS mid-burst")
        except h2.exceptions.ProtocolError:
            raise ValueError(
                f"request {index}: invalid HTTP/2 request (method, path or a header)"
            ) from None
        self.flush()
        return stream

    def send_body(self, stream: _Stream, body: bytes) -> None:
        """The whole body without END_STREAM, within the server's flow-control windows."""
        view = memoryview(body)
        deadline = time.perf_counter() + self.timeout
        while view and stream.pending and not self.closed:
            room = min(
                self.proto.local_flow_control_window(stream.sid), self.proto.max_outbound_frame_size
            )
            if room <= 0:
                self.flush()
                if time.perf_counter() > deadline:
                    stream.fail("timed out waiting for the server's flow-control window")
                    break
                self._read_once(deadline)
                continue
            chunk, view = view[:room], view[room:]
            self.proto.send_data(stream.sid, bytes(chunk))
        self.flush()

    def on_readable(self) -> None:
        try:
            data = _recv(self.sock)
        except OSError as exc:
            self._lost(f"connection error: {_reason(exc)}")
            return
        if not data:
            self._lost("connection closed by the server before the response was complete")
            return
        try:
            events = self.proto.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            self._lost(f"HTTP/2 protocol error from the server ({type(exc).__name__})")
            return
        for event in events:
            self._handle(event)
        self.flush()

    def _handle(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.RemoteSettingsChanged):
            self.settings_seen = True
            return
        if isinstance(event, h2.events.ConnectionTerminated):
            code = _code_name(event.error_code)
            last = event.last_stream_id if event.last_stream_id is not None else 2**31
            self.goaway = f"GOAWAY ({code}) from the server"
            for sid, st in self.streams.items():
                if sid > last:
                    st.fail(f"GOAWAY ({code}): the server did not process this stream")
            return
        stream_id: int = getattr(event, "stream_id", None) or 0
        found = self.streams.get(stream_id)
        if found is None:
            return
        st = found
        if isinstance(event, h2.events.ResponseReceived):
            st.started = True
            for name, value in event.headers or []:
                n, v = bytes(name).decode("latin-1"), bytes(value).decode("latin-1")
                if n == ":status":
                    st.status = int(v)
                elif not n.startswith(":"):
                    st.headers.append((n.lower(), v))
        elif isinstance(event, h2.events.TrailersReceived):
            st.headers += [
                (bytes(n).decode("latin-1").lower(), bytes(v).decode("latin-1"))
                for n, v in event.headers or []
            ]
        elif isinstance(event, h2.events.DataReceived):
            st.started = True
            st.body += event.data or b""
            self.proto.acknowledge_received_data(event.flow_controlled_length or 0, stream_id)
        elif isinstance(event, h2.events.StreamEnded):
            if st.pending:
                st.done = True
                st.received_at = time.perf_counter()
        elif isinstance(event, h2.events.StreamReset):
            st.fail(f"stream reset by the server (RST_STREAM {_code_name(event.error_code)})")

    def _lost(self, reason: str) -> None:
        self.closed = True
        for st in self.streams.values():
            st.fail(f"{reason}; {self.goaway}" if self.goaway else reason)

    def fail_pending(self, reason: str) -> None:
        for st in self.streams.values():
            st.fail(reason)

    def close(self) -> None:
        if not self.closed:
            try:
                self.proto.close_connection()
                self.sock.sendall(self.proto.data_to_send())
            except (OSError, h2.exceptions.ProtocolError):
                pass
        _close(self.sock)


def _code_name(code: Any) -> str:
    return str(getattr(code, "name", code))


def _burst_h2(
    target: _Target,
    requests: Sequence[PreparedRequest],
    *,
    timeout: float,
    pause_s: float,
    verify_tls: bool | str,
    warmup_path: str | None,
    max_streams_per_connection: int | None,
) -> BurstResult:
    headers = [_h2_headers(target, i, r) for i, r in enumerate(requests)]
    conns: list[_H2Conn] = []
    try:
        conns.append(_H2Conn(target, timeout, verify_tls))
        overhead = _TLS_RECORD_OVERHEAD if target.scheme == "https" else 0
        packet_cap = (PACKET_BYTES - overhead) // _H2_FINAL_FRAME_BYTES
        server_cap = conns[0].max_streams
        limits = {
            f"the server allows {server_cap} concurrent streams": server_cap,
            f"one packet holds {packet_cap} final frames": packet_cap,
        }
        if max_streams_per_connection is not None:
            limits[f"max_streams_per_connection={max_streams_per_connection}"] = max(
                1, max_streams_per_connection
            )
        cap = min(limits.values())
        n_groups = math.ceil(len(requests) / cap)
        while len(conns) < n_groups:
            conns.append(_H2Conn(target, timeout, verify_tls))

        if warmup_path is not None:
            # One full exchange per connection warms both ends' HTTP/2 and routing paths.
            warm_headers = _h2_headers(target, -1, PreparedRequest("GET", warmup_path))
            warm = [c.open_stream(-1, warm_headers, end_stream=True) for c in conns]
            _pump(conns, time.perf_counter() + timeout)
            for st in warm:
                if not st.done:
                    raise BurstError(
                        f"warm-up GET {warmup_path.split('?', 1)[0]} on "
                        f"{target.origin} failed: {st.error}"
                    )
            for c in conns:
                c.streams = {sid: s for sid, s in c.streams.items() if s.index >= 0}

        # Balanced contiguous groups: 20 over a cap of 8 gives 7, 7, 6.
        base, extra = divmod(len(requests), n_groups)
        plan: list[tuple[_H2Conn, list[int]]] = []
        start = 0
        for g, c in enumerate(conns):
            size = base + (1 if g < extra else 0)
            plan.append((c, list(range(start, start + size))))
            start += size

        # HEADERS for every stream first; bodies only to streams still open a moment later.
        # A handler that answers on headers alone (an early 401, say) is done by then, and
        # hypercorn 0.18 drops the whole connection when DATA arrives for a finished stream.
        streams: list[_Stream] = []
        for c, indices in plan:
            streams += [c.open_stream(i, headers[i], end_stream=False) for i in indices]
        bodies_skipped = 0
        if any(r.body for r in requests):
            time.sleep(pause_s / 2)
            _pump(conns, 0.0, poll_only=True)
            for c, indices in plan:
                for i in indices:
                    if not requests[i].body:
                        continue
                    if streams[i].pending and not c.closed:
                        c.send_body(streams[i], requests[i].body)
                    else:
                        bodies_skipped += 1
        bodiless = sum(1 for r in requests if not r.body)

        time.sleep(pause_s)  # as for HTTP/1.1: the server digests every stream first
        _pump(conns, 0.0, poll_only=True)
        early = skipped = 0
        for c, indices in plan:
            for i in indices:
                st = streams[i]
                early += st.started or st.done
                if not st.pending:
                    # Already answered (hypercorn drops the whole connection on DATA for a
                    # stream it has finished) or failed: its final frame must not be sent.
                    skipped += 1
                    continue
                try:
                    c.proto.end_stream(st.sid)
                except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
                    skipped += 1
            c.final = c.proto.data_to_send()

        first = time.perf_counter()
        for c, indices in plan:
            now = time.perf_counter()
            for i in indices:
                if streams[i].pending:
                    streams[i].sent_at = now
            if c.final and not c.closed:
                try:
                    c.sock.sendall(c.final)
                except OSError as exc:
                    c._lost(f"connection error on release: {_reason(exc)}")
        spread = time.perf_counter() - first

        _pump(conns, time.perf_counter() + timeout)
        responses = [s.response() for s in streams]
    finally:
        for c in conns:
            c.close()

    sizes = sorted({len(ix) for _, ix in plan}, reverse=True)
    notes = [
        f"HTTP/2 ({'TLS ALPN' if target.scheme == 'https' else 'h2c'}) over "
        f"{len(conns)} connection(s); each connection's END_STREAM frames went out in one "
        "write"
    ]
    if n_groups > 1:
        reason = next(k for k, v in limits.items() if v == cap)
        notes.append(
            f"split into {n_groups} gated groups of {'/'.join(map(str, sizes))} streams "
            f"because {reason}; the groups were released in one loop"
        )
    if bodiless:
        notes.append(
            f"{bodiless} bodiless requests: handlers that do not read the body start "
            "before the release over HTTP/2 (use technique='h1-last-header-byte')"
        )
    if early:
        notes.append(
            f"{early} responses began before the release: those handlers did not wait "
            "for the complete request, so they were not synchronized"
        )
    if bodies_skipped:
        notes.append(
            f"{bodies_skipped} streams were answered on their headers alone, so their "
            "bodies were not sent"
        )
    if skipped:
        notes.append(
            f"{skipped} streams were already answered or closed, so their final frame was not sent"
        )
    return BurstResult(H2_SINGLE_PACKET, responses, spread, n_groups, "; ".join(notes))


# --------------------------------------------------------------------------- entry point


def send_burst(
    base_url: str,
    requests: Sequence[PreparedRequest],
    *,
    technique: str = "auto",
    timeout: float = 10.0,
    pause_s: float = 0.010,
    verify_tls: bool | str = True,
    warmup_path: str | None = "/healthz",
    max_streams_per_connection: int | None = None,
) -> BurstResult:
    """Send ``requests`` so that they reach the server's handlers at (nearly) the same moment.

    ``technique``: "auto" (HTTP/2 single-packet when the origin speaks h2, else HTTP/1.1
    last-byte), "h1"/"h1-last-byte", "h1-last-header-byte" (withhold a header byte even for
    requests with a body: synchronizes handlers that never read it), "h2"/"h2-single-packet".
    ``timeout`` bounds each phase (connect, warm-up, responses). ``pause_s`` is the gap between
    the prefixes and the release. ``warmup_path`` (None to skip) is fetched once per connection
    first. ``verify_tls``: True, False or a CA bundle path. Connections never outlive the burst.

    Raises BurstError when the burst cannot be set up; failures after the release are returned
    per response (status 0, ``error`` set).
    """
    if technique not in TECHNIQUES:
        raise ValueError(f"technique must be one of {', '.join(TECHNIQUES)}; got {technique!r}")
    reqs = list(requests)
    if not reqs:
        raise ValueError("a burst needs at least one request")
    # Bursts bypass httpx, so they are counted against the run's budget here.
    TRAFFIC.reserve(len(reqs), f"a burst of {len(reqs)} requests")
    target = _parse_target(base_url)
    auto = technique == "auto"
    if auto:
        technique = "h2" if speaks_h2(base_url, min(timeout, 3.0), verify_tls=verify_tls) else "h1"
    if technique in ("h2", H2_SINGLE_PACKET):
        result = _burst_h2(
            target,
            reqs,
            timeout=timeout,
            pause_s=pause_s,
            verify_tls=verify_tls,
            warmup_path=warmup_path,
            max_streams_per_connection=max_streams_per_connection,
        )
    else:
        result = _burst_h1(
            target,
            reqs,
            header_byte=technique == H1_LAST_HEADER_BYTE,
            timeout=timeout,
            pause_s=pause_s,
            verify_tls=verify_tls,
            warmup_path=warmup_path,
        )
    if auto:
        why = "speaks HTTP/2" if result.technique == H2_SINGLE_PACKET else "has no HTTP/2"
        return BurstResult(
            result.technique,
            result.responses,
            result.release_spread_s,
            result.groups,
            f"auto: the target {why}; {result.note}",
        )
    return result
