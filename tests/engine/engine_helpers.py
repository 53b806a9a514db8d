"""Helpers for the reference engine's own tests: token minting, a small Jira-App client, engines.

Forge tokens come from ONE helper, `forge_token`, backed by the harness's TestIssuer, so these
tests sign exactly what the conformance suites sign.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from seecodes_conformance.credentials import Principal, TestIssuer
from seecodes_conformance.engine_process import EngineProcess

KEY_HEADER = "X-SeeCodes-Jira-Request-Key"
NEXT_HEADER = "X-SeeCodes-Next-Request-Key"

_ISSUER = TestIssuer(run_id="eng" + uuid.uuid4().hex[:8])


_CACHE: dict[tuple[str, str], tuple[float, str]] = {}
_REUSE_S = 120.0


def forge_token(tenant: str = "a", name: str = "p1", **claim_overrides: Any) -> str:
    """A valid Forge-shaped token for principal `name` of tenant `tenant` (the one mint helper).

    Signing costs ~0.3 s here (the issuer re-reads its PEM key each time), so plain tokens are
    reused for two minutes; tokens are not single-use, and they live five.
    """
    who = Principal(tenant, name)
    cached = _CACHE.get((tenant, name))
    if not claim_overrides and cached and time.monotonic() - cached[0] < _REUSE_S:
        return cached[1]
    claims = _ISSUER.claims(who)
    claims.update(claim_overrides)
    token = _ISSUER.sign(claims)
    if not claim_overrides:
        _CACHE[(tenant, name)] = (time.monotonic(), token)
    return token


def installation_id(tenant: str = "a") -> str:
    return _ISSUER.identity(Principal(tenant)).installation_id


def issuer() -> TestIssuer:
    return _ISSUER


def new_pair() -> tuple[str, str]:
    """Fresh Jira-looking ids, so tests never share state."""
    letters = "".join(chr(ord("A") + b % 26) for b in uuid.uuid4().bytes[:4])
    project = "T" + letters
    return project, f"{project}-{uuid.uuid4().int % 9000 + 1}"


def rejected(response: httpx.Response) -> bool:
    return 400 <= response.status_code < 500


@dataclass
class Jira:
    """A Jira-App session: Forge token per call, the current request key rotated on success."""

    http: httpx.Client
    tenant: str = "a"
    name: str = "p1"
    key: str | None = None
    history: list[httpx.Response] = field(default_factory=list)
    max_key_age: float | None = None  # re-bootstrap older keys (short-key-lifetime engines)
    key_at: float = 0.0

    def bootstrap(self) -> str:
        response = self.http.post(
            "/v1/jira/request-key",
            headers={"Authorization": f"Bearer {forge_token(self.tenant, self.name)}"},
            json={},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["ok"] is True and isinstance(body["requestKey"], str)
        self.key = body["requestKey"]
        self.key_at = time.monotonic()
        return self.key

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One call with the current key; takes the next key when one is handed out."""
        stale = self.max_key_age is not None and time.monotonic() - self.key_at > self.max_key_age
        if self.key is None or stale:
            self.bootstrap()
        headers = dict(kwargs.pop("headers", {}))
        headers.setdefault("Authorization", f"Bearer {forge_token(self.tenant, self.name)}")
        headers[KEY_HEADER] = str(self.key)
        response = self.http.request(method, path, headers=headers, **kwargs)
        self.history.append(response)
        next_key = response.headers.get(NEXT_HEADER)
        if response.is_success:
            assert next_key, f"{method} {path} succeeded without a next request key"
            self.key = next_key
            self.key_at = time.monotonic()
        else:
            assert next_key is None, f"{method} {path} was rejected but handed out a next key"
        return response

    def permit(self, project: str, task: str) -> str:
        response = self.call(
            "POST",
            "/v1/security/task-permit",
            json={"projectId": project, "taskId": task, "userAccountId": "557058:test"},
        )
        assert response.status_code == 200, response.text
        return str(response.json()["permit"])

    def launch_code(self, project: str, task: str, **extra: Any) -> dict[str, Any]:
        response = self.call(
            "POST",
            "/v1/security/vscode-link",
            json={"projectId": project, "taskId": task, "userAccountId": "557058:test", **extra},
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def start_engine(
    *,
    faults: Sequence[str] = (),
    variants: Sequence[str] = (),
    workers: int = 1,
    database: str | None = None,
    extra_args: Sequence[str] = (),
) -> EngineProcess:
    """Not started yet: use as a context manager."""
    return EngineProcess(
        faults=faults,
        variants=variants,
        workers=workers,
        database=database,
        extra_args=("--run-step", "0.05", *extra_args),
    )
