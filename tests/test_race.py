"""The race engine against real loopback servers (uvicorn: HTTP/1.1; hypercorn: h2c, TLS+ALPN).

Detection is asserted as "in at least one of K bursts" and never timed, so a busy machine cannot
make it flake; the precision figures live in benchmarks/race_precision.py.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import h2.config
import h2.connection
import h2.errors
import h2.events
import pytest

import racy_server
from seecodes_conformance.outcomes import NotVerified
from seecodes_conformance.race import (
    H1_LAST_BYTE,
    H1_LAST_HEADER_BYTE,
    H2_SINGLE_PACKET,
    BurstError,
    BurstResponse,
    BurstResult,
    PreparedRequest,
    send_burst,
    speaks_h2,
)
from seecodes_conformance.race import verdict as verdict_module
from seecodes_conformance.race.verdict import RaceCampaign, inconclusive
from seecodes_conformance.tls import TlsConfig
from tls_certs import make_pki

SECRET = "s3cr3t-Header-Value-7f1c"
BODY_SECRET = b"s3cr3t-body-9a2e"

RACE_SHOWS_WITHIN_S = 120.0  # a race that exists shows well within this, even on a busy machine


@pytest.fixture(scope="module")
def h1_url() -> Iterator[str]:
    with racy_server.running_server("uvicorn") as server:
        yield server.base_url


@pytest.fixture(scope="module")
def h2_url() -> Iterator[str]:
    with racy_server.running_server("hypercorn") as server:
        yield server.base_url


@pytest.fixture(scope="module")
def h2_small_url() -> Iterator[str]:
    with racy_server.running_server("hypercorn", h2_max_streams=4) as server:
        yield server.base_url


def _echo_burst(n: int) -> list[PreparedRequest]:
    return [
        PreparedRequest(
            "POST", f"/echo/{i}?q={i}", {"X-Echo": f"{SECRET}-{i}"}, f"body-{i}".encode()
        )
        for i in range(n)
    ]


def _check_echo(result_responses: list[BurstResponse], n: int, version: str) -> None:
    assert len(result_responses) == n
    for i, r in enumerate(result_responses):
        assert r.error is None and r.status == 200
        data = r.json()
        assert (data["i"], data["body"], data["x_echo"], data["query"]) == (
            i,
            f"body-{i}",
            f"{SECRET}-{i}",
            f"q={i}",
        )
        assert data["http_version"] == version
        assert r.header("Content-Type") == "application/json"
        assert r.sent_at <= r.received_at


# --------------------------------------------------------------------------- HTTP/1.1


def test_h1_every_response_in_order(h1_url: str) -> None:
    assert speaks_h2(h1_url) is False
    result = send_burst(h1_url, _echo_burst(8))
    assert result.technique == H1_LAST_BYTE
    assert result.groups == 1
    assert result.note.startswith("auto: the target has no HTTP/2")
    assert 0 <= result.release_spread_s < 1
    _check_echo(result.responses, 8, "1.1")


def test_h1_bodiless_requests_withhold_a_header_byte(h1_url: str) -> None:
    result = send_burst(h1_url, [PreparedRequest("GET", f"/echo/{i}") for i in range(4)])
    assert result.technique == H1_LAST_HEADER_BYTE
    assert "last header byte" in result.note
    assert [r.json()["i"] for r in result.responses] == [0, 1, 2, 3]


def test_h1_chunked_and_connection_close_responses(h1_url: str) -> None:
    reqs = [
        PreparedRequest("GET", "/stream"),
        PreparedRequest("POST", "/close", {}, b"x"),
        PreparedRequest("GET", "/stream"),
    ]
    result = send_burst(h1_url, reqs, technique="h1")
    assert [r.status for r in result.responses] == [200, 200, 200]
    assert result.responses[0].header("transfer-encoding") == "chunked"
    assert result.responses[0].body == b"chunk-0;chunk-1;chunk-2;chunk-3;chunk-4;"
    assert result.responses[1].header("connection") == "close"
    assert result.responses[1].body == b"bye"


def test_h1_timeout_is_a_per_response_error(h1_url: str) -> None:
    reqs = [
        PreparedRequest("POST", "/echo/0", {}, b"x"),
        PreparedRequest("POST", "/t?hold_us=3000000", {}, b"x"),
    ]
    result = send_burst(h1_url, reqs, technique="h1", timeout=0.5)
    assert result.responses[0].status == 200
    slow = result.responses[1]
    assert slow.status == 0 and slow.error and "timed out" in slow.error


# --------------------------------------------------------------------------- HTTP/2


def test_h2_every_response_in_order(h2_url: str) -> None:
    assert speaks_h2(h2_url) is True
    result = send_burst(h2_url, _echo_burst(8))
    assert result.technique == H2_SINGLE_PACKET
    assert result.groups == 1
    assert "auto: the target speaks HTTP/2" in result.note
    _check_echo(result.responses, 8, "2")


def test_h2_splits_into_gated_groups_beyond_max_concurrent_streams(h2_small_url: str) -> None:
    result = send_burst(h2_small_url, _echo_burst(10), technique="h2")
    assert result.groups == 3
    assert "3 gated groups of 4/3 streams" in result.note
    assert "allows 4 concurrent streams" in result.note
    _check_echo(result.responses, 10, "2")


def test_h2_packet_and_option_caps_also_split(h2_url: str) -> None:
    result = send_burst(h2_url, _echo_burst(5), technique="h2", max_streams_per_connection=2)
    assert result.groups == 3 and "max_streams_per_connection=2" in result.note
    _check_echo(result.responses, 5, "2")


def test_h2_server_answering_before_end_stream_is_normal(h2_url: str) -> None:
    # /ping answers on headers alone; hypercorn 0.18 drops the connection if DATA then arrives
    # for the finished stream, so the engine must not send it, and the other streams survive.
    # The engine sees early answers only if they come within its pause; a long pause keeps this
    # test about the mechanism even when a loaded machine makes hypercorn slow to answer.
    reqs = [
        PreparedRequest("POST", "/ping", {}, b"abc"),
        PreparedRequest("GET", "/ping"),
        *_echo_burst(3),
    ]
    result = send_burst(h2_url, reqs, technique="h2", pause_s=0.1)
    assert [r.status for r in result.responses] == [200] * 5
    assert [r.body for r in result.responses[:2]] == [b"pong", b"pong"]
    _check_echo(result.responses[2:], 3, "2")
    assert "began before the release" in result.note


def _fake_h2_server(listener: socket.socket) -> None:
    """Answers the first stream, resets the second, GOAWAYs the third (a deterministic script)."""
    sock, _ = listener.accept()
    with sock:
        proto = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding=None)
        )
        proto.initiate_connection()
        sock.sendall(proto.data_to_send())
        ended: list[int] = []
        while len(ended) < 3:
            data = sock.recv(65536)
            if not data:
                return
            for event in proto.receive_data(data):
                if isinstance(event, h2.events.StreamEnded):
                    ended.append(event.stream_id)
                elif isinstance(event, h2.events.DataReceived):
                    proto.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            sock.sendall(proto.data_to_send())
        first, second, _third = sorted(ended)
        proto.send_headers(first, [(b":status", b"201"), (b"content-length", b"2")])
        proto.send_data(first, b"ok", end_stream=True)
        proto.reset_stream(second, h2.errors.ErrorCodes.REFUSED_STREAM)
        proto.close_connection(last_stream_id=second)
        sock.sendall(proto.data_to_send())


def test_h2_rst_stream_and_goaway_are_per_response_errors() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    thread = threading.Thread(target=_fake_h2_server, args=(listener,), daemon=True)
    thread.start()
    try:
        result = send_burst(
            f"http://127.0.0.1:{port}", _echo_burst(3), technique="h2", warmup_path=None, timeout=5
        )
    finally:
        thread.join(5)
        listener.close()
    ok, reset, refused = result.responses
    assert (ok.status, ok.body, ok.error) == (201, b"ok", None)
    assert reset.status == 0 and reset.error and "RST_STREAM REFUSED_STREAM" in reset.error
    assert refused.status == 0 and refused.error and "GOAWAY" in refused.error


# --------------------------------------------------------------------------- races


@pytest.mark.parametrize("mode", ["async", "sync"])
@pytest.mark.parametrize("server", ["h1", "h2"])
def test_racy_endpoint_shows_several_winners(
    mode: str, server: str, request: pytest.FixtureRequest
) -> None:
    """Bursts go on until one shows two winners; on a busy machine a burst may miss the window,
    so the bound is generous time, never a small number of tries."""
    url = request.getfixturevalue(f"{server}_url")
    winners: list[int] = []
    deadline = time.monotonic() + RACE_SHOWS_WITHIN_S
    while not any(w > 1 for w in winners) and time.monotonic() < deadline:
        path = f"/race/{mode}/{uuid.uuid4().hex}?w_us=0"
        result = send_burst(url, [PreparedRequest("POST", path, {}, b"x")] * 10, technique=server)
        assert set(result.statuses) <= {200, 409}
        winners.append(result.statuses.count(200))
    assert max(winners) > 1, f"race not detected in {len(winners)} bursts: winners {winners}"


@pytest.mark.parametrize("mode", ["atomic_async", "atomic_sync"])
@pytest.mark.parametrize("server", ["h1", "h2"])
def test_atomic_endpoint_has_exactly_one_winner(
    mode: str, server: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue(f"{server}_url")
    for _ in range(5):
        path = f"/race/{mode}/{uuid.uuid4().hex}?w_us=0"
        result = send_burst(url, [PreparedRequest("POST", path, {}, b"x")] * 10, technique=server)
        assert sorted(result.statuses) == [200] + [409] * 9


# --------------------------------------------------------------------------- failures, secrets


def test_connection_refused_is_a_clear_error() -> None:
    port = racy_server.free_port()  # bound and released: nothing listens there now
    for technique in ("auto", "h1", "h2"):
        with pytest.raises(
            BurstError,
            match=rf"cannot connect to http://127\.0\.0\.1:{port}: "
            "Connection refused",
        ):
            send_burst(f"http://127.0.0.1:{port}", _echo_burst(2), technique=technique)


def test_h2_forced_on_an_http1_only_target_is_a_clear_error(h1_url: str) -> None:
    with pytest.raises(BurstError, match="does not speak HTTP/2"):
        send_burst(h1_url, _echo_burst(2), technique="h2")


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="technique"):
        send_burst("http://127.0.0.1:1", _echo_burst(1), technique="gather")
    with pytest.raises(ValueError, match="scheme"):
        send_burst("ftp://127.0.0.1:1", _echo_burst(1))
    with pytest.raises(ValueError, match="at least one"):
        send_burst("http://127.0.0.1:1", [])


@pytest.mark.parametrize("server", ["h1", "h2"])
def test_repr_shows_no_header_values_or_bodies(server: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue(f"{server}_url")
    req = PreparedRequest(
        "POST",
        f"/echo/0?token={SECRET}",
        {"Authorization": f"Bearer {SECRET}", "X-Echo": SECRET},
        BODY_SECRET,
    )
    result = send_burst(url, [req, req], technique=server)
    assert SECRET.encode() in result.responses[0].body  # the caller gets the raw content ...
    shown = " ".join([repr(result), str(result), repr(req), *map(repr, result.responses)])
    assert SECRET not in shown and BODY_SECRET.decode() not in shown  # ... the repr does not
    assert "Authorization" in repr(req) and "content-type" in repr(result.responses[0])  # names


# --------------------------------------------------------------------------- TLS


def test_tls_alpn_h2_and_h1(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    tls = TlsConfig(ca_bundle=pki.ca)
    with racy_server.running_server(
        "hypercorn", certfile=str(pki.server_cert), keyfile=str(pki.server_key)
    ) as server:
        url = server.base_url
        assert url.startswith("https://")
        assert speaks_h2(url, tls=tls) is True
        result = send_burst(url, _echo_burst(4), tls=tls)
        assert result.technique == H2_SINGLE_PACKET and "TLS ALPN" in result.note
        _check_echo(result.responses, 4, "2")
        result = send_burst(url, _echo_burst(4), technique="h1", tls=tls)
        assert result.technique == H1_LAST_BYTE
        _check_echo(result.responses, 4, "1.1")
        # A ready SSLContext works too: ALPN is set per connection (h2, then http/1.1).
        context = tls.ssl_context()
        result = send_burst(url, _echo_burst(4), technique="h2", tls=context)
        _check_echo(result.responses, 4, "2")
        result = send_burst(url, _echo_burst(4), technique="h1", tls=context)
        _check_echo(result.responses, 4, "1.1")
        # The older form, a CA bundle path, still reads as that TlsConfig.
        result = send_burst(url, _echo_burst(4), technique="h1", verify_tls=str(pki.ca))
        _check_echo(result.responses, 4, "1.1")
        result = send_burst(url, _echo_burst(2), technique="h1", tls=TlsConfig(verify=False))
        _check_echo(result.responses, 2, "1.1")
        with pytest.raises(BurstError, match="TLS handshake"):
            send_burst(url, _echo_burst(1), technique="h1", tls=TlsConfig())
        with pytest.raises(BurstError, match="TLS handshake"):
            send_burst(url, _echo_burst(1), technique="h1", tls=TlsConfig(ca_bundle=pki.other_ca))
        with pytest.raises(ValueError, match="not both"):
            send_burst(url, _echo_burst(1), tls=tls, verify_tls=True)


def test_tls_files_that_cannot_be_used_fail_the_burst_setup(tmp_path: Path) -> None:
    """Checked before connecting: the message names the file, not a refused connection."""
    missing = tmp_path / "missing-ca.pem"
    with pytest.raises(BurstError, match=f"CA bundle {missing}"):
        send_burst("https://127.0.0.1:9", _echo_burst(1), tls=TlsConfig(ca_bundle=missing))


# -- conclusive bursts -----------------------------------------------------------------------


def _burst(*statuses: int, early: int = 0, retry_after: bool = False) -> BurstResult:
    headers = [("retry-after", "1")] if retry_after else []
    responses = [
        BurstResponse(
            s, headers if s in (429, 503) else [], b"{}", 0.0, 0.001, None if s else "reset"
        )
        for s in statuses
    ]
    return BurstResult("h1-last-byte", responses, 20e-6, 1, "test burst", early)


@pytest.mark.parametrize(
    ("burst", "why"),
    [
        (_burst(200, 409, 409, early=1), "began before the release"),
        (_burst(200, 429, 409), "throttled (429)"),
        (_burst(200, 409, 503, retry_after=True), "throttled (503)"),
        (_burst(200, 409, 503), "throttled (503)"),
        (_burst(200, 0, 409), "refused at the transport"),
    ],
)
def test_a_throttled_refused_or_early_burst_is_inconclusive(burst: BurstResult, why: str) -> None:
    """[race] "not now" from the target or its gateway is never a rejection of a loser."""
    reason = inconclusive(burst)
    assert reason is not None and why in reason


def test_a_clean_burst_is_conclusive() -> None:
    assert inconclusive(_burst(200, 409, 401, 404)) is None


def test_campaign_sends_more_bursts_until_enough_are_conclusive() -> None:
    answers = iter([_burst(200, 429), _burst(200, 409), _burst(200, 0), _burst(200, 409)])
    campaign = RaceCampaign("RK-RACE", wanted=2, budget=6)
    judged = [n for n in campaign if campaign.conclusive(next(answers))]
    campaign.finish()  # enough were conclusive: no exception
    assert judged == [2, 4] and campaign.sent == 4
    assert campaign.figures().startswith(
        "2/4 bursts conclusive (h1-last-byte 2/4); release spread median 20 µs"
    )


def test_campaign_takes_turns_over_every_technique_the_target_offers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """[race] With "auto", bursts alternate HTTP/2 single-packet and HTTP/1.1 last-byte on a
    target that speaks both, and the figures count each technique's conclusive bursts."""
    monkeypatch.setattr(verdict_module, "offered_techniques", lambda url, **kw: ("h2", "h1"))
    used: list[str] = []

    def burst(base_url: str, *, technique: str, tls: object = None) -> BurstResult:
        used.append(technique)
        result = _burst(200, 409)
        return BurstResult(technique, result.responses, 20e-6, 1, "test burst", 0)

    campaign = RaceCampaign("RK-RACE", wanted=3)
    for _ in campaign:
        result = campaign.send(burst, "http://target.invalid", technique="auto")
        assert result is not None and campaign.conclusive(result)
    assert used == ["h2", "h1", "h2"]
    assert "(h1 1/1, h2 2/2)" in campaign.figures()


def test_campaign_with_too_few_conclusive_bursts_is_not_verified() -> None:
    campaign = RaceCampaign("LC-RACE", wanted=2, budget=3)
    for _ in campaign:
        assert not campaign.conclusive(_burst(200, 429, 429))
    with pytest.raises(NotVerified, match=r"unsynchronized: 0/3 bursts conclusive"):
        campaign.finish()
