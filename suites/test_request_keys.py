"""Forge bearer + single-use Jira request keys on every Jira-App route.

Protocol: "The server accepts each Jira request key exactly once, keeps it short-lived, binds it
to the same tenant/session context, and rejects replays", and "Each successful Jira App backend
response rotates X-SeeCodes-Next-Request-Key, invalidates the previous key, and resolves
concurrent races so only one request can consume a given key."

Each test sends one valid minimal request (``ProtocolSteps.jira_call``) with exactly the key and
Forge token it is about, so the key or the token is the only thing wrong, and shows the rightful
call succeeding on that same route (the principal's own current key and valid token): a target
that refuses everyone proves nothing. After a rejection no test assumes the key it carried is
still usable or burnt: the target chooses; tests take fresh keys instead.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets as pysecrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import NoReturn
from urllib.parse import urlencode

import httpx
import pytest

from seecodes_conformance.credentials import (
    CredentialSource,
    CredentialUnavailable,
    Principal,
    TestIssuer,
)
from seecodes_conformance.deferred import Deferred, StateFile, utc
from seecodes_conformance.flows import JIRA_APP_ROUTES, JiraCall, ProtocolSteps, route_id
from seecodes_conformance.flows.expiry import claim_due, defer_expiry, engine_now, verified_note
from seecodes_conformance.flows.jira import assert_accepted
from seecodes_conformance.http import (
    NEXT_KEY_HEADER,
    REQUEST_KEY_HEADER,
    JiraAppSession,
    is_throttled,
    json_or_none,
)
from seecodes_conformance.ids import IdFactory
from seecodes_conformance.oracle import assert_rejected, checked, controlled, fail, throttled
from seecodes_conformance.outcomes import LOG, not_verified
from seecodes_conformance.progress import PROGRESS
from seecodes_conformance.race import PreparedRequest, send_burst
from seecodes_conformance.race.verdict import RaceCampaign, assert_single_winner, loser_headers
from seecodes_conformance.settings import Settings
from seecodes_conformance.target import Target

ROUTES = [pytest.param(route, id=route_id(route)) for route in JIRA_APP_ROUTES]
# The progress read also takes a task permit as bearer, so a permit there is legitimately
# accepted; every other Jira-App route must refuse a permit in place of the Forge token.
FORGE_ONLY_ROUTES = [p for p in ROUTES if p.values[0] != "GET /v1/tasks/{taskId}/progress"]
# Past a key's expiresAt, wait this long too: expiresAt may be rounded down to the second.
EXPIRY_MARGIN_S = 1.5
# A kept key is presented on one plain read: every Jira-App route checks the key alike.
KEPT_KEY_ROUTE = "GET /v1/instances/me"


def _garbage_token() -> str:
    return f"not-a-forge-token.{pysecrets.token_hex(16)}"


def _made_up_key() -> str:
    return pysecrets.token_urlsafe(24)


def _next_key(response: httpx.Response, invariant: str, what: str) -> str:
    """The rotation header a successful key-consuming call owes."""
    next_key = response.headers.get(NEXT_KEY_HEADER)
    if not next_key:
        fail(invariant, f"{what} succeeded without {NEXT_KEY_HEADER}", [response])
    return next_key


def _other_principal(
    jira_factory: Callable[..., JiraAppSession], forge: CredentialSource, invariant: str
) -> JiraAppSession:
    """A second principal in tenant ``a``; not verified where the source has only one."""
    try:
        forge.require_principals(2)
    except CredentialUnavailable as exc:
        not_verified(
            invariant,
            "credentials",
            str(exc),
            "--forge-source=test-issuer (the default), or a token source with two principals "
            "in one tenant",
        )
    return jira_factory("a")


# -- RK-BOOTSTRAP --------------------------------------------------------------------------------


@pytest.mark.invariant("RK-BOOTSTRAP")
@pytest.mark.parametrize("route", ROUTES)
def test_bootstrapped_key_works_on_the_next_call(
    route: str, protocol: ProtocolSteps, jira: JiraAppSession
) -> None:
    call = protocol.jira_call(route, jira)

    response = protocol.bootstrap_response(jira.forge_token())

    what = "POST /v1/jira/request-key with a valid Forge token"
    assert_accepted(response, "RK-BOOTSTRAP", what=what, control=False)
    body = json_or_none(response)
    key = body.get("requestKey") if isinstance(body, dict) else None
    if not isinstance(key, str) or not key:
        fail("RK-BOOTSTRAP", "the bootstrap answered 2xx without a requestKey", [response])
    if not ProtocolSteps.is_number(body.get("expiresAt")):
        fail("RK-BOOTSTRAP", "the bootstrap's expiresAt is not a number", [response])
    used = call.send(jira, key)
    what = f"{route} with the key the bootstrap returned"
    assert_accepted(used, "RK-BOOTSTRAP", what=what, control=False)
    checked("RK-BOOTSTRAP")


# -- FORGE-REQUIRED, PERMIT-NOT-FORGE ------------------------------------------------------------
# A missing, made-up or wrong kind of bearer fails on the bootstrap and on the route, where the
# same principal's valid Forge token then succeeds.


def _rightful_calls(
    protocol: ProtocolSteps, jira: JiraAppSession, call: JiraCall, invariant: str
) -> None:
    """The positive control: with the principal's valid Forge token, the bootstrap and the very
    request the test sent with a bad bearer both succeed."""
    boot = protocol.bootstrap_response(jira.forge_token())
    assert_accepted(boot, invariant, what="POST /v1/jira/request-key with a valid Forge token")
    response = call.send(jira, protocol.own_key(jira))
    assert_accepted(response, invariant, what=f"{call.route} with a valid key and Forge token")


@pytest.mark.invariant("FORGE-REQUIRED")
@pytest.mark.parametrize("route", ROUTES)
def test_forge_token_required(route: str, protocol: ProtocolSteps, jira: JiraAppSession) -> None:
    """Without a Forge bearer (or with garbage) neither the bootstrap nor a keyed call works."""
    call = protocol.jira_call(route, jira)

    for label, token in (("no Authorization", None), ("a garbage bearer", _garbage_token())):
        boot = protocol.bootstrap_response(token)
        assert_rejected(boot, "FORGE-REQUIRED", what=f"POST /v1/jira/request-key with {label}")

        key = protocol.own_key(jira)
        response = call.send(jira, key, forge_token=token)

        what = f"{route} with a valid request key and {label}"
        assert_rejected(response, "FORGE-REQUIRED", what=what)
        protocol.assert_no_usable_next_key(jira, response, what=what)

    _rightful_calls(protocol, jira, call, "FORGE-REQUIRED")


@pytest.mark.invariant("PERMIT-NOT-FORGE")
@pytest.mark.parametrize("route", FORGE_ONLY_ROUTES)
def test_task_permit_is_not_a_forge_token(
    route: str, protocol: ProtocolSteps, jira: JiraAppSession
) -> None:
    call = protocol.jira_call(route, jira)
    permit = protocol.mint_permit(call.task or protocol.new_task(), jira)

    boot = protocol.bootstrap_response(permit.permit)
    assert_rejected(
        boot, "PERMIT-NOT-FORGE", what="POST /v1/jira/request-key with a task permit as bearer"
    )
    key = protocol.own_key(jira)
    response = call.send(jira, key, forge_token=permit.permit)

    what = f"{route} with a valid request key and a task permit as bearer"
    assert_rejected(response, "PERMIT-NOT-FORGE", what=what)
    protocol.assert_no_usable_next_key(jira, response, what=what)
    _rightful_calls(protocol, jira, call, "PERMIT-NOT-FORGE")


@pytest.mark.invariant("PERMIT-NOT-FORGE")
def test_task_permit_with_a_request_key_is_not_the_jira_app(
    protocol: ProtocolSteps, jira: JiraAppSession
) -> None:
    """``GET /v1/tasks/{taskId}/progress`` takes a task permit, or the Forge token plus a request
    key: a permit presented in the Jira App's form must not read what only the Jira App may.

    The neighbour task shares the project, tenant and principal with the permit's own pair, and
    holds a stored progress document, so only the bearer's kind decides.
    """
    call = protocol.jira_call("GET /v1/tasks/{taskId}/progress", jira)  # the stored document
    assert call.task is not None
    own = protocol.new_task(call.task.project_id, number=2)  # same project, another task
    permit = protocol.mint_permit(own, jira)

    key = protocol.own_key(jira)
    response = call.send(jira, key, forge_token=permit.permit)

    what = (
        f"{call.route} of another task of the permit's project, with a valid request key and "
        "a task permit as bearer"
    )
    assert_rejected(response, "PERMIT-NOT-FORGE", what=what)
    protocol.assert_no_usable_next_key(jira, response, what=what)
    _rightful_calls(protocol, jira, call, "PERMIT-NOT-FORGE")


# -- RK-REQUIRED ---------------------------------------------------------------------------------


@pytest.mark.invariant("RK-REQUIRED")
@pytest.mark.parametrize("route", ROUTES)
def test_missing_or_made_up_key_rejected(
    route: str, protocol: ProtocolSteps, jira: JiraAppSession
) -> None:
    call = protocol.jira_call(route, jira)
    jira.fresh_key()  # the principal has a current key, so "no key" is not "no chain yet"

    for label, key in (("no request key", None), ("a made-up request key", _made_up_key())):
        response = call.send(jira, key)

        what = f"{route} with a valid Forge token and {label}"
        assert_rejected(response, "RK-REQUIRED", what=what)
        protocol.assert_no_usable_next_key(jira, response, what=what)

    rightful = call.send(jira, protocol.own_key(jira))
    assert_accepted(rightful, "RK-REQUIRED", what=f"{route} with a fresh key of the principal")


# -- RK-ROTATION, RK-REPLAY, RK-NO-NEXT-ON-REJECT ------------------------------------------------
# A key's first use succeeds on the route (the control) and its later uses there fail.


@pytest.mark.invariant("RK-ROTATION", "RK-REPLAY")
@pytest.mark.parametrize("route", ROUTES)
def test_success_rotates_to_a_next_key_that_works_once(
    route: str, protocol: ProtocolSteps, jira: JiraAppSession
) -> None:
    call = protocol.jira_call(route, jira)
    first = protocol.own_key(jira)

    accepted = call.send(jira, first)
    what = f"{route} with a freshly bootstrapped key"
    assert_accepted(accepted, "RK-BOOTSTRAP", what=what, control=False)
    following = _next_key(accepted, "RK-ROTATION", f"{route} with a fresh key")

    again = call.send(jira, following)
    what = f"{route} with the {NEXT_KEY_HEADER} just received"
    assert_accepted(again, "RK-ROTATION", what=what, control=False)
    _next_key(again, "RK-ROTATION", f"{route} with a rotated key")

    replay = call.send(jira, following)
    assert_rejected(replay, "RK-ROTATION", what=f"a second use of a rotated key on {route}")
    stale = call.send(jira, first)
    assert_rejected(stale, "RK-REPLAY", what=f"the key consumed two rotations ago, on {route}")
    # Each refused key had succeeded once on this very route: the next key, and the first one.
    controlled("RK-ROTATION", "RK-REPLAY")


@pytest.mark.invariant("RK-REPLAY", "RK-NO-NEXT-ON-REJECT")
@pytest.mark.parametrize("route", ROUTES)
def test_consumed_key_rejected_without_a_usable_next_key(
    route: str, protocol: ProtocolSteps, jira: JiraAppSession
) -> None:
    call = protocol.jira_call(route, jira)
    key = protocol.own_key(jira)
    first_use = call.send(jira, key)
    assert_accepted(first_use, "RK-BOOTSTRAP", what=f"{route} with a fresh key", control=False)

    replay = call.send(jira, key)

    what = f"a replay of a consumed key on {route}"
    assert_rejected(replay, "RK-REPLAY", what=what)
    controlled("RK-REPLAY")  # the key's first use succeeded on this very route
    protocol.assert_no_usable_next_key(jira, replay, "RK-NO-NEXT-ON-REJECT", what=what)


# -- RK-TENANT-BINDING, RK-SESSION-BINDING -------------------------------------------------------
# A current key of someone else is refused on the route; the principal's own key succeeds there.


@pytest.mark.invariant("RK-TENANT-BINDING")
@pytest.mark.parametrize("route", ROUTES)
def test_key_of_another_tenant_rejected(
    route: str,
    protocol: ProtocolSteps,
    jira: JiraAppSession,
    jira_factory: Callable[..., JiraAppSession],
) -> None:
    """The foreign key is the same person's, in tenant b (one account in two installations):
    only the tenant tells it apart, so a binding to the account alone is caught. Both ways
    round (b's key in a, then a's key in b): the binding must not depend on which installation
    the target happens to order first."""
    other = jira_factory("b", jira.who.name)
    for caller, owner in ((jira, other), (other, jira)):
        mine, theirs = caller.who.tenant, owner.who.tenant
        call = protocol.jira_call(route, caller)
        foreign = protocol.own_key(owner)

        response = call.send(caller, foreign)

        what = (
            f"{route} with a tenant-{mine} Forge token and the same person's tenant-{theirs}"
            " request key"
        )
        assert_rejected(response, "RK-TENANT-BINDING", what=what)
        protocol.assert_no_usable_next_key(caller, response, what=what)
        rightful = call.send(caller, protocol.own_key(caller))
        what = f"{route} with tenant {mine}'s own key"
        assert_accepted(rightful, "RK-TENANT-BINDING", what=what)


@pytest.mark.invariant("RK-SESSION-BINDING")
@pytest.mark.parametrize("route", ROUTES)
def test_key_of_another_principal_rejected(
    route: str,
    protocol: ProtocolSteps,
    jira: JiraAppSession,
    jira_factory: Callable[..., JiraAppSession],
    forge: CredentialSource,
) -> None:
    other = _other_principal(jira_factory, forge, "RK-SESSION-BINDING")
    call = protocol.jira_call(route, jira)
    foreign = protocol.own_key(other)

    response = call.send(jira, foreign)

    what = f"{route} with one principal's Forge token and another principal's request key"
    assert_rejected(response, "RK-SESSION-BINDING", what=what)
    protocol.assert_no_usable_next_key(jira, response, what=what)
    rightful = call.send(jira, protocol.own_key(jira))
    assert_accepted(rightful, "RK-SESSION-BINDING", what=f"{route} with the principal's own key")


# -- RK-EXPIRY -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Expired:
    jira: JiraAppSession
    call: JiraCall
    key: str
    expired_after: float  # monotonic time past its expiresAt (and the margin)


class _ExpiredKeys:
    """Keys left unused until past their expiresAt, one per route.

    With a source that has many principals, every route's key belongs to a principal of its own
    (a context has one current key), so a single bounded wait serves all routes; otherwise each
    route bootstraps and waits on its own.
    """

    def __init__(
        self,
        protocol: ProtocolSteps,
        max_wait: float,
        batch: bool,
        state: StateFile | None = None,
        run_prefix: str = "",
    ) -> None:
        self.protocol = protocol
        self.max_wait = max_wait
        self.batch = batch
        self.ready: dict[str, _Expired] = {}
        self.lifetime: float | None = None  # set once a key outlives --max-wait
        # With --state-file, one such key is kept for a later run (the first that outlived it).
        self.state = state
        self.run_prefix = run_prefix
        self.unstored: Deferred | None = None

    def get(self, route: str) -> _Expired:
        if self.lifetime is not None:
            self._too_long(self.lifetime)
        if route not in self.ready:
            routes = [r for r in JIRA_APP_ROUTES if r not in self.ready] if self.batch else [route]
            for other in routes:  # may stop part-way (throttled): what is ready keeps its time
                self._prepare(other)
        expired = self.ready.pop(route)
        # Each key's own moment, even when the batch that prepared it stopped before its wait.
        PROGRESS.sleep(
            expired.expired_after - time.monotonic(), "request keys to expire (RK-EXPIRY)"
        )
        return expired

    def _prepare(self, route: str) -> float:
        """Bootstrap a key for ``route``; the monotonic time after which it has expired."""
        jira = self.protocol.jira("a")
        call = self.protocol.jira_call(route, jira)
        response = jira.bootstrap()
        if is_throttled(response.status_code, response.headers):
            throttled(response, "RK-EXPIRY", "bootstrapping a key to let it expire")
        key = jira.take_key() if jira.current_key else None
        body = json_or_none(response)
        expires_at = body.get("expiresAt") if isinstance(body, dict) else None
        if key is None or not isinstance(expires_at, int | float) or isinstance(expires_at, bool):
            fail(
                "RK-BOOTSTRAP",
                "the bootstrap returned no requestKey with a numeric expiresAt",
                [response],
            )
        # The key's lifetime is the target's choice ("keeps it short-lived"): expiry is verified
        # when it fits in --max-wait, and otherwise reported unverified with the lifetime seen.
        lifetime = expires_at - ProtocolSteps.server_time(response)  # epoch seconds
        wait = lifetime + EXPIRY_MARGIN_S
        if wait > self.max_wait:
            self.lifetime = lifetime
            # Only a principal of this run's own has no later key to displace this one, so a
            # later refusal can be about expiry alone: with a shared principal, keep nothing.
            if self.batch and self.unstored is None:
                who = jira.who
                context = {"tenant": who.tenant, "principal": who.name, "route": KEPT_KEY_ROUTE}
                self.unstored = Deferred(
                    kind="request-key", invariant="RK-EXPIRY", credential=key,
                    expires_at=expires_at, minted_at=ProtocolSteps.server_time(response),
                    run_prefix=self.run_prefix, context=context,
                )  # fmt: skip
            self._too_long(lifetime)
        expired_after = time.monotonic() + max(wait, 0.0)
        self.ready[route] = _Expired(jira, call, key, expired_after)
        return expired_after

    def _too_long(self, lifetime: float) -> NoReturn:
        detail = (
            f"request keys live {lifetime:.0f} s here; waiting past one's expiresAt exceeds "
            f"--max-wait {self.max_wait:.0f} s"
        )
        configure = (
            f"--max-wait {lifetime + EXPIRY_MARGIN_S + 1:.0f}, or shorter request-key lifetimes "
            "in the target's configuration"
        )
        entry, self.unstored = self.unstored, None
        if entry is not None:  # the first route kept a key (or says how one would be kept)
            defer_expiry(self.state, entry, detail=detail, configure=configure)
        not_verified("RK-EXPIRY", "lifetime", detail, configure)


@pytest.fixture(scope="module")
def expired_keys(
    http: httpx.Client,
    forge: CredentialSource,
    ids: IdFactory,
    seecodes_settings: Settings,
    deferred_state: StateFile | None,
    run_prefix: str,
    _handshake: None,
) -> Iterator[_ExpiredKeys]:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    protocol = ProtocolSteps.standalone(
        http=http,
        forge=forge,
        ids=ids,
        settings=seecodes_settings,
        owner=f"{__name__}:expiry:{worker}",
    )
    batch = forge.principals_per_tenant is None
    yield _ExpiredKeys(protocol, seecodes_settings.max_wait, batch, deferred_state, run_prefix)


@pytest.mark.invariant("RK-EXPIRY")
@pytest.mark.parametrize("route", ROUTES)
def test_expired_key_rejected(
    route: str, expired_keys: _ExpiredKeys, protocol: ProtocolSteps
) -> None:
    expired = expired_keys.get(route)

    response = expired.call.send(expired.jira, expired.key)

    what = f"{route} with a request key past its expiresAt"
    assert_rejected(response, "RK-EXPIRY", what=what)
    # Only now a fresh key: bootstrapping earlier would have made the expired key not current.
    rightful = expired.call.send(expired.jira, protocol.own_key(expired.jira))
    assert_accepted(rightful, "RK-EXPIRY", what=f"{route} with the principal's fresh key")
    protocol.assert_no_usable_next_key(expired.jira, response, what=what)


def _kept_key_session(
    issuer: TestIssuer, protocol: ProtocolSteps, entry: Deferred
) -> JiraAppSession:
    """The session context a kept key was bound to: the earlier run's principal, whose Forge
    tokens the test issuer signs again from that run's prefix."""
    who = Principal(entry.context["tenant"], entry.context["principal"])
    source = dataclasses.replace(issuer, run_id=entry.run_prefix)
    return JiraAppSession(protocol.http, lambda: source.token(who), who)


