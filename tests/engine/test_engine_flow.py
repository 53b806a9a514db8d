"""All 24 documented route-method combinations, over real HTTP, under every legal variant.

The variants are grouped (a reject-NNN variant is exclusive, the others combine freely) so the
whole matrix costs a handful of engine starts.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from engine_flow import ROUTES, exercise
from engine_helpers import start_engine
from seecodes_reference_engine.faults import VARIANTS
from test_engine_gateway import GATEWAY_VARIANTS

from seecodes_conformance.http import new_http_client

CONFIGURATIONS: dict[str, tuple[str, ...]] = {
    "default": (),
    "reject-401": ("reject-401", "error-ok-false", "opaque-permits", "burn-key-on-reject"),
    "reject-403": (
        "reject-403",
        "alt-token-formats",
        "extra-fields",
        "production-lifetimes",
        "problem-json-errors",
    ),
    "reject-404": ("reject-404", "lowercase-headers", "burn-code-on-mismatch", "telemetry-501"),
    "reject-409": (
        "reject-409",
        "context-not-found-200",
        "short-key-lifetime",
        "fractional-numbers",
    ),
    "own-statuses": (
        "omit-optional-fields",
        "fastapi-openapi",
        "per-user-board",
        "vscode-code-only",
    ),
    "reject-410": ("reject-410", "http2", "opaque-permits", "alt-token-formats"),
}


def test_configurations_cover_every_variant() -> None:
    """The gateway variants answer "not now" for a share of requests: they are proven in
    test_engine_gateway.py, not by a route walk that expects every answer."""
    covered = {name for names in CONFIGURATIONS.values() for name in names}
    assert covered | GATEWAY_VARIANTS == set(VARIANTS)
    assert not covered & GATEWAY_VARIANTS


@pytest.mark.parametrize("variants", list(CONFIGURATIONS.values()), ids=list(CONFIGURATIONS))
def test_every_route_honours_the_protocol(variants: tuple[str, ...]) -> None:
    with start_engine(variants=variants) as engine:
        h2 = "http2" in variants
        # The harness's client speaks HTTP/1.1 only; h2c prior knowledge needs httpx's own.
        client = (
            httpx.Client(base_url=engine.base_url, timeout=10.0, http1=False, http2=True)
            if h2
            else new_http_client(engine.base_url)
        )
        with client:
            seen = exercise(client)
            if h2:
                assert client.get("/healthz").http_version == "HTTP/2"
        if h2:  # HTTP/1.1 answers on the same port
            assert httpx.get(engine.base_url + "/healthz").http_version == "HTTP/1.1"
    assert seen == set(ROUTES), sorted(set(ROUTES) - seen)
    assert len(ROUTES) == 24


def test_header_casing(engine_default_url: str) -> None:
    """Canonical casing on the wire by default (HTTP/1.1 keeps what the server writes)."""
    import socket

    host, port = engine_default_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(b"POST /v1/jira/request-key HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        head = sock.recv(4096).split(b"\r\n\r\n")[0]
    assert b"\r\nContent-Type: application/json" in head


@pytest.fixture(scope="module")
def engine_default_url() -> Iterator[str]:
    with start_engine() as engine:
        yield engine.base_url


def test_error_and_number_variants_change_only_the_presentation() -> None:
    """problem-json-errors, telemetry-501 and fractional-numbers do what the harness must
    accept: problem documents, a 501 from the disabled route only, whole numbers as floats."""
    variants = ("problem-json-errors", "telemetry-501", "fractional-numbers")
    with start_engine(variants=variants) as engine, new_http_client(engine.base_url) as http:
        refused = http.get("/v1/instances/me")
        assert refused.status_code == 401
        assert refused.headers["content-type"].startswith("application/problem+json")
        problem = refused.json()
        assert problem["status"] == 401 and problem["title"] == "Unauthorized"
        assert problem["type"] and problem["detail"]
        telemetry = http.post("/v1/jira/telemetry/events", json={"events": []})
        assert telemetry.status_code == 501 and telemetry.json()["detail"]
        assert http.post("/v1/jira/instance-metrics", json={}).status_code == 401
        models = http.get("/v1/models")
        assert '"maxContext":100000.0' in models.text
