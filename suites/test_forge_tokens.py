"""Forge bearer tokens: only a valid test-issuer token opens a Forge route; provisioning.

Certification profile §2: "A target must verify the signature against the configured JWKS,
iss, aud, exp and nbf (with at most 60 s of clock skew), and must refuse alg: none and any
algorithm other than the ones in its JWKS." §3: "A target provisions an installation the first
time it sees a valid token for it (as a Forge install event would), in status active with a
positive credit balance."

Negative tokens exist only with the test issuer; with other sources those tests are not
verified, with the reason. Each negative token is refused where the same principal's valid token
succeeds (the same route, the same request); on keyed routes it travels with a currently valid
request key of that principal, so the token is the only thing wrong.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from seecodes_conformance.credentials import CredentialSource, Identity, NegativeToken, TestIssuer
from seecodes_conformance.flows import JIRA_APP_ROUTES, ProtocolSteps, route_id
from seecodes_conformance.flows.jira import assert_accepted
from seecodes_conformance.http import JiraAppSession, is_throttled, json_or_none
from seecodes_conformance.oracle import assert_rejected, checked, fail, throttled
from seecodes_conformance.outcomes import not_verified

INVARIANT_OF = {
    NegativeToken.EXPIRED: "FORGE-EXPIRY",
    NegativeToken.EXPIRED_PAST_SKEW: "FORGE-EXPIRY",
    NegativeToken.NOT_YET_VALID: "FORGE-NOT-BEFORE",
    NegativeToken.NOT_YET_VALID_PAST_SKEW: "FORGE-NOT-BEFORE",
    NegativeToken.HS256_PUBLIC_KEY: "FORGE-ALG-NONE",
    NegativeToken.WRONG_AUDIENCE: "FORGE-AUDIENCE",
    NegativeToken.WRONG_ISSUER: "FORGE-ISSUER",
    NegativeToken.BAD_SIGNATURE: "FORGE-SIGNATURE",
    NegativeToken.UNKNOWN_KID: "FORGE-UNKNOWN-KID",
    NegativeToken.ALG_NONE: "FORGE-ALG-NONE",
    # A bearer that is not a JWS carries no signature to verify; a header whose alg is not a
    # string names no algorithm of the JWKS. Both are refused (4xx), never a server error.
    NegativeToken.NOT_A_JWS: "FORGE-SIGNATURE",
    NegativeToken.ALG_NOT_A_STRING: "FORGE-ALG-NONE",
}
assert set(INVARIANT_OF) == set(NegativeToken), "every negative token needs its invariant"

KINDS = [
    pytest.param(kind, id=kind.value, marks=pytest.mark.invariant(invariant))
    for kind, invariant in INVARIANT_OF.items()
]
ROUTES = [pytest.param(route, id=route_id(route)) for route in JIRA_APP_ROUTES]


# -- FORGE-EXPIRY, -NOT-BEFORE, -AUDIENCE, -ISSUER, -SIGNATURE, -UNKNOWN-KID, -ALG-NONE ----------
# Each negative token is refused on a route where the same principal's valid token then succeeds.


@pytest.mark.parametrize("kind", KINDS)
def test_bootstrap_rejects_negative_token(
    kind: NegativeToken, protocol: ProtocolSteps, jira: JiraAppSession, test_issuer: TestIssuer
) -> None:
    invariant = INVARIANT_OF[kind]
    bad = test_issuer.negative(jira.who, kind)

    refused = protocol.bootstrap_response(bad)
    rightful = jira.bootstrap()  # the same principal's valid token

    what = f"POST /v1/jira/request-key with a Forge token that is {kind.value}"
    assert_rejected(refused, invariant, what=what)
    assert_accepted(rightful, invariant, what="POST /v1/jira/request-key with a valid Forge token")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("route", ROUTES)
def test_jira_app_route_rejects_negative_token(
    route: str,
    kind: NegativeToken,
    protocol: ProtocolSteps,
    jira: JiraAppSession,
    test_issuer: TestIssuer,
) -> None:
    invariant = INVARIANT_OF[kind]
    call = protocol.jira_call(route, jira)
    bad = test_issuer.negative(jira.who, kind)

    key = protocol.own_key(jira)  # valid and current: only the token is wrong

    refused = call.send(jira, key, forge_token=bad)

    what = f"{route} with a valid request key and a Forge token that is {kind.value}"
    assert_rejected(refused, invariant, what=what)
    protocol.assert_no_usable_next_key(jira, refused, what=what)
    rightful = call.send(jira, protocol.own_key(jira))  # the same principal's valid token
    assert_accepted(rightful, invariant, what=f"{route} with a valid key and a valid Forge token")


# -- NO-SERVER-ERROR: a valid token that names no key -------------------------------------------


@pytest.mark.invariant("NO-SERVER-ERROR")
def test_token_without_kid_gets_an_answer_not_a_server_error(
    protocol: ProtocolSteps, jira: JiraAppSession, test_issuer: TestIssuer
) -> None:
    """The profile's tokens name their key (``kid``); this one, signed by the trusted key, names
    none. Choosing the key by algorithm (accept) or insisting on a kid (refuse) are both the
    target's choice; a server error is neither."""
    what = "POST /v1/jira/request-key with a validly signed Forge token whose header has no kid"
    token = test_issuer.without_kid(jira.who)

    response = protocol.bootstrap_response(token)

    if is_throttled(response.status_code, response.headers):
        throttled(response, "NO-SERVER-ERROR", what)
    if response.status_code >= 500:
        fail("NO-SERVER-ERROR", f"{what} answered {response.status_code}", [response])
    checked("NO-SERVER-ERROR")