@pytest.mark.invariant("RK-EXPIRY")
def test_key_kept_by_an_earlier_run_is_rejected_after_expiry(
    protocol: ProtocolSteps, forge: CredentialSource, deferred_state: StateFile | None
) -> None:
    """Request keys an earlier run kept in the state file (each the last key its principal was
    given), now past expiresAt + 60 s by the target's clock, are each sent once, with a valid
    Forge token of that principal, and must be refused; that principal's fresh key then works."""
    if not isinstance(forge, TestIssuer):
        not_verified("RK-EXPIRY", "credentials", "request keys kept by an earlier run need "
                     "that run's principals, which only the test issuer signs again",
                     "--forge-source=test-issuer (the default)")  # fmt: skip
    due = claim_due(deferred_state, "request-key", "RK-EXPIRY", engine_now(protocol.http))
    for index, entry in enumerate(due):
        jira = _kept_key_session(forge, protocol, entry)
        call = protocol.jira_call(KEPT_KEY_ROUTE, jira)
        response = call.send(jira, entry.credential)
        if is_throttled(response.status_code, response.headers) and deferred_state is not None:
            for unsent in due[index:]:
                deferred_state.add(unsent)  # not now: stays pending for the next run
            throttled(response, "RK-EXPIRY", "presenting a request key kept by an earlier run")
        rightful = call.send(jira, protocol.own_key(jira))
        fresh = f"{KEPT_KEY_ROUTE} with the principal's fresh key"
        assert_accepted(rightful, "RK-EXPIRY", what=fresh)
        what = f"a request key kept since {utc(entry.minted_at)}, expired {utc(entry.expires_at)}"
        assert_rejected(response, "RK-EXPIRY", what=what)
        LOG.note("RK-EXPIRY", verified_note(entry))


