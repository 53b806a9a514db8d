"""HTTP/2 single-packet synchronization: every stream's final frame in one write."""

from __future__ import annotations

import math
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

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
    describe_error,
    pump,
    recv,
)
from seecodes_conformance.race._types import (
    H2_DROPPED_HEADERS,
    H2_FINAL_FRAME_BYTES,
    H2_SINGLE_PACKET,
    H2_WINDOW,
    PACKET_BYTES,
    TLS_RECORD_OVERHEAD,
    BurstError,
    BurstResult,
    PartialResponse,
    PreparedRequest,
    checked_headers,
    encode,
    needs_length,
)

# --------------------------------------------------------------------------- HTTP/2


@dataclass(kw_only=True)
class _Stream(PartialResponse):
    index: int  # position in the burst; -1 for the warm-up stream
    sid: int


def _h2_headers(target: Origin, index: int, req: PreparedRequest) -> list[tuple[bytes, bytes]]:
    authority = target.authority
    extra: list[tuple[bytes, bytes]] = []
    for name, value in checked_headers(index, req):
        lname = name.lower()
        if lname == "host":
            authority = value
        elif lname in H2_DROPPED_HEADERS or (lname == "te" and value.lower() != "trailers"):
            continue  # connection-specific; forbidden in HTTP/2
        else:
            extra.append(
                (
                    encode(lname, f"request {index}: a header name"),
                    encode(value, f"request {index}: the value of header {name!r}"),
                )
            )
    if needs_length(req):
        extra.append((b"content-length", str(len(req.body)).encode()))
    return [
        (b":method", encode(req.method.upper(), "method")),
        (b":scheme", target.scheme.encode()),
        (b":authority", encode(authority, f"request {index}: the Host header")),
        (b":path", encode(target.target_path(req.path), f"request {index}: the path")),
        *extra,
    ]


class _H2Conn:
    """One HTTP/2 connection (h2 library) carrying several streams of the burst."""

    def __init__(self, target: Origin, timeout: float, tls: TlsSource) -> None:
        self.target = target
        self.timeout = timeout
        self.sock = connect(target, timeout, tls, ("h2",))
        if isinstance(self.sock, ssl.SSLSocket) and self.sock.selected_alpn_protocol() != "h2":
            close_socket(self.sock)
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
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: H2_WINDOW,
            }
        )
        self.proto.increment_flow_control_window(H2_WINDOW)
        self.flush()
        deadline = time.perf_counter() + timeout
        while not self.settings_seen and not self.closed:
            if deadline - time.perf_counter() <= 0:
                break
            self._read_once(deadline)
        if not self.settings_seen:
            close_socket(self.sock)
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
                self._lost(f"connection error while sending: {describe_error(exc)}")

    def open_stream(
        self, index: int, headers: list[tuple[bytes, bytes]], *, end_stream: bool
    ) -> _Stream:
        if self.closed or self.goaway:
            stream = _Stream(index=index, sid=0, sent_at=time.perf_counter())
            stream.fail(self.goaway or "connection lost before this stream could be opened")
            return stream
        sid = self.proto.get_next_available_stream_id()
        stream = _Stream(index=index, sid=sid, sent_at=time.perf_counter())
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
            data = recv(self.sock)
        except OSError as exc:
            self._lost(f"connection error: {describe_error(exc)}")
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
        close_socket(self.sock)


def _code_name(code: Any) -> str:
    return str(getattr(code, "name", code))


def burst_h2(
    target: Origin,
    requests: Sequence[PreparedRequest],
    *,
    timeout: float,
    pause_s: float,
    tls: TlsSource,
    warmup_path: str | None,
    max_streams_per_connection: int | None,
) -> BurstResult:
    headers = [_h2_headers(target, i, r) for i, r in enumerate(requests)]
    conns: list[_H2Conn] = []
    try:
        conns.append(_H2Conn(target, timeout, tls))
        overhead = TLS_RECORD_OVERHEAD if target.scheme == "https" else 0
        packet_cap = (PACKET_BYTES - overhead) // H2_FINAL_FRAME_BYTES
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
            conns.append(_H2Conn(target, timeout, tls))

        # Balanced contiguous groups: 20 over a cap of 8 gives 7, 7, 6.
        base, extra = divmod(len(requests), n_groups)
        plan: list[tuple[_H2Conn, list[int]]] = []
        start = 0
        for g, c in enumerate(conns):
            size = base + (1 if g < extra else 0)
            plan.append((c, list(range(start, start + size))))
            start += size

        if warmup_path is not None:
            # As many concurrent warm-up exchanges per connection as the burst will put on it:
            # both ends' HTTP/2 and routing paths are warm, and a reverse proxy in front of the
            # target holds one idle upstream connection per stream of the burst (otherwise the
            # burst's streams wait for upstream connections to be dialled, one after another).
            warm_headers = _h2_headers(target, -1, PreparedRequest("GET", warmup_path))
            TRAFFIC.reserve(len(requests), f"{len(requests)} race warm-up requests")
            warm = [
                c.open_stream(-1, warm_headers, end_stream=True)
                for c, indices in plan
                for _ in indices
            ]
            pump(conns, time.perf_counter() + timeout)
            for st in warm:
                if not st.done:
                    raise BurstError(
                        f"warm-up GET {warmup_path.split('?', 1)[0]} on "
                        f"{target.origin} failed: {st.error}"
                    )
            for c in conns:
                c.streams = {sid: s for sid, s in c.streams.items() if s.index >= 0}

        # HEADERS for every stream first; bodies only to streams still open a moment later.
        # A handler that answers on headers alone (an early 401, say) is done by then, and
        # hypercorn 0.18 drops the whole connection when DATA arrives for a finished stream.
        streams: list[_Stream] = []
        for c, indices in plan:
            streams += [c.open_stream(i, headers[i], end_stream=False) for i in indices]
        bodies_skipped = 0
        if any(r.body for r in requests):
            time.sleep(pause_s / 2)
            pump(conns, 0.0, poll_only=True)
            for c, indices in plan:
                for i in indices:
                    if not requests[i].body:
                        continue
                    if streams[i].pending and not c.closed:
                        # All but the last byte: a proxy in front of the target forwards
                        # what it gets to its upstream at once, so a complete body would let
                        # the upstream start before the release (END_STREAM alone holds back
                        # nothing there); the last byte goes in the release packet.
                        c.send_body(streams[i], requests[i].body[:-1])
                    else:
                        bodies_skipped += 1
        bodiless = sum(1 for r in requests if not r.body)

        time.sleep(pause_s)  # as for HTTP/1.1: the server digests every stream first
        pump(conns, 0.0, poll_only=True)
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
                    if requests[i].body:
                        c.proto.send_data(st.sid, requests[i].body[-1:], end_stream=True)
                    else:
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
                    c._lost(f"connection error on release: {describe_error(exc)}")
        spread = time.perf_counter() - first

        pump(conns, time.perf_counter() + timeout)
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
    return BurstResult(H2_SINGLE_PACKET, responses, spread, n_groups, "; ".join(notes), early)
