"""Resolve the target and prove, within seconds, that it speaks the protocol.

An unreachable target, a missing or non-JSON ``/openapi.json`` or refused credentials end the
session with one message that says what was tried, what came back and what to check.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import Any

import httpx

from seecodes_conformance.engine_process import EngineProcess
from seecodes_conformance.http import new_http_client
from seecodes_conformance.tls import TlsConfig, TlsSetupError

# pytest's own exit codes are 0-5; this one means "outage or not the protocol", not "regression".
EXIT_TARGET_UNAVAILABLE = 7
PROBE_TIMEOUT_S = 3.0


def version_claim(info_version: object, checked: str) -> str | None:
    """What the target's ``info.version`` means for a run that checks protocol ``checked``:
    None when they agree, otherwise one line for the terminal and the reports.

    The harness checks one protocol version; a target claiming another is checked against that
    one all the same (a warning, not a stop), and its verdicts say nothing about what the other
    version changed. Certification requires the claims to agree.
    """
    if info_version == checked:
        return None
    if not isinstance(info_version, str) or not info_version.strip():
        return (
            f"the target's /openapi.json states no info.version; this run checks protocol {checked}"
        )
    return (
        f"the target claims protocol {info_version} (/openapi.json info.version); this run checks "
        f"{checked}: its verdicts say nothing about what {info_version} changed, and it cannot "
        "certify the target"
    )


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
    base_url: str,
    *,
    tls: TlsConfig | None = None,
    verify: bool | str | None = None,
    timeout: float = PROBE_TIMEOUT_S,
) -> dict[str, Any]:
    """GET /healthz and /openapi.json; return the OpenAPI document or raise TargetUnavailable.

    ``tls``: the run's TLS configuration; ``verify``: its older form (True, False, CA path).
    """
    url = base_url.rstrip("/")
    config = TlsConfig.coerce(tls if tls is not None else verify)
    try:
        with new_http_client(url, timeout=timeout, tls=config) as client:
            health = client.get("/healthz")
            doc_response = client.get("/openapi.json")
    except TlsSetupError as exc:
        raise TargetUnavailable(f"cannot set up TLS for {_origin(url)}: {exc}") from None
    except httpx.HTTPError as exc:
        tls_failure = _tls_failure(exc, url, config)
        if tls_failure:
            raise TargetUnavailable(tls_failure) from None
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


def _origin(url: str) -> str:
    """scheme://host[:port] of ``url`` (no default port), without userinfo, path or query."""
    parsed = httpx.URL(url)
    host = f"[{parsed.host}]" if ":" in parsed.host else parsed.host
    port = f":{parsed.port}" if parsed.port is not None else ""
    return f"{parsed.scheme}://{host}{port}"


def _tls_failure(exc: httpx.HTTPError, url: str, tls: TlsConfig) -> str | None:
    """One message for a failed TLS handshake, naming the origin and what to change."""
    cause: BaseException | None = exc
    seen = 0
    while cause is not None and not isinstance(cause, ssl.SSLError) and seen < 10:
        cause, seen = cause.__cause__ or cause.__context__, seen + 1
    if not isinstance(cause, ssl.SSLError):
        return None
    origin = _origin(url)
    if isinstance(cause, ssl.SSLCertVerificationError):
        reason = cause.verify_message or cause.reason or "verification failed"
        return (
            f"TLS certificate of {origin} not trusted: {reason} ({tls.describe()})\n"
            "  check: trust the CA that signed it with --ca-bundle FILE (PEM), or, for a "
            "staging target only, skip verification with --tls-verify 0"
        )
    return (
        f"TLS handshake with {origin} failed: {cause.reason or cause} ({tls.describe()})\n"
        "  check: a target that requires a client certificate needs --client-cert FILE "
        "(and --client-key FILE); that the origin speaks TLS at all (https:// vs http://)"
    )
