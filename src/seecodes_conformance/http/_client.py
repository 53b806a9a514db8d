"""The plain HTTP client every session wraps; anonymous routes use it directly."""

from __future__ import annotations

from typing import Any, Protocol

import httpx

from seecodes_conformance.http.evidence import TRANSCRIPT
from seecodes_conformance.http.traffic import TRAFFIC
from seecodes_conformance.tls import TlsConfig


def new_http_client(
    base_url: str,
    *,
    timeout: float = 10.0,
    tls: TlsConfig | None = None,
    verify: bool | str | None = None,
) -> httpx.Client:
    """A client that records every exchange (redacted on output) and never follows redirects.

    Requests go through ``TRAFFIC``: counted against the budget, paced to the rate ceiling, with
    response bodies capped in size and read within ``timeout``. ``tls``: the run's TLS
    configuration (``Settings.tls``); ``verify`` is its older form (True, False or a CA bundle
    path), accepted when ``tls`` is not given. Raises TlsSetupError for an unusable TLS file.
    """
    if tls is not None and verify is not None:
        raise TypeError("new_http_client takes tls= or verify=, not both")
    httpx_verify = TlsConfig.coerce(tls if tls is not None else verify).httpx_verify()
    return httpx.Client(
        base_url=base_url,
        timeout=timeout,
        verify=httpx_verify,
        follow_redirects=False,
        transport=TRAFFIC.transport(verify=httpx_verify, deadline=timeout),
        event_hooks={
            "request": [TRAFFIC.on_request],
            "response": [TRAFFIC.on_response, TRANSCRIPT.record],
        },
        headers={"User-Agent": "seecodes-conformance"},
    )


class _JsonAnswer(Protocol):
    def json(self) -> Any: ...


def json_or_none(response: _JsonAnswer) -> Any:
    """The parsed JSON body, or None when there is none (not JSON, empty, not UTF-8).

    Any answer with a ``json()`` method: HTTP client responses and race bursts alike.
    """
    try:
        return response.json()
    except ValueError:
        return None
