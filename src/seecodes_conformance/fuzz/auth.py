"""Credentials for generated requests, the way first-party clients present them.

Schemathesis applies auth providers when it *generates* a case, and the coverage phase builds
its cases all at once, long before the first is sent. A single-use request key fetched there
would be stale (or consumed) by the time it is sent. So:

- long-lived credentials (the Forge token, the task permit) come from auth providers;
- the Jira-App request key is a placeholder at generation time; ``fill`` swaps it for the key
  ring's current key when the case is actually sent (``JiraAppSession.take_key``), and
  ``settle`` rotates the ring from ``X-SeeCodes-Next-Request-Key`` (``adopt_next_key``). After a
  rejection the ring is empty, so the next send bootstraps a fresh key;
- only the placeholder is swapped, and only for a request with the operation's own method (a
  coverage-phase probe with an undeclared method never spends a key);
- values that are credentials in their own right (a launch code, a fresh run to start) are also
  filled at send time, and only for positive cases.

``probes`` sends, once per route and run, the same request with missing and wrong credentials:
schemathesis never sends "valid Forge token, made-up key" or "valid key, no Forge token" (when it
negates one security parameter it skips the provider for the whole case, so the bearer goes
too), and its ``ignored_auth`` counts only 401/403 as a rejection, which is stricter than the
protocol.
"""

from __future__ import annotations

import secrets as pysecrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import requests

from seecodes_conformance.contract import ACCESS, Access
from seecodes_conformance.credentials import ReusedValue
from seecodes_conformance.flows import LaunchLink, ProtocolSteps
from seecodes_conformance.fuzz.overlay import Bindings
from seecodes_conformance.http import (
    NEXT_KEY_HEADER,
    REQUEST_KEY_HEADER,
    JiraAppSession,
    PermitSession,
    json_or_none,
)
from seecodes_conformance.http.throttling import is_throttled
from seecodes_conformance.ids import TaskRef
from seecodes_conformance.redaction import register_credentials

KEY_PLACEHOLDER = "seecodes-fuzz-placeholder-request-key"
"""What generated Jira-App cases carry until they are sent; never a credential."""


SAMPLE_CONTEXT: dict[str, Any] = {
    "title": "Fuzzing target task",
    "descriptionMd": "Context stored so that GET /v1/tasks/context has something to return.",
    "attachments": [],
    "images": [],
}


def label_of_case(case: Any) -> str:
    """The protocol combination a case belongs to (paths are canonical in our documents)."""
    return f"{case.operation.method.upper()} {case.operation.path}"


def to_httpx(response: Any) -> httpx.Response:
    """A schemathesis Response as the ``httpx.Response`` the harness's clients understand."""
    headers = [(name, value) for name, values in response.headers.items() for value in values]
    return httpx.Response(response.status_code, headers=headers, content=response.content)


def header(response: Any, name: str) -> str | None:
    """One response header of a schemathesis Response (names are lower case, values lists)."""
    values = response.headers.get(name.lower())
    return values[0] if values else None


def throttled(response: Any) -> bool:
    """A schemathesis Response that is 429, or 503 with Retry-After: the target asked to be asked
    again later. Never a rejection and never a violation; no check judges it."""
    retry_after = header(response, "retry-after")
    headers = {} if retry_after is None else {"retry-after": retry_after}
    return is_throttled(response.status_code, headers)


