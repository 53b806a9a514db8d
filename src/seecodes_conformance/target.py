"""Resolve the target and prove, within seconds, that it speaks the protocol.

An unreachable target, a missing or non-JSON ``/openapi.json`` or refused credentials end the
session with one message that says what was tried, what came back and what to check.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from seecodes_conformance.engine_process import EngineProcess
from seecodes_conformance.http import new_http_client

# pytest's own exit codes are 0-5; this one means "outage or not the protocol", not "regression".
EXIT_TARGET_UNAVAILABLE = 7
PROBE_TIMEOUT_S = 3.0


class TargetUnavailable(Exception):
    """The target cannot be tested at all; the message is meant for a person."""


@dataclass
class Target:
    base_url: str
    openapi: dict[str, Any]
    engine: EngineProcess | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def embedded(self) -> bool:
        return self.engine is not None


def probe(
    base_url: str, *, verify: bool = True, timeout: float = PROBE_TIMEOUT_S
) -> dict[str, Any]:
    """GET /healthz and /openapi.json; return the OpenAPI document or raise TargetUnavailable."""
    url = base_url.rstrip("/")
    try:
        with new_http_client(url, timeout=timeout, verify=verify) as client:
            health = client.get("/healthz")
            doc_response = client.get("/openapi.json")
    except httpx.HTTPError as exc:
        raise TargetUnavailable(
            f"cannot reach the target at {url}: {type(exc).__name__}: {exc}\n"
            "  tried: GET /healthz\n"
            "  check: the --base-url (scheme, host, port) and that the engine is running"
        ) from None
    if health.status_code != 200:
        raise TargetUnavailable(
            f"GET {url}/healthz answered {health.status_code}, not 200\n"
            "  check: that --base-url points at a SeeCodes Execution Engine (not a proxy page)"
        )
    if doc_response.status_code != 200:
        raise TargetUnavailable(
            f"GET {url}/openapi.json answered {doc_response.status_code}; the harness loads the "
            "target's own OpenAPI document\n  check: that the target publishes /openapi.json"
        )
    try:
        doc = doc_response.json()
    except ValueError:
        kind = doc_response.headers.get("content-type", "unknown")
        raise TargetUnavailable(
            f"GET {url}/openapi.json did not return JSON (content-type {kind})\n"
            "  check: that --base-url points at the engine itself"
        ) from None
    if not isinstance(doc, dict) or "openapi" not in doc or "paths" not in doc:
        raise TargetUnavailable(
            f"GET {url}/openapi.json returned JSON that is not an OpenAPI document"
        )
    return doc
