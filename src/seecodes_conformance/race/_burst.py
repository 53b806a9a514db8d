"""``send_burst``: choose a technique and release the burst."""

from __future__ import annotations

from collections.abc import Sequence

from seecodes_conformance.http.evidence import TRANSCRIPT
from seecodes_conformance.http.traffic import TRAFFIC
from seecodes_conformance.race._h1 import burst_h1
from seecodes_conformance.race._h2 import burst_h2
from seecodes_conformance.race._probe import speaks_h2
from seecodes_conformance.race._sockets import TlsSource, parse_target, resolve_tls
from seecodes_conformance.race._types import (
    H1_LAST_HEADER_BYTE,
    H2_SINGLE_PACKET,
    TECHNIQUES,
    BurstResult,
    PreparedRequest,
)

# --------------------------------------------------------------------------- entry point


def send_burst(
    base_url: str,
    requests: Sequence[PreparedRequest],
    *,
    technique: str = "auto",
    timeout: float = 10.0,
    pause_s: float = 0.010,
    tls: TlsSource | None = None,
    verify_tls: bool | str | None = None,
    warmup_path: str | None = "/healthz",
    max_streams_per_connection: int | None = None,
) -> BurstResult:
    """Send ``requests`` so that they reach the server's handlers at (nearly) the same moment.

    ``technique``: "auto" (HTTP/2 single-packet when the origin speaks h2, else HTTP/1.1
    last-byte), "h1"/"h1-last-byte", "h1-last-header-byte" (withhold a header byte even for
    requests with a body: synchronizes handlers that never read it), "h2"/"h2-single-packet".
    ``timeout`` bounds each phase (connect, warm-up, responses). ``pause_s`` is the gap between
    the prefixes and the release. ``warmup_path`` (None to skip) is fetched once per connection
    first. ``tls``: the run's TlsConfig (``Settings.tls``: verification, CA bundle, client
    certificate) or an ``ssl.SSLContext`` (its ALPN protocols are set per connection);
    ``verify_tls`` is the older form (True, False or a CA bundle path); verification is on
    when neither is given. Connections never outlive the burst.

    Raises BurstError when the burst cannot be set up; failures after the release are returned
    per response (status 0, ``error`` set).
    """
    if technique not in TECHNIQUES:
        raise ValueError(f"technique must be one of {', '.join(TECHNIQUES)}; got {technique!r}")
    reqs = list(requests)
    if not reqs:
        raise ValueError("a burst needs at least one request")
    source = resolve_tls(tls, verify_tls)
    # Bursts bypass httpx, so they are counted against the run's budget here.
    TRAFFIC.reserve(len(reqs), f"a burst of {len(reqs)} requests")
    target = parse_target(base_url)
    auto = technique == "auto"
    if auto:
        technique = "h2" if speaks_h2(base_url, min(timeout, 3.0), tls=source) else "h1"
    if technique in ("h2", H2_SINGLE_PACKET):
        result = burst_h2(
            target,
            reqs,
            timeout=timeout,
            pause_s=pause_s,
            tls=source,
            warmup_path=warmup_path,
            max_streams_per_connection=max_streams_per_connection,
        )
    else:
        result = burst_h1(
            target,
            reqs,
            header_byte=technique == H1_LAST_HEADER_BYTE,
            timeout=timeout,
            pause_s=pause_s,
            tls=source,
            warmup_path=warmup_path,
        )
    for req, response in zip(reqs, result.responses, strict=False):
        if not response.error:
            TRANSCRIPT.touch(req.method, req.path)  # the test's routes, for the route matrix
    if auto:
        why = "speaks HTTP/2" if result.technique == H2_SINGLE_PACKET else "has no HTTP/2"
        return BurstResult(
            result.technique,
            result.responses,
            result.release_spread_s,
            result.groups,
            f"auto: the target {why}; {result.note}",
            result.early,
        )
    return result