@dataclass(repr=False)
class Wiring:
    """Everything a generated request needs to authenticate like a first-party client."""

    protocol: ProtocolSteps
    jira: JiraAppSession  # the key ring: one chain for this process (xdist worker)
    permit: PermitSession  # bound to bindings.permit_task
    progress_permit: PermitSession  # bound to bindings.progress_task (progress reads)
    bindings: Bindings
    forge_token: Callable[[], str]  # the key ring's principal
    # Another principal where the source has one: fuzzing the bootstrap must not replace the
    # ring's current key behind its back (a target may keep one current key per context).
    bootstrap_token: Callable[[], str]
    sent_keys: dict[str, str] = field(default_factory=dict)  # case id -> key it carried
    probed: set[str] = field(default_factory=set)
    http_session: requests.Session = field(default_factory=requests.Session)  # schemathesis'

    def __post_init__(self) -> None:
        # Showing the launcher page does not use the code up (only the exchange does), so one
        # code serves many cases until half its lifetime is gone.
        self._launch = ReusedValue(self._mint_launcher_link, lambda link: _lifetime(link) / 2)

    # -- providers -------------------------------------------------------------------------
    def register_providers(self, schema: Any) -> None:
        """Forge token (+ key placeholder) and permit providers on one loaded schema."""
        wiring = self

        def access(ctx: Any) -> Access | None:
            return ACCESS.get(f"{ctx.operation.method.upper()} {ctx.operation.path}")

        class ForgeProvider:
            def get(self, case: Any, ctx: Any) -> str:
                if access(ctx) is Access.FORGE:
                    return wiring.bootstrap_token()
                return wiring.forge_token()

            def set(self, case: Any, token: str, ctx: Any) -> None:
                if case.headers is None:
                    case.headers = {}
                case.headers["Authorization"] = f"Bearer {token}"
                if access(ctx) is Access.JIRA:
                    case.headers[REQUEST_KEY_HEADER] = KEY_PLACEHOLDER

        class PermitProvider:
            def get(self, case: Any, ctx: Any) -> str:
                return wiring.permit_for(label_of_case(case)).permit

            def set(self, case: Any, permit: str, ctx: Any) -> None:
                if case.headers is None:
                    case.headers = {}
                case.headers["Authorization"] = f"Bearer {permit}"

        # No caching here (``forge_token`` reuses tokens itself), and no re-auth on 401
        # (retry_on=[]): a replay would spend a second key and hide the first answer.
        forge = schema.auth(refresh_interval=None, retry_on=[])
        forge.apply_to(lambda ctx: access(ctx) in (Access.FORGE, Access.JIRA))
        forge(ForgeProvider)
        permit = schema.auth(refresh_interval=None, retry_on=[])
        permit.apply_to(lambda ctx: access(ctx) is Access.PERMIT)
        permit(PermitProvider)

    def permit_for(self, label: str) -> PermitSession:
        """The permit a permit route's positive cases carry (bound to the ids they name)."""
        return self.progress_permit if label == "GET /v1/tasks/{taskId}/progress" else self.permit

    # -- send time -------------------------------------------------------------------------
    def fill(self, case: Any, positive: bool) -> None:
        """Swap placeholders for live credentials just before ``case`` is sent."""
        if case.headers and case.headers.get(REQUEST_KEY_HEADER) == KEY_PLACEHOLDER:
            key = self.jira.take_key()
            case.headers[REQUEST_KEY_HEADER] = key
            self.sent_keys[case.id] = key
        if not positive:
            return
        label = label_of_case(case)
        if label == "POST /v1/tasks/{runId}/start":
            case.path_parameters["runId"] = self.fresh_run()
        elif label == "POST /v1/security/launch-exchange" and isinstance(case.body, dict):
            case.body["code"] = self.fresh_code(self.bindings.exchange_task)
        elif label == "GET /v1/launch" and isinstance(case.query, dict):
            case.query["c"] = self.launch_code()

    def settle(self, case: Any, response: Any) -> None:
        """Rotate the key ring and register every credential the answer carries."""
        as_httpx = to_httpx(response)
        register_credentials(json_or_none(as_httpx), as_httpx.headers.get(NEXT_KEY_HEADER))
        if case.id in self.sent_keys:
            self.jira.adopt_next_key(as_httpx)

    # -- credentials minted for positive cases ---------------------------------------------
    def fresh_run(self) -> str:
        """An initialised run with its uploads done: what ``start`` needs (one per case)."""
        run = self.protocol.init_run(self.permit)
        self.protocol.upload_all(run)
        return run.run_id

    def fresh_code(self, task: TaskRef) -> str:
        """A one-time launch code for ``task`` (launch-exchange spends one per case)."""
        return self.protocol.mint_launch_code(task, self.jira, expirationDays=1).code

    def launch_code(self) -> str:
        """A live launch code for the launcher page; re-minted once half its lifetime is gone."""
        return self._launch().code

    def _mint_launcher_link(self) -> LaunchLink:
        return self.protocol.mint_launch_code(
            self.bindings.launch_task, self.jira, expirationDays=1
        )

    # -- wrong credentials -----------------------------------------------------------------
    def probes(self, case: Any, response: Any) -> list[tuple[str, str, httpx.Response]]:
        """The same request with missing and wrong credentials, once per route and process.

        Returns (invariant, what was sent, answer) for every probe; the caller judges them.
        Sent after a success, so the request is otherwise one the target accepts.
        """
        label = label_of_case(case)
        access = ACCESS.get(label, Access.PUBLIC)
        if access is Access.PUBLIC or label in self.probed:
            return []
        self.probed.add(label)
        sent = response.request
        base = {k: v for k, v in sent.headers.items() if k.lower() not in _CREDENTIAL_HEADERS}
        results = []
        for probe in self._probe_plan(access, self.permit_for(label).permit):
            headers = dict(base)
            if probe.bearer is not None:
                headers["Authorization"] = f"Bearer {probe.bearer}"
            if probe.key == "live":
                # Whether a rejection burns the key is the target's choice: it is never reused.
                headers[REQUEST_KEY_HEADER] = self.jira.take_key()
            elif probe.key == "made-up":
                headers[REQUEST_KEY_HEADER] = _made_up()
            answer = self.protocol.http.request(
                sent.method or "GET", str(sent.url), headers=headers, content=_body_bytes(sent)
            )
            register_credentials(json_or_none(answer), answer.headers.get(NEXT_KEY_HEADER))
            results.append((probe.invariant, probe.what, answer))
        return results

    def _probe_plan(self, access: Access, permit: str) -> list[_Probe]:
        forge = self.forge_token()
        if access is Access.PERMIT:
            return [
                _Probe("PERMIT-REQUIRED", "no Authorization", None),
                _Probe("PERMIT-REQUIRED", "a made-up permit", _made_up()),
                _Probe("PERMIT-REQUIRED", "the permit with one character changed", tamper(permit)),
                _Probe("FORGE-NOT-PERMIT", "a Forge token as the permit", forge),
            ]
        if access is Access.FORGE:
            return [
                _Probe("FORGE-REQUIRED", "no Authorization", None),
                _Probe("FORGE-REQUIRED", "a made-up bearer", _made_up()),
                _Probe("PERMIT-NOT-FORGE", "a task permit as the Forge token", permit),
            ]
        return [
            _Probe("FORGE-REQUIRED", "no Authorization and no request key", None),
            _Probe("RK-REQUIRED", "a Forge token and a made-up request key", forge, "made-up"),
            _Probe("RK-REQUIRED", "a Forge token and no request key", forge),
            _Probe("FORGE-REQUIRED", "a live request key and no Authorization", None, "live"),
            _Probe("FORGE-REQUIRED", "a live request key and a made-up bearer", _made_up(), "live"),
            _Probe("PERMIT-NOT-FORGE", "a live request key and a permit as bearer", permit, "live"),
        ]


