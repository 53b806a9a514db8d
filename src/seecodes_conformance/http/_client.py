"""The plain HTTP client every session wraps; anonymous routes use it directly."""

from __future__ import annotations

from typing import Any, Protocol

import httpx

from seecodes_conformance.http.evidence import TRANSCRIPT
from seecodes_conformance.http.traffic import TRAFFIC


def new_http_client(base_url: str, *, timeout: float = 10.0, verify: bool = True) -> httpx.Client:
    """A client that records every exchange (redacted on output) and never follows redirects.

    Requests go through ``TRAFFIC``: counted against the budget, paced to the rate ceiling, with
    response bodies capped in size and read within ``timeout``.
    """
    return httpx.Client(
        base_url=base_url,
        timeout=timeout,
        verify=verify,
        follow_redirects=False,
        transport=TRAFFIC.transport(verify=verify, deadline=timeout),
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