# -- RK-RACE -------------------------------------------------------------------------------------


@pytest.mark.invariant("RK-RACE")
@pytest.mark.parametrize("route", ROUTES)
def test_concurrent_uses_of_one_key_have_exactly_one_winner(
    route: str,
    protocol: ProtocolSteps,
    jira: JiraAppSession,
    target: Target,
    seecodes_settings: Settings,
) -> None:
    """Every Jira-App route resolves the race: a target may lock only the routes it thought of.

    Routes with a JSON body are released by their last body byte, bodiless ones by their last
    header byte (the burst reports which technique it used).
    """
    settings = seecodes_settings
    size, bursts = settings.race_size, settings.race_bursts
    call = protocol.jira_call(route, jira)
    body = json.dumps(call.json).encode() if call.json is not None else b""
    path = call.path + (f"?{urlencode(call.params)}" if call.params else "")

    campaign = RaceCampaign("RK-RACE", wanted=bursts)
    for burst in campaign:
        key = protocol.own_key(jira)
        headers = {
            "Authorization": f"Bearer {jira.forge_token()}",  # one valid bearer for all N
            REQUEST_KEY_HEADER: key,
        }
        if body:
            headers["Content-Type"] = "application/json"
        requests = [PreparedRequest(call.method, path, headers, body)] * size

        result = campaign.send(
            send_burst,
            target.base_url,
            requests,
            technique=settings.race_technique,
            timeout=settings.request_timeout,
            tls=settings.tls,
        )
        if result is None or not campaign.conclusive(result):
            continue  # answers began early, or were throttled or refused: proves nothing

        what = f"burst {burst}: {size} concurrent {route} with one request key"
        winner = assert_single_winner(result, "RK-RACE", what=what)
        # The winner's next key works exactly once (checked before any loser key is tried).
        following = result.responses[winner].header(NEXT_KEY_HEADER)
        if not following:
            fail("RK-ROTATION", f"{what}: the winning request carried no {NEXT_KEY_HEADER}")
        first_use = protocol.key_probe(jira, following)
        assert_accepted(first_use, "RK-RACE", what=f"{what}: the winner's next key")
        second_use = protocol.key_probe(jira, following)
        assert_rejected(
            second_use, "RK-RACE", what=f"{what}: a second use of the winner's next key"
        )
        # Losers got nothing usable.
        for index, loser_key in loser_headers(result, winner, NEXT_KEY_HEADER):
            probe = protocol.key_probe(jira, loser_key)
            if is_throttled(probe.status_code, probe.headers):
                throttled(probe, "RK-RACE", f"{what}: probing loser #{index}'s next key")
            if probe.is_success:
                fail(
                    "RK-RACE",
                    f"{what}: loser #{index} was rejected, yet the "
                    f"{NEXT_KEY_HEADER} it carried works",
                    [probe],
                )
    campaign.finish()
