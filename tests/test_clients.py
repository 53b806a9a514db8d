"""The Jira-App session's key chain, against a scripted transport (harness machinery only;
the suites never talk to a mock)."""

import itertools
import json

import httpx
import pytest

from seecodes_conformance.credentials import Principal
from seecodes_conformance.http import (
    NEXT_KEY_HEADER,
    REQUEST_KEY_HEADER,
    HandshakeError,
    JiraAppSession,
    json_or_none,
)
from seecodes_conformance.race import BurstResponse
from seecodes_conformance.redaction import SecretRegistry


class ScriptedKeys:
    """Issues keys, accepts each once, answers the next one; records what it saw."""

    def __init__(
        self, lifetime: float = 300.0, refuse_bootstrap: bool = False, burn_on_reject: bool = False
    ) -> None:
        self.counter = itertools.count(1)
        self.valid: set[str] = set()
        self.seen: list[str | None] = []
        self.bootstraps = 0
        self.lifetime = lifetime
        self.refuse_bootstrap = refuse_bootstrap
        self.burn_on_reject = burn_on_reject  # a rejection for the body uses up the key too

    def _new(self) -> str:
        key = f"key-number-{next(self.counter):04d}"
        self.valid.add(key)
        return key

    def __call__(self, request: httpx.Request) -> httpx.Response:
        import time

        if request.url.path == "/v1/jira/request-key":
            self.bootstraps += 1
            if self.refuse_bootstrap:
                return httpx.Response(401, json={"detail": "no"})
            self.valid.clear()
            return httpx.Response(
                200,
                json={
                    "ok": True,
                    "requestKey": self._new(),
                    "expiresAt": time.time() + self.lifetime,
                },
            )
        key = request.headers.get(REQUEST_KEY_HEADER)
        self.seen.append(key)
        if key not in self.valid:
            return httpx.Response(401, json={"detail": "bad key"})
        if request.method == "POST" and not json.loads(request.content or b"{}"):
            if self.burn_on_reject:
                self.valid.discard(key)
            return httpx.Response(422, json={"detail": "empty body"})
        self.valid.discard(key)
        return httpx.Response(200, json={"ok": True}, headers={NEXT_KEY_HEADER: self._new()})


def _session(server: ScriptedKeys) -> tuple[JiraAppSession, SecretRegistry]:
    registry = SecretRegistry()
    client = httpx.Client(base_url="http://target", transport=httpx.MockTransport(server))
    return JiraAppSession(client, lambda: "forge-token-value", Principal("a"), registry), registry


def test_each_call_uses_the_key_the_previous_one_returned() -> None:
    server = ScriptedKeys()
    session, _ = _session(server)
    for _ in range(5):
        assert session.get("/v1/instances/me").status_code == 200
    assert server.bootstraps == 1
    assert server.seen == [f"key-number-{i:04d}" for i in range(1, 6)]


def test_rejection_forgets_the_key_and_the_next_call_bootstraps() -> None:
    server = ScriptedKeys()
    session, _ = _session(server)
    session.get("/v1/instances/me")
    server.valid.clear()  # the target revoked the current key
    assert session.get("/v1/instances/me").status_code == 401
    assert session.current_key is None
    assert session.get("/v1/instances/me").status_code == 200
    assert server.bootstraps == 2


@pytest.mark.parametrize("burns", [False, True], ids=["key-survives", "key-used-up"])
def test_after_any_rejection_the_session_bootstraps_instead_of_reusing_the_key(
    burns: bool,
) -> None:
    """Whether a rejection uses up its key is the target's choice; the session works either way
    because it never sends a key twice."""
    server = ScriptedKeys(burn_on_reject=burns)
    session, _ = _session(server)
    assert session.post("/v1/jira/instance-metrics", json={}).status_code == 422
    assert session.current_key is None
    assert session.get("/v1/instances/me").status_code == 200
    assert server.bootstraps == 2
    assert len(set(server.seen)) == len(server.seen) == 2


def test_key_close_to_expiry_is_replaced_before_use() -> None:
    server = ScriptedKeys(lifetime=1.0)  # margin min(2, 0.25 s) -> refresh after 0.75 s
    session, _ = _session(server)
    session.bootstrap()
    import time

    time.sleep(0.8)
    assert session.get("/v1/instances/me").status_code == 200
    assert server.bootstraps == 2


def test_max_key_age_replaces_keys_expires_at_would_still_allow() -> None:
    server = ScriptedKeys(lifetime=300.0)
    registry = SecretRegistry()
    client = httpx.Client(base_url="http://target", transport=httpx.MockTransport(server))
    session = JiraAppSession(
        client, lambda: "forge-token-value", Principal("a"), registry, max_key_age=0.2
    )
    assert session.get("/v1/instances/me").status_code == 200  # bootstrap, then one rotation
    import time

    time.sleep(0.3)
    assert session.get("/v1/instances/me").status_code == 200
    assert server.bootstraps == 2


def test_send_with_key_does_not_touch_the_chain() -> None:
    server = ScriptedKeys()
    session, _ = _session(server)
    key = session.fresh_key()
    assert session.send_with_key("made-up-key-value", "GET", "/v1/instances/me").status_code == 401
    assert session.current_key == key


def test_all_keys_are_registered_as_secrets() -> None:
    server = ScriptedKeys()
    session, registry = _session(server)
    response = session.get("/v1/instances/me")
    assert response.headers[NEXT_KEY_HEADER] in registry
    assert "key-number-0001" in registry


def test_refused_bootstrap_raises_a_handshake_error() -> None:
    session, _ = _session(ScriptedKeys(refuse_bootstrap=True))
    with pytest.raises(HandshakeError, match="401"):
        session.get("/v1/instances/me")


def test_bootstrap_sends_the_forge_bearer_and_no_key() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True, "requestKey": "bootstrapped-key-1"})

    client = httpx.Client(base_url="http://t", transport=httpx.MockTransport(handler))
    JiraAppSession(
        client, lambda: "forge-token-value", Principal("a"), SecretRegistry()
    ).bootstrap()
    assert seen[0].headers["Authorization"] == "Bearer forge-token-value"
    assert REQUEST_KEY_HEADER not in seen[0].headers
    assert json.loads(seen[0].content) == {}


def test_json_or_none_parses_json_and_answers_none_otherwise() -> None:
    assert json_or_none(httpx.Response(200, json={"ok": True})) == {"ok": True}
    assert json_or_none(httpx.Response(200, content=b"<html></html>")) is None
    assert json_or_none(httpx.Response(204)) is None
    burst = BurstResponse(status=200, headers=[], body=b"\xff\xfe", sent_at=0.0, received_at=0.0)
    assert json_or_none(burst) is None