# -- FORGE-PROVISION, INSTANCE-STATE -------------------------------------------------------------

ONLY_THE_TEST_ISSUER = "--forge-source=test-issuer (the default)"


def _installation(jira: JiraAppSession, invariant: str) -> tuple[dict[str, Any], httpx.Response]:
    """``GET /v1/instances/me`` as ``jira``: the body, with cloudId, status and credits typed.

    The protocol leaves this response open-ended and shows the stable envelope; of it, the checks
    rely on cloudId, status and credits. The answer is judged here but records nothing: the
    caller records its check once its last comparison held.
    """
    what = "GET /v1/instances/me"
    response = jira.get("/v1/instances/me")
    if is_throttled(response.status_code, response.headers):
        throttled(response, invariant, what)
    if not response.is_success:
        fail(
            invariant, f"{what} with valid credentials answered {response.status_code}", [response]
        )
    body = json_or_none(response)
    if not isinstance(body, dict):
        fail(invariant, f"{what} answered no JSON object", [response])
    problems = [
        name
        for name, ok in (
            ("cloudId", isinstance(body.get("cloudId"), str) and body["cloudId"]),
            ("status", isinstance(body.get("status"), str)),
            ("credits", ProtocolSteps.is_number(body.get("credits"))),
        )
        if not ok
    ]
    if problems:
        fail(invariant, f"instances/me lacks a well-typed {', '.join(problems)}", [response])
    return body, response


@pytest.mark.invariant("FORGE-PROVISION")
def test_first_valid_token_provisions_an_active_installation(
    protocol: ProtocolSteps, forge: CredentialSource
) -> None:
    """A tenant the target has never seen: its first valid token provisions it."""
    if not isinstance(forge, TestIssuer):
        not_verified(
            "FORGE-PROVISION",
            "credentials",
            "needs a token of an installation the target has never seen, which only the test "
            f"issuer can sign (source in use: {forge.kind})",
            ONLY_THE_TEST_ISSUER,
        )
    jira = protocol.jira(f"prov{uuid.uuid4().hex[:12]}")

    body, response = _installation(jira, "FORGE-PROVISION")

    if body["status"] != "active":
        fail(
            "FORGE-PROVISION",
            f"a new installation's status is {body['status']!r}, not 'active'",
            [response],
        )
    if not body["credits"] > 0:
        fail(
            "FORGE-PROVISION",
            f"a new installation has {body['credits']!r} credits; "
            "the first valid token must provision a positive balance",
            [response],
        )
    checked("FORGE-PROVISION")


def _assert_describes(
    body: dict[str, Any], ident: Identity, response: httpx.Response, others: list[Identity]
) -> None:
    """installationId, where present, is the caller's; cloudId names the caller's installation
    (its context cloudId or its installation id, in whatever wrapping) and no other.

    installationId appears only in the protocol's example of an open-ended response, so a target
    may leave it out; cloudId is always compared."""
    installation_uuid = ident.installation_id.rsplit("/", 1)[-1]
    installation_id = body.get("installationId")
    if installation_id is not None and installation_id != ident.installation_id:
        fail(
            "INSTANCE-STATE",
            "instances/me reports an installationId other than the caller's "
            f"(token app.installationId {ident.installation_id!r})",
            [response],
        )
    cloud_id = str(body["cloudId"])
    foreign = [
        o
        for o in others
        if o.cloud_id in cloud_id or o.installation_id.rsplit("/", 1)[-1] in cloud_id
    ]
    if foreign or (ident.cloud_id not in cloud_id and installation_uuid not in cloud_id):
        fail(
            "INSTANCE-STATE",
            f"instances/me reports cloudId {cloud_id!r}, which names neither "
            f"the caller's cloudId {ident.cloud_id!r} nor its installation "
            f"{ident.installation_id!r}",
            [response],
        )


@pytest.mark.invariant("INSTANCE-STATE")
def test_instance_state_describes_the_callers_installation(
    jira: JiraAppSession,
    jira_factory: Callable[..., JiraAppSession],
    forge: CredentialSource,
) -> None:
    """Two installations each read their own installation, and not the other's."""
    mine, mine_response = _installation(jira, "INSTANCE-STATE")
    if not isinstance(forge, TestIssuer):
        # The shape held; which installation a token belongs to only the test issuer says.
        not_verified(
            "INSTANCE-STATE",
            "credentials",
            f"the {forge.kind} token source does not say which installation a token belongs "
            "to, so only the shape of instances/me was checked",
            ONLY_THE_TEST_ISSUER,
        )
    other_jira = jira_factory("b")
    theirs, their_response = _installation(other_jira, "INSTANCE-STATE")

    me, them = forge.identity(jira.who), forge.identity(other_jira.who)
    _assert_describes(mine, me, mine_response, [them])
    _assert_describes(theirs, them, their_response, [me])
    checked("INSTANCE-STATE")
