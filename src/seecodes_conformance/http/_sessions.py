"""The sessions that speak the protocol's two credentialed access patterns.

- ``JiraAppSession``: Forge bearer token plus the single-use request key, rotated from
  ``X-SeeCodes-Next-Request-Key`` on every success and re-bootstrapped after a rejection.
- ``PermitSession``: the task permit as bearer, for /v1/tasks/* and /v1/projects/*/indexes/*.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from seecodes_conformance.credentials import Principal
from seecodes_conformance.http._client import json_or_none
from seecodes_conformance.http._headers import BOOTSTRAP_PATH, NEXT_KEY_HEADER, REQUEST_KEY_HEADER
from seecodes_conformance.ids import TaskRef
from seecodes_conformance.redaction import REGISTRY, SecretRegistry


class HandshakeError(RuntimeError):
    """The request-key bootstrap failed: the target refused the Forge credentials."""


class JiraAppSession:
    """The Jira App's side of the request-key handshake for one principal.

    One current key per session context (installation + principal): the session never lends
    its key to two requests at once, and it gives up a key as soon as it sends it.
    """

    def __init__(
        self,
        http: httpx.Client,
        forge_token: Callable[[], str],
        who: Principal,
        secrets: SecretRegistry = REGISTRY,
        *,
        max_key_age: float | None = None,
    ) -> None:
        self.http = http
        self.forge_token = forge_token
        self.who = who
        self.secrets = secrets
        # Re-bootstrap keys older than this even if expiresAt allows more: `expiresAt` has
        # whole-second precision, too coarse for a target configured with second-long keys.
        self.max_key_age = max_key_age
        self._lock = threading.RLock()
        self._key: str | None = None
        self._key_deadline: float | None = None  # monotonic time after which we re-bootstrap
        self._lifetime: float | None = None

    # -- the key chain ---------------------------------------------------------------------
    @property
    def current_key(self) -> str | None:
        return self._key

    def bootstrap(self) -> httpx.Response:
        """``POST /v1/jira/request-key``; on success the returned key becomes current."""
        response = self.http.post(
            BOOTSTRAP_PATH, json={}, headers={"Authorization": f"Bearer {self.forge_token()}"}
        )
        body = json_or_none(response)
        key = body.get("requestKey") if isinstance(body, dict) else None
        if response.is_success and isinstance(key, str) and key:
            self.secrets.add(key, "request-key")
            expires_at = body.get("expiresAt")
            lifetime = None
            if isinstance(expires_at, int | float):
                lifetime = float(expires_at) - time.time()
                if lifetime <= 0:
                    lifetime = None  # clocks disagree; do not guess
            with self._lock:
                self._lifetime = lifetime
                self._set_key(key)
        return response

    def fresh_key(self) -> str:
        """Bootstrap and return the new current key, or raise ``HandshakeError``."""
        response = self.bootstrap()
        if self._key is None:
            raise HandshakeError(
                f"POST {BOOTSTRAP_PATH} for tenant {self.who.tenant!r} answered "
                f"{response.status_code} without a request key"
            )
        return self._key

    def _set_key(self, key: str) -> None:
        self._key = key
        now = time.monotonic()
        deadlines: list[float] = []
        if self._lifetime:
            margin = min(2.0, self._lifetime * 0.25)
            deadlines.append(now + self._lifetime - margin)
        if self.max_key_age is not None:
            deadlines.append(now + self.max_key_age)
        self._key_deadline = min(deadlines, default=None)

    def take_key(self) -> str:
        """Hand out the current key (bootstrapping if none or about to expire) and forget it."""
        with self._lock:
            expired = self._key_deadline is not None and time.monotonic() >= self._key_deadline
            if self._key is None or expired:
                self.fresh_key()
            key, self._key = self._key, None
            assert key is not None
            return key

    def adopt_next_key(self, response: httpx.Response) -> str | None:
        """Register the next key a response carries; make it current if the call succeeded."""
        next_key = response.headers.get(NEXT_KEY_HEADER)
        if next_key:
            self.secrets.add(next_key, "request-key")
            if response.is_success:
                with self._lock:
                    self._set_key(next_key)
        return next_key

    # -- requests --------------------------------------------------------------------------
    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A Jira-App call with the current key; rotates on success, re-bootstraps after."""
        with self._lock:
            key = self.take_key()
            response = self.send_with_key(key, method, path, **kwargs)
            self.adopt_next_key(response)
            return response

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def send_with_key(
        self,
        key: str | None,
        method: str,
        path: str,
        *,
        forge_token: str | None = "",
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send with exactly this key (None: no key header) and this Forge token.

        ``forge_token=""`` (default) uses a fresh valid token, ``None`` sends no Authorization.
        Nothing about the session's own chain changes; tests that misuse keys call this.
        """
        merged = dict(headers or {})
        token = self.forge_token() if forge_token == "" else forge_token
        if token is not None:
            merged["Authorization"] = f"Bearer {token}"
        if key is not None:
            merged[REQUEST_KEY_HEADER] = key
        response = self.http.request(method, path, headers=merged, **kwargs)
        next_key = response.headers.get(NEXT_KEY_HEADER)
        if next_key:
            self.secrets.add(next_key, "request-key")
        return response


class PermitSession:
    """Calls made with a task permit bound to one project/task pair."""

    def __init__(
        self,
        http: httpx.Client,
        permit: str,
        task: TaskRef,
        secrets: SecretRegistry = REGISTRY,
        expires_at: float | None = None,
    ) -> None:
        secrets.add(permit, "permit")
        self.http = http
        self.permit = permit
        self.task = task
        self.expires_at = expires_at

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.permit}"}

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers(), **kwargs.pop("headers", {})}
        return self.http.request(method, path, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)
