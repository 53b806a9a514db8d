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
  HEADERS, then the DATA of streams not already answered minus its last byte, go out without
  END_STREAM; then every open stream's final DATA frame (the last byte and END_STREAM, or an
  empty one for a bodiless request) leaves in a single ``send()``, i.e. one packet. Withholding
  a byte, not only the flag, keeps a TLS-terminating proxy from completing the request to its
  HTTP/1.1 upstream before the release.
  Bursts larger than one connection may carry (SETTINGS_MAX_CONCURRENT_STREAMS) or one packet
  may hold are split into gated groups, one per connection, released in one loop.

Withholding only synchronizes handlers that wait for the complete request; a handler that answers
on headers alone (a GET, a handler that never reads the body) starts before the release. Over h2
such handlers are not synchronized at all; over HTTP/1.1 ``h1-last-header-byte`` covers them.

The API is synchronous (sockets + selectors) so it can be called from tests, threads or anywhere
else without an event loop. It never logs; reprs show header names and body sizes, never values.

The package's public face is ``send_burst`` with its request and result types (h1, h2 and socket
plumbing live in private modules) and ``verdict``: what a burst must show for a single-use
credential (exactly one winner, losers refused with nothing usable).
"""

from seecodes_conformance.race._burst import send_burst
from seecodes_conformance.race._probe import offered_techniques, speaks_h2
from seecodes_conformance.race._types import (
    H1_LAST_BYTE,
    H1_LAST_HEADER_BYTE,
    H2_SINGLE_PACKET,
    TECHNIQUES,
    BurstError,
    BurstResponse,
    BurstResult,
    PreparedRequest,
)

__all__ = [
    "H1_LAST_BYTE",
    "H1_LAST_HEADER_BYTE",
    "H2_SINGLE_PACKET",
    "TECHNIQUES",
    "BurstError",
    "BurstResponse",
    "BurstResult",
    "PreparedRequest",
    "offered_techniques",
    "send_burst",
    "speaks_h2",
]
