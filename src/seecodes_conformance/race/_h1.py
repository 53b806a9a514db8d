"""HTTP/1.1 last-byte synchronization: N warmed connections, N withheld bytes, one loop."""

from __future__ import annotations

import socket
import time
from collections.abc import Sequence

import h11

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
    H1_LAST_BYTE,
    H1_LAST_HEADER_BYTE,
    BurstError,
    BurstResult,
    PartialResponse,
    PreparedRequest,
    checked_headers,
    encode,
    needs_length,
)

# --------------------------------------------------------------------------- HTTP/1.1


class _H1Conn:
    """One HTTP/1.1 connection carrying one request at a time, parsed with h11."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.proto = h11.Connection(h11.CLIENT)
        self.final = b""
        self._reset()

    def _reset(self) -> None:
        self.answer = PartialResponse()
        self._eof = False

    @property
    def waiting(self) -> bool:
        return self.answer.pending

    def serialize(self, index: int, target: Origin, req: PreparedRequest) -> tuple[bytes, bytes]:
        """(header block, body) as h11 frames them; h11 also learns what response to expect."""
        headers = checked_headers(index, req)
        if not any(n.lower() == "host" for n, _ in headers):
            headers.insert(0, ("Host", target.authority))
        if needs_length(req):
            headers.append(("Content-Length", str(len(req.body))))
        raw = [
            (
                encode(n, f"request {index}: a header name"),
                encode(v, f"request {index}: the value of header {n!r}"),
            )
            for n, v in headers
        ]
        try:
            head = self.proto.send(
                h11.Request(
                    method=encode(req.method, "method"),
                    target=encode(target.target_path(req.path), f"request {index}: the path"),
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
            data = recv(self.sock)
        except OSError as exc:
            # A reset may follow a complete close-delimited response; parse what arrived.
            self._feed(b"")
            if self.waiting:
                self.fail_pending(f"connection error: {describe_error(exc)}")
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
                    self.answer.started = True
                    self.answer.status = event.status_code
                    self.answer.headers = [
                        (n.decode("latin-1"), v.decode("latin-1")) for n, v in event.headers
                    ]
                elif isinstance(event, h11.Data):
                    self.answer.started = True
                    self.answer.body += event.data
                elif isinstance(event, h11.EndOfMessage):
                    self.answer.headers += [
                        (n.decode("latin-1"), v.decode("latin-1")) for n, v in event.headers
                    ]
                    self.answer.done = True
                    self.answer.received_at = time.perf_counter()
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
        self.answer.fail(reason)


def burst_h1(
    target: Origin,
    requests: Sequence[PreparedRequest],
    *,
    header_byte: bool,
    timeout: float,
    pause_s: float,
    tls: TlsSource,
    warmup_path: str | None,
) -> BurstResult:
    conns: list[_H1Conn] = []
    notes: list[str] = []
    try:
        for _ in requests:
            conns.append(_H1Conn(connect(target, timeout, tls, ("http/1.1",))))

        if warmup_path is not None:
            # A cold connection's first request pays for lazy setup in client and server alike.
            warm = PreparedRequest("GET", warmup_path)
            TRAFFIC.reserve(len(conns), f"{len(conns)} race warm-up requests")
            for c in conns:
                c.sock.sendall(b"".join(c.serialize(-1, target, warm)))
            pump(conns, time.perf_counter() + timeout)
            reopened = 0
            for i, c in enumerate(conns):
                if c.answer.error:
                    raise BurstError(
                        f"warm-up GET {warmup_path.split('?', 1)[0]} on "
                        f"{target.origin} failed: {c.answer.error}"
                    )
                if not c.next_cycle():
                    close_socket(c.sock)
                    conns[i] = _H1Conn(connect(target, timeout, tls, ("http/1.1",)))
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
            c.answer.sent_at = time.perf_counter()
            try:
                c.sock.sendall(prefix)
            except OSError as exc:
                c.fail_pending(f"connection error while sending: {describe_error(exc)}")

        # The pause lets the server parse every prefix before the release (halves the spread).
        time.sleep(pause_s)
        pump(conns, 0.0, poll_only=True)
        early = sum(1 for c in conns if c.answer.started or c.answer.done)

        first = time.perf_counter()
        for c in conns:
            if c.waiting:
                c.answer.sent_at = time.perf_counter()
            try:
                c.sock.sendall(c.final)
            except OSError as exc:
                if c.waiting:
                    # The response may already be buffered; read before judging.
                    c.on_readable()
                    c.fail_pending(f"connection error on release: {describe_error(exc)}")
        spread = time.perf_counter() - first

        pump(conns, time.perf_counter() + timeout)
        responses = [c.answer.response() for c in conns]
    finally:
        for c in conns:
            close_socket(c.sock)

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
    return BurstResult(technique, responses, spread, 1, "; ".join([summary, *notes]), early)
