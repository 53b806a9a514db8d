"""The one definition of "rejected" and "accepted", with failure messages that quote the protocol.

A rejection is a 4xx that leaks no protected data and stores nothing. Which 4xx, what error body,
and whether the rejected request still used up the credential it carried are the target's
choice. A 5xx is never a rejection, and a 2xx is never one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any, NoReturn

import httpx

from seecodes_conformance.contract import route_of
from seecodes_conformance.http import json_or_none
from seecodes_conformance.http.evidence import exchange_of
from seecodes_conformance.http.throttling import is_throttled
from seecodes_conformance.outcomes import LOG, not_verified
from seecodes_conformance.redaction import CREDENTIAL_FIELDS, REGISTRY, SecretRegistry


class InvariantViolation(AssertionError):
    """A target broke an invariant of the catalog."""

    def __init__(self, invariant: str, message: str) -> None:
        super().__init__(message)
        self.invariant = invariant


def quote_of(invariant: str) -> str:
    try:
        from seecodes_conformance.contract import load_catalog

        return load_catalog()[invariant].quote
    except (ImportError, KeyError, OSError, ValueError):
        return "(not in the catalog)"


def fail(
    invariant: str,
    problem: str,
    responses: Iterable[httpx.Response] = (),
    secrets: SecretRegistry = REGISTRY,
) -> NoReturn:
    """Raise a violation that names the invariant, quotes the protocol and shows the evidence."""
    parts = [f"[{invariant}] {problem}", f'  protocol: "{quote_of(invariant)}"']
    for response in responses:
        parts.append("  evidence:\n" + _indent(exchange_of(response).render(secrets), "    "))
    raise InvariantViolation(invariant, secrets.redact("\n".join(parts)))


def throttled(response: httpx.Response, invariant: str, what: str = "the request") -> NoReturn:
    """The target said "not now" (429, or 503 with Retry-After): the check cannot conclude.

    Never a rejection and never a violation. Requests that consume nothing were already sent
    again by the transport; this one was still throttled, or carried a single-use credential
    that the throttled attempt may have used up.
    """
    not_verified(
        invariant,
        "throttled",
        f"{what} was answered {response.status_code}"
        + (
            f" (Retry-After: {response.headers['retry-after']})"
            if "retry-after" in response.headers
            else ""
        ),
        "a lower --rate-limit, or an allowance for the harness in the target's rate limiter",
    )


def checked(*invariants: str) -> None:
    """Record that a check of each invariant ran to its end and held.

    Call it after the check's last comparison: a test that returns or skips earlier records no
    check, and its invariant is not verified by it.
    """
    LOG.passed(*invariants)


def controlled(*invariants: str) -> None:
    """Record a positive control: the rightful caller succeeded on the very resource that the
    invariants' intruders are refused (the owner's read, the settled run, the listed item)."""
    LOG.control(*invariants)


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def assert_rejected(
    response: httpx.Response,
    invariant: str,
    *,
    what: str = "the request",
    protected: Iterable[str] = (),
    readback: Callable[[], Any] | None = None,
    before: Any = None,
    secrets: SecretRegistry = REGISTRY,
) -> None:
    """Assert ``response`` is a rejection: a 4xx, leaking nothing, changing nothing.

    ``protected``: values that must not appear in the response (other tenants' data, permits).
    ``readback``/``before``: a read with the right credential, and its result before the request;
    the state read after the rejection must equal it.
    """
    status = response.status_code
    if is_throttled(status, response.headers):
        throttled(response, invariant, what)
    if status >= 500:
        fail(invariant, f"server error instead of rejection of {what}: got {status}", [response])
    if not 400 <= status < 500:
        fail(invariant, f"expected {what} to be rejected (4xx), got {status}", [response])
    leaks = leaked_values(response, protected, secrets)
    if leaks:
        fail(invariant, f"the rejection of {what} leaks {', '.join(leaks)}", [response])
    if readback is not None:
        after = readback()
        if after != before:
            fail(
                invariant,
                f"{what} was rejected but changed stored state:\n"
                f"    before: {secrets.redact(_short(before))}\n"
                f"    after:  {secrets.redact(_short(after))}",
                [response],
            )
    LOG.reached(invariant, _route(response))
    LOG.rejected(invariant)


def leaked_values(
    response: httpx.Response, protected: Iterable[str] = (), secrets: SecretRegistry = REGISTRY
) -> list[str]:
    """What a rejection hands out that it must not: credentials or protected values."""
    text = response.text
    leaks = [f"protected value {secrets.redact(v)!r}" for v in protected if v and v in text]
    body = json_or_none(response)
    if isinstance(body, dict):
        # A rejection must never hand out a credential.
        leaks += [f"a {name!r} field" for name in CREDENTIAL_FIELDS if body.get(name)]
    return leaks


def assert_success(
    response: httpx.Response, invariant: str, *, what: str = "the request", control: bool = True
) -> Any:
    """Assert a 2xx; a JSON body must carry ``ok: true``. Returns the parsed body (or None).

    A success is the positive control of ``invariant``: the rightful caller got through.
    ``control=False`` judges without recording it, for callers (the state machine) that record
    themselves what a success proves.
    """
    if is_throttled(response.status_code, response.headers):
        throttled(response, invariant, what)
    if not response.is_success:
        fail(invariant, f"expected {what} to succeed (2xx), got {response.status_code}", [response])
    body = json_or_none(response)
    if (
        isinstance(body, dict)
        and body.get("ok") is not True
        and "json" in response.headers.get("content-type", "")
    ):
        fail(invariant, f"{what} answered 2xx without ok: true", [response])
    LOG.reached(invariant, _route(response))
    if control:
        LOG.control(invariant)
    return body


def _route(response: httpx.Response) -> str | None:
    """The documented route ``response`` answered (None for a presigned upload, say)."""
    try:
        request = response.request
    except RuntimeError:  # a response built without a request
        return None
    return route_of(request.method, request.url.path)


def _short(value: Any, limit: int = 600) -> str:
    try:
        text = json.dumps(value, sort_keys=True, default=str)
    except TypeError:
        text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"
