"""Whether an origin speaks HTTP/2, asked once per origin."""

from __future__ import annotations

import ssl
import threading
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings

from seecodes_conformance.http.traffic import TRAFFIC
from seecodes_conformance.race._sockets import (
    Origin,
    TlsSource,
    close_socket,
    connect,
    parse_target,
    resolve_tls,
)
from seecodes_conformance.race._types import RECV_BYTES, BurstError

# --------------------------------------------------------------------------- protocol probe

_H2_CACHE: dict[tuple[str, str, int], bool] = {}
_H2_CACHE_LOCK = threading.Lock()


def speaks_h2(
    base_url: str,
    timeout: float = 3.0,
    *,
    tls: TlsSource | None = None,
    verify_tls: bool | str | None = None,
) -> bool:
    """Whether the origin speaks HTTP/2: h2c prior knowledge for http, ALPN "h2" for https.

    ``tls``: the run's TlsConfig (``Settings.tls``) or an ``ssl.SSLContext``; ``verify_tls``
    is the older form (True, False or a CA bundle path). Cached per origin. Raises BurstError
    when the origin cannot be reached at all (a failed TLS handshake included), since an
    unreachable target is not an HTTP/1.1 target.
    """
    source = resolve_tls(tls, verify_tls)
    target = parse_target(base_url)
    key = (target.scheme, target.host, target.port)
    with _H2_CACHE_LOCK:
        if key in _H2_CACHE:
            return _H2_CACHE[key]
    result = _probe_h2(target, timeout, source)
    with _H2_CACHE_LOCK:
        _H2_CACHE[key] = result
    return result


def _probe_h2(target: Origin, timeout: float, tls: TlsSource) -> bool:
    if target.scheme == "https":
        sock = connect(target, timeout, tls, ("h2", "http/1.1"))
        try:
            return isinstance(sock, ssl.SSLSocket) and sock.selected_alpn_protocol() == "h2"
        finally:
            close_socket(sock)
    # An HTTP/1.1 server reads the preface as a (bad) request: it counts as one.
    TRAFFIC.reserve(1, "an HTTP/2 (h2c) probe")
    sock = connect(target, timeout, tls, ())
    proto = h2.connection.H2Connection(
        h2.config.H2Configuration(client_side=True, header_encoding=None)
    )
    proto.initiate_connection()
    deadline = time.perf_counter() + timeout
    try:
        sock.sendall(proto.data_to_send())
        while (remaining := deadline - time.perf_counter()) > 0:
            sock.settimeout(remaining)
            data = sock.recv(RECV_BYTES)
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
        close_socket(sock)


def offered_techniques(
    base_url: str, timeout: float = 3.0, *, tls: TlsSource | None = None
) -> tuple[str, ...]:
    """The burst techniques the origin offers: HTTP/2 single-packet and HTTP/1.1 last-byte where
    it speaks HTTP/2, else HTTP/1.1 alone ("auto" when it cannot be reached: the burst itself
    then says why)."""
    try:
        h2 = speaks_h2(base_url, timeout, tls=tls)
    except BurstError:
        return ("auto",)
    return ("h2", "h1") if h2 else ("h1",)