@dataclass(frozen=True)
class _Probe:
    invariant: str  # broken if the target accepts the probe
    what: str
    bearer: str | None  # None: no Authorization header
    key: str = "none"  # request key header: none, made-up or live


def _made_up() -> str:
    return "sc-fuzz-" + pysecrets.token_hex(16)


def tamper(credential: str) -> str:
    """``credential`` with one character near its end changed, never parsed.

    Not the very last data character: in base64 that one may carry only padding bits, so a
    change there can decode to the same bytes and still be a valid credential.
    """
    chars = list(credential)
    data_end = len(credential.rstrip("="))
    for index in range(data_end - 2, -1, -1):
        if chars[index].isalnum():
            chars[index] = "B" if chars[index] == "A" else "A"
            return "".join(chars)
    return credential + "A"


_CREDENTIAL_HEADERS = frozenset(
    {"authorization", REQUEST_KEY_HEADER.lower(), "content-length", "host", "user-agent"}
)


def _lifetime(link: LaunchLink) -> float:
    """Seconds a launch code lives, from its own expiresAt (8 s on the bundled engine)."""
    expires_at = link.body.get("expiresAt")
    if isinstance(expires_at, int | float) and expires_at - time.time() > 0:
        return float(expires_at) - time.time()
    return 8.0


def _body_bytes(request: Any) -> bytes | None:
    body = request.body
    if body is None:
        return None
    return body.encode("utf-8") if isinstance(body, str) else bytes(body)
