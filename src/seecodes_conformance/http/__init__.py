"""Everything the harness sends over HTTP goes through here.

- ``new_http_client``: the plain client (every exchange recorded as evidence, every request
  counted against the run's budget and rate ceiling by ``traffic``); anonymous routes use it.
- ``JiraAppSession``: Forge bearer token plus the single-use request key, rotated from
  ``X-SeeCodes-Next-Request-Key`` on every success and re-bootstrapped after a rejection.
- ``PermitSession``: the task permit as bearer, for /v1/tasks/* and /v1/projects/*/indexes/*.
- ``evidence``: the transcript of exchanges and their redacted rendering.
- ``traffic``: request budget, rate ceiling, response size and time caps.
- ``throttling``: 429 / 503 + Retry-After are "not now", sent again when that consumes nothing.
"""

from seecodes_conformance.http._client import json_or_none, new_http_client
from seecodes_conformance.http._headers import BOOTSTRAP_PATH, NEXT_KEY_HEADER, REQUEST_KEY_HEADER
from seecodes_conformance.http._sessions import HandshakeError, JiraAppSession, PermitSession
from seecodes_conformance.http.throttling import is_throttled

__all__ = [
    "BOOTSTRAP_PATH",
    "NEXT_KEY_HEADER",
    "REQUEST_KEY_HEADER",
    "HandshakeError",
    "JiraAppSession",
    "PermitSession",
    "is_throttled",
    "json_or_none",
    "new_http_client",
]
