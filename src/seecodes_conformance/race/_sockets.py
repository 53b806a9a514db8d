"""Sockets, TLS and the selector pump shared by the HTTP/1.1 and HTTP/2 engines."""

from __future__ import annotations

import contextlib
import functools
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from seecodes_conformance.race._types import RECV_BYTES, BurstError
from seecodes_conformance.tls import TlsConfig, TlsSetupError

# What the race functions take for TLS: the run's configuration, or a ready context (whose ALPN
# protocols are then set per connection: h2 bursts offer "h2", h1 bursts "http/1.1").
TlsSource = TlsConfig | ssl.SSLContext

# --------------------------------------------------------------------------- target and sockets


@dataclass(frozen=True)
class Origin:
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


def parse_target(base_url: str) -> Origin:
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
    return Origin(scheme, parts.hostname, port, parts.path.rstrip("/"))


def resolve_tls(tls: TlsSource | None, verify_tls: bool | str | None) -> TlsSource:
    """``tls`` (a TlsConfig or an SSLContext), or the older ``verify_tls`` (True, False or a CA
    bundle path) as a TlsConfig; verification on by default."""
    if tls is not None and verify_tls is not None:
        raise ValueError("give tls= or verify_tls=, not both")
    if tls is not None:
        return tls
    return TlsConfig.coerce(verify_tls)


@functools.lru_cache(maxsize=32)
def _context(tls: TlsConfig, alpn: tuple[str, ...]) -> ssl.SSLContext:
    # Loading a trust store costs milliseconds; a burst opens up to N connections.
    return tls.ssl_context(alpn)


_GIVEN_CONTEXT = threading.Lock()


def _wrap(sock: socket.socket, tls: TlsSource, alpn: tuple[str, ...], host: str) -> ssl.SSLSocket:
    if isinstance(tls, TlsConfig):
        return _context(tls, alpn).wrap_socket(sock, server_hostname=host)
    # A caller's context: its ALPN list is copied into each connection when it is created, so
    # setting it and creating the connection together keeps concurrent callers apart.
    with _GIVEN_CONTEXT:
        tls.set_alpn_protocols(list(alpn))
        wrapped = tls.wrap_socket(sock, server_hostname=host, do_handshake_on_connect=False)
    try:
        wrapped.do_handshake()
    except (OSError, ssl.SSLError):
        close_socket(wrapped)
        raise
    return wrapped


def describe_error(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def connect(target: Origin, timeout: float, tls: TlsSource, alpn: tuple[str, ...]) -> socket.socket:
    if target.scheme == "https" and isinstance(tls, TlsConfig):
        try:  # a file that cannot be used is named before any connection is made
            _context(tls, alpn)
        except TlsSetupError as exc:
            raise BurstError(f"TLS towards {target.origin}: {exc}") from None
    try:
        sock = socket.create_connection((target.host, target.port), timeout=timeout)
    except OSError as exc:
        raise BurstError(f"cannot connect to {target.origin}: {describe_error(exc)}") from None
    # Without NODELAY, Nagle holds some 1-byte releases until an ACK arrives (ms-wide tails).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if target.scheme == "https":
        try:
            sock = _wrap(sock, tls, alpn, target.host)
        except (OSError, ssl.SSLError) as exc:
            sock.close()
            raise BurstError(
                f"TLS handshake with {target.origin} failed: {describe_error(exc)}"
            ) from None
    return sock


def recv(sock: socket.socket) -> bytes:
    """Everything readable now; TLS may hold decrypted bytes the selector cannot see."""
    data = sock.recv(RECV_BYTES)
    if data and isinstance(sock, ssl.SSLSocket):
        while sock.pending():
            more = sock.recv(RECV_BYTES)
            if not more:
                break
            data += more
    return data


def close_socket(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.close()


class _Reader(Protocol):
    sock: socket.socket

    @property
    def waiting(self) -> bool: ...

    def on_readable(self) -> None: ...

    def fail_pending(self, reason: str) -> None: ...


def pump(readers: Sequence[_Reader], deadline: float, *, poll_only: bool = False) -> None:
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
