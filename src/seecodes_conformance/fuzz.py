"""Schema fuzzing of every documented route with schemathesis (issue 4).

One *fuzz world* per process (xdist worker) holds what generated requests need: the overlaid
documents (``fuzz_overlay``), the credentials and key ring (``fuzz_auth``), the seed, the checks
and the per-combination counts (``fuzz_report``). Schemathesis' global ``before_call`` and
``after_call`` hooks find the world through a marker in the overlaid document, so they never
touch a schema that is not ours.

The checks are the built-ins that say what the protocol says, each tagged with the invariant it
checks, plus our own where a built-in is stricter than the protocol or silent:

==============================  ===========================================================
NO-SERVER-ERROR                 no 5xx, ever; schema-violating input is rejected with a 4xx
SHAPE-CONFORMANCE               documented status, content type, headers and body (overlay)
RUN-ARTIFACTS, LAUNCHER-PAGE    output and logs are text/plain; the launcher is text/html
ENVELOPE-OK                     every 2xx JSON body has ok: true (context's not-found aside)
RK-ROTATION                     a success that consumed a request key names the next key
FORGE-REQUIRED, RK-REQUIRED,    missing or wrong credentials are rejected with any 4xx
PERMIT-REQUIRED,                (schemathesis' own missing-credential cases, and probes with
FORGE-NOT-PERMIT                wrong credentials once per route: see ``fuzz_auth.probes``)
==============================  ===========================================================

Left out on purpose: ``missing_required_header`` (wants exactly 401), ``ignored_auth`` (counts
only 401/403 as enforcement and re-probes every 2xx), ``unsupported_method`` and
``allow_header_conformance`` (405 and Allow are HTTP niceties the protocol does not ask for),
``positive_data_acceptance`` (a target may refuse odd-but-valid input; the coverage table
requires successes instead), and the stateful checks.

Failures never surface as schemathesis subtest failures: ``record_failures`` keeps each distinct
one (its response and the curl command that reproduces it) and ``verdict`` fails the
combination's test once, naming the route, the invariants and the seed.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.core import NotSet
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.meta import CONTENT_TYPE_PROBES, coverage_scenario
from schemathesis.specs.openapi import checks as builtin

from seecodes_conformance.clients import (
    NEXT_KEY_HEADER,
    REQUEST_KEY_HEADER,
    JiraAppSession,
    PermitSession,
)
from seecodes_conformance.contract import payload_spec
from seecodes_conformance.credentials import CredentialSource, Principal
from seecodes_conformance.fuzz_auth import (
    ACCESS,
    SAMPLE_CONTEXT,
    Access,
    ReusedToken,
    Wiring,
    header,
    label_of_case,
)
from seecodes_conformance.fuzz_overlay import (
    COMBINATIONS,
    FALLBACK_MODELS,
    MARKER,
    Bindings,
    Role,
    Survey,
    overlay,
    survey,
)
from seecodes_conformance.fuzz_report import Row, coverage_problems, record, tolerated
from seecodes_conformance.oracle import assert_success, exchange_of, fail
from seecodes_conformance.scenarios import Protocol
from seecodes_conformance.secrets import REGISTRY
from seecodes_conformance.settings import Settings
from seecodes_conformance.traffic import TRAFFIC


def _schemathesis_sanitized_keys() -> tuple[str, ...]:
    """Schemathesis' own list: setting keys-to-sanitize replaces it, so it is repeated."""
    try:
        from schemathesis.config._output import DEFAULT_KEYS_TO_SANITIZE
    except ImportError:  # pragma: no cover - a later schemathesis moved it
        return ("authorization", "cookie", "set-cookie", "token", "api_key", "x-api-key")
    return tuple(DEFAULT_KEYS_TO_SANITIZE)


SEED_ENV = "SEECODES_FUZZ_SEED"
TELEMETRY = "POST /v1/jira/telemetry/events"
CONTEXT = "GET /v1/tasks/context"
BOOTSTRAP = "POST /v1/jira/request-key"
# Sent by the coverage phase to every documented path that does not declare them. Any HTTP
# server knows these methods, so a 4xx is the fitting answer (405 is not required).
WRONG_METHODS = ("delete", "patch")
SETTLE_TIMEOUT_S = 60.0
SHOWN_FINDINGS = 3  # distinct failing cases printed per combination (all are counted)
SANITIZED_KEYS = [
    *_schemathesis_sanitized_keys(),
    *("c", "code", "k", "permit", "launchcode", "requestkey"),
    REQUEST_KEY_HEADER.lower(),
    NEXT_KEY_HEADER.lower(),
]
_INVARIANT_PREFIX = re.compile(r"^\[([A-Z][A-Z0-9-]+)\]")


def choose_seed(run_prefix: str, profile_seed: int | None) -> int:
    """``$SEECODES_FUZZ_SEED``, else the profile's fixed seed, else one derived from the run prefix.

    Deriving it from the run prefix gives every xdist worker the same seed without plumbing, and
    makes ``--run-prefix`` alone enough to replay a whole run against the bundled engine.
    """
    given = os.environ.get(SEED_ENV, "").strip()
    if given:
        return int(given)
    if profile_seed is not None:
        return profile_seed
    return int.from_bytes(hashlib.sha256(run_prefix.encode()).digest()[:4], "big")


def invariants_of(combination: str) -> tuple[str, ...]:
    """The catalog invariants a combination's fuzz test checks (its ``invariant`` mark)."""
    ids = ["NO-SERVER-ERROR", "SHAPE-CONFORMANCE", "ENVELOPE-OK", "OPENAPI-DOC"]
    access = ACCESS.get(combination, Access.PUBLIC)
    if access is Access.JIRA:
        ids += ["RK-ROTATION", "FORGE-REQUIRED", "RK-REQUIRED"]
    elif access is Access.FORGE:
        ids += ["FORGE-REQUIRED"]
    elif access is Access.PERMIT:
        ids += ["PERMIT-REQUIRED", "FORGE-NOT-PERMIT"]
    if combination.startswith("GET /v1/tasks/{runId}/"):
        ids.append("RUN-ARTIFACTS")
    if combination == "GET /v1/launch":
        ids.append("LAUNCHER-PAGE")
    return tuple(ids)


# ------------------------------------------------------------------------------- the world


@dataclass(frozen=True)
class Finding:
    """One distinct failing case: which invariants, and schemathesis' account of it (the
    failures, the response, and the curl command that reproduces the request)."""

    invariants: tuple[str, ...]
    titles: tuple[str, ...]
    report: str


@dataclass
class FuzzWorld:
    """Per-process fuzzing state; the hooks and checks reach it through the document marker."""

    id: str
    base_url: str
    target_document: dict[str, Any]
    survey: Survey
    seed: int
    max_examples: int
    request_timeout: float
    wiring: Wiring
    rows: dict[str, Row] = field(default_factory=lambda: {c: Row() for c in COMBINATIONS})
    failing: dict[str, int] = field(default_factory=dict)  # failing cases per combination
    findings: dict[str, list[Finding]] = field(default_factory=dict)
    keyed_cases: set[str] = field(default_factory=set)  # cases that carried a live request key

    def schema(self, role: Role) -> Any:
        """A loaded schemathesis schema for ``role`` with our auth providers registered."""
        document = overlay(self.target_document, role, self.wiring.bindings, {"world": self.id})
        schema = schemathesis.openapi.from_dict(document, config=self.config(role))
        self.wiring.register_providers(schema)
        return schema

    def config(self, role: Role) -> Any:
        """The whole schemathesis configuration, in code: the same from any working directory.

        ``positive``: valid first-party requests (examples, coverage boundaries, fuzzing).
        ``negative``: the target's own request schemas; the coverage phase breaks them one way at
        a time (missing credentials, wrong types, wrong methods...), the fuzzing phase draws both
        violations and schema-valid junk (which must get a 4xx or a success, never a 5xx).
        Fuzzing in negative mode alone would also make schemathesis raise a SkipTest for routes
        it cannot negate, which its lazy pytest integration reports as a failure.
        """
        fuzzing: dict[str, Any] = {"enabled": True}
        if role == "negative":
            fuzzing["generation"] = {"mode": "all"}
        data = {
            "seed": self.seed,
            "base-url": self.base_url,
            "request-timeout": self.request_timeout,
            "request-retries": 0,
            "suppress-health-check": ["all"],
            "generation": {
                "mode": role,
                "max-examples": self.max_examples,
                "database": "none",  # the seed, not a local example database, replays a case
                "no-shrink": True,  # bounded request counts; the seed replays the exact case
                "allow-x00": False,
                "allow-extra-parameters": False,
                # Credentials are ours alone (providers, key ring, probes). Generated security
                # headers let schemathesis "negate" a credential that the provider then sets
                # anyway, and call the accepted request schema-violating.
                "with-security-parameters": False,
            },
            "phases": {
                "examples": {"enabled": role == "positive"},
                "coverage": {"enabled": True, "unexpected-methods": list(WRONG_METHODS)},
                "fuzzing": fuzzing,
                "stateful": {"enabled": False},
            },
            "checks": {"negative_data_rejection": {"expected-statuses": ["4XX", "5XX"]}},
            "output": {"sanitization": {"keys-to-sanitize": SANITIZED_KEYS}},
        }
        return schemathesis.Config.from_dict(data)

    def seed_note(self) -> str:
        return f"fuzz seed {self.seed} (replay: {SEED_ENV}={self.seed})"

    def forget_cases(self) -> None:
        """Per-case bookkeeping is only needed while a combination runs."""
        self.keyed_cases.clear()
        self.wiring.sent_keys.clear()


WORLDS: dict[str, FuzzWorld] = {}
_world_ids = itertools.count(1)


def world_of(case: Any) -> tuple[FuzzWorld, Role] | None:
    marker = case.operation.schema.raw_schema.get(MARKER)
    if not isinstance(marker, Mapping):
        return None
    world = WORLDS.get(str(marker.get("world")))
    if world is None:
        return None
    role: Role = "positive" if marker.get("role") == "positive" else "negative"
    return world, role


def kind_of(case: Any) -> str:
    """positive, negative, wrong-method or lenient (see ``fuzz_report.record``).

    Lenient: malformed in a way the protocol does not require a target to refuse, so a 2xx is no
    finding (a 5xx still is): a malformed Content-Type, a missing body, and any body on the
    request-key bootstrap ("accepts an optional body but does not rely on it").
    """
    if case.method.upper() != case.operation.method.upper():
        return "wrong-method"
    if coverage_scenario(case) in CONTENT_TYPE_PROBES:
        return "lenient"
    meta = case.meta
    if meta is None or not meta.generation.mode.is_negative:
        return "positive"
    negated = {location for location, info in meta.components.items() if info.mode.is_negative}
    if negated == {ParameterLocation.BODY} and (
        label_of_case(case) == BOOTSTRAP or isinstance(case.body, NotSet)
    ):
        return "lenient"
    return "negative"


# ---------------------------------------------------------------------------------- hooks


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    """Count the case against the traffic budget; swap placeholders for live credentials."""
    found = world_of(case)
    if found is None:
        return
    world, role = found
    TRAFFIC.reserve(1, f"fuzz case {case.method} {case.path}")
    if case.method.upper() != case.operation.method.upper():
        return  # a wrong-method probe never spends a key (notes §3.3)
    world.wiring.fill(case, positive=role == "positive" and kind_of(case) == "positive")
    if case.id in world.wiring.sent_keys:
        world.keyed_cases.add(case.id)


@schemathesis.hook
def after_call(context: Any, case: Any, response: Any) -> None:
    """Rotate the key ring, register credentials, count the answer for the coverage table."""
    found = world_of(case)
    if found is None:
        return
    world, role = found
    world.wiring.settle(case, response)
    label = label_of_case(case)
    kind = kind_of(case)
    if role == "negative" and kind == "positive":
        kind = "junk"
    if label in world.rows:
        record(world.rows[label], label, kind, response.status_code)


def send(case: Any, world: FuzzWorld) -> None:
    """What every generated case goes through: send, check, keep what failed."""
    try:
        case.call_and_validate(session=world.wiring.http_session, checks=CHECKS)
    except FailureGroup as group:
        record_failures(world, label_of_case(case), group)


def record_failures(world: FuzzWorld, combination: str, group: FailureGroup) -> None:
    failures = [f for f in group.exceptions if isinstance(f, Failure)]
    invariants = tuple(dict.fromkeys(invariant_in(f.title) for f in failures))
    titles = tuple(sorted({f.title for f in failures}))
    world.failing[combination] = world.failing.get(combination, 0) + 1
    known = world.findings.setdefault(combination, [])
    if all(f.titles != titles for f in known):
        report = str(group.message).strip()
        if report.startswith("Schemathesis found"):
            report = report.split("\n", 1)[-1]
        known.append(Finding(invariants, titles, REGISTRY.redact(report)))


def invariant_in(title: str) -> str:
    match = _INVARIANT_PREFIX.match(title)
    return match.group(1) if match else "SHAPE-CONFORMANCE"


# --------------------------------------------------------------------------------- checks

CheckFunction = Callable[[Any, Any, Any], Any]


class FuzzFailure(Failure):
    """A failure of one of our checks; subclasses keep distinct failures apart in reports."""


class EnvelopeNotOk(FuzzFailure):
    pass


class NextKeyMissing(FuzzFailure):
    pass


class MediaTypeDrift(FuzzFailure):
    pass


class MissingCredentialsAccepted(FuzzFailure):
    pass


class WrongCredentialsAccepted(FuzzFailure):
    pass


def _tag(failure: Failure, world: FuzzWorld, invariant: str) -> None:
    """Name the invariant in the failure's title and print the seed under it."""
    if not _INVARIANT_PREFIX.match(failure.title):
        failure.title = f"[{invariant}] {failure.title}"
    note = world.seed_note()
    if note not in (failure.message or ""):
        failure.message = f"{failure.message}\n\n{note}".strip()


def tagged(check: CheckFunction, invariant_of: Callable[[str, Failure], str]) -> CheckFunction:
    """A built-in check whose failures name the invariant they break (and carry the seed).

    A 5xx is reported once, as a server error, not also as shape drift.
    """

    def run(ctx: Any, response: Any, case: Any) -> Any:
        found = world_of(case)
        if found is not None and response.status_code >= 500 and check is not not_a_server_error:
            return None
        try:
            return check(ctx, response, case)
        except FailureGroup as group:
            if found is not None:
                for failure in group.exceptions:
                    _tag(failure, found[0], invariant_of(label_of_case(case), failure))
            raise
        except Failure as failure:
            if found is not None:
                _tag(failure, found[0], invariant_of(label_of_case(case), failure))
            raise

    run.__name__ = check.__name__
    return run


def _media_invariant(combination: str) -> str:
    if combination.startswith("GET /v1/tasks/{runId}/"):
        return "RUN-ARTIFACTS"
    if combination == "GET /v1/launch":
        return "LAUNCHER-PAGE"
    return "SHAPE-CONFORMANCE"


def _header_invariant(combination: str, failure: Failure) -> str:
    text = f"{failure.title} {failure.message}".lower()
    return "RK-ROTATION" if NEXT_KEY_HEADER.lower() in text else "SHAPE-CONFORMANCE"


def _raise(
    kind: type[FuzzFailure], world: FuzzWorld, case: Any, invariant: str, title: str, message: str
) -> None:
    failure = kind(operation=case.operation.label, title=title, message=message)
    _tag(failure, world, invariant)
    raise failure


def _body(response: Any) -> Any:
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None


def _media_type(response: Any) -> str:
    value = header(response, "content-type") or ""
    return value.split(";", 1)[0].strip().lower()


def _is_json(media: str) -> bool:
    return media == "application/json" or media.endswith("+json")


def negative_data_rejection(ctx: Any, response: Any, case: Any) -> Any:
    """Schema-violating input is rejected (any 4xx), except what the protocol lets through."""
    found = world_of(case)
    if found is None:
        return builtin.negative_data_rejection(ctx, response, case)
    kind = kind_of(case)
    if kind == "lenient":
        return None
    result = builtin.negative_data_rejection(ctx, response, case)
    label = label_of_case(case)
    if kind == "negative" and 200 <= response.status_code < 300 and label in found[0].rows:
        tolerated(found[0].rows[label])  # the built-in judged the violation moot on the wire
    return result


def envelope_ok(ctx: Any, response: Any, case: Any) -> None:
    """ENVELOPE-OK: a 2xx JSON body carries ok: true (context may say "Context not found")."""
    found = world_of(case)
    label = label_of_case(case)
    if found is None or not 200 <= response.status_code < 300 or label == "GET /openapi.json":
        return
    if not _is_json(_media_type(response)):
        return
    body = _body(response)
    if isinstance(body, dict) and body.get("ok") is True:
        return
    if (
        label == CONTEXT
        and isinstance(body, dict)
        and body.get("ok") is False
        and body.get("error") == "Context not found"
    ):
        return
    ok = body.get("ok") if isinstance(body, dict) else "(not a JSON object)"
    _raise(
        EnvelopeNotOk, found[0], case, "ENVELOPE-OK", "2xx JSON body without ok: true",
        f"{label} answered {response.status_code} with a JSON body whose ok is {ok!r}",
    )  # fmt: skip


def next_key_rotated(ctx: Any, response: Any, case: Any) -> None:
    """RK-ROTATION: a success that consumed a request key names the next one (another key)."""
    found = world_of(case)
    if found is None or not 200 <= response.status_code < 300:
        return
    world = found[0]
    if case.id not in world.keyed_cases:
        return
    label, nxt = label_of_case(case), header(response, NEXT_KEY_HEADER)
    if not nxt:
        _raise(
            NextKeyMissing, world, case, "RK-ROTATION", f"success without {NEXT_KEY_HEADER}",
            f"{label} consumed a request key and answered {response.status_code} without "
            f"{NEXT_KEY_HEADER}",
        )  # fmt: skip
    if nxt == world.wiring.sent_keys.get(case.id):
        _raise(
            NextKeyMissing, world, case, "RK-ROTATION", "the next key is the key just consumed",
            f"{label} answered {NEXT_KEY_HEADER} equal to the key it consumed",
        )  # fmt: skip


def media_type(ctx: Any, response: Any, case: Any) -> None:
    """The documented answer has the protocol's media type: JSON, text/plain or text/html."""
    found = world_of(case)
    if found is None or case.method.upper() != case.operation.method.upper():
        return
    label = label_of_case(case)
    spec = payload_spec(*label.split(" ", 1))
    if response.status_code // 100 != int(spec.response_status[0]):
        return
    if label == TELEMETRY and kind_of(case) != "positive":
        return  # its documented answer is a 4xx; other 4xx (bad input) may look different
    want, got = spec.response_media_type, _media_type(response)
    if got == want or (want == "application/json" and _is_json(got)):
        return
    _raise(
        MediaTypeDrift, found[0], case, _media_invariant(label), f"{label} is not served as {want}",
        f"{label} answered {response.status_code} as {got or '(no Content-Type)'}; "
        f"the protocol serves it as {want}",
    )  # fmt: skip


def _complete_credentials(world: FuzzWorld, case: Any, response: Any) -> tuple[bool, str]:
    """Whether the request carried every credential its route needs, and which invariant a
    success without them breaks."""
    access = ACCESS.get(label_of_case(case), Access.PUBLIC)
    sent = {k.lower(): v for k, v in response.request.headers.items()}
    authorization = str(sent.get("authorization", ""))
    token = authorization[7:] if authorization.lower().startswith("bearer ") else ""
    if access is Access.PERMIT:
        return token == world.wiring.permit_for(label_of_case(case)).permit, "PERMIT-REQUIRED"
    if access is Access.FORGE:
        return bool(token) and token in REGISTRY, "FORGE-REQUIRED"
    if access is Access.JIRA:
        if not token or token not in REGISTRY:
            return False, "FORGE-REQUIRED"
        return case.id in world.keyed_cases, "RK-REQUIRED"
    return True, ""


def credentials_required(ctx: Any, response: Any, case: Any) -> None:
    """A protected route rejects a request whose credentials are missing or made up."""
    found = world_of(case)
    if found is None or not 200 <= response.status_code < 300:
        return
    if case.method.upper() != case.operation.method.upper():
        return
    complete, invariant = _complete_credentials(found[0], case, response)
    if complete:
        return
    _raise(
        MissingCredentialsAccepted, found[0], case, invariant,
        "request without its credentials accepted",
        f"{label_of_case(case)} answered {response.status_code} to a request that lacked (or "
        "carried a made-up) credential; a rejection is a 4xx",
    )  # fmt: skip


def credentials_probed(ctx: Any, response: Any, case: Any) -> None:
    """Once per route and process: the accepted request again, with wrong credentials."""
    found = world_of(case)
    if found is None or not 200 <= response.status_code < 300:
        return
    if case.method.upper() != case.operation.method.upper():
        return
    world = found[0]
    if not _complete_credentials(world, case, response)[0]:
        return
    label = label_of_case(case)
    bad: list[tuple[str, str, str]] = []
    for invariant, what, answer in world.wiring.probes(case, response):
        record(world.rows[label], label, "probe", answer.status_code)
        if not 400 <= answer.status_code < 500:
            problem = "NO-SERVER-ERROR" if answer.status_code >= 500 else invariant
            evidence = exchange_of(answer).render(REGISTRY)
            bad.append((problem, f"{what}: answered {answer.status_code}", evidence))
    if not bad:
        return
    lines = [f"{label}: the same request with wrong credentials was not rejected (any 4xx is)"]
    for invariant, what, evidence in bad:
        lines.append(f"  [{invariant}] {what}")
        lines.extend("    " + line for line in evidence.splitlines())
    _raise(
        WrongCredentialsAccepted, world, case, bad[0][0], "wrong credentials accepted",
        "\n".join(lines),
    )  # fmt: skip


CHECKS: list[CheckFunction] = [
    tagged(not_a_server_error, lambda c, f: "NO-SERVER-ERROR"),
    tagged(negative_data_rejection, lambda c, f: "NO-SERVER-ERROR"),
    tagged(builtin.status_code_conformance, lambda c, f: "SHAPE-CONFORMANCE"),
    tagged(builtin.content_type_conformance, lambda c, f: _media_invariant(c)),
    tagged(builtin.response_headers_conformance, _header_invariant),
    tagged(builtin.response_schema_conformance, lambda c, f: "SHAPE-CONFORMANCE"),
    media_type,
    envelope_ok,
    next_key_rotated,
    credentials_required,
    credentials_probed,
]
"""The checks every fuzz case runs, in reporting order."""


# --------------------------------------------------------------------------------- verdict

_SEVERITY = ("NO-SERVER-ERROR", "FORGE-REQUIRED", "RK-REQUIRED", "PERMIT-REQUIRED",
             "FORGE-NOT-PERMIT", "RK-ROTATION", "ENVELOPE-OK", "RUN-ARTIFACTS", "LAUNCHER-PAGE",
             "SHAPE-CONFORMANCE")  # fmt: skip


def require_documented(world: FuzzWorld, combination: str) -> None:
    """OPENAPI-DOC, as far as fuzzing needs it: a 3.1 document that has this combination."""
    if not world.survey.version_ok:
        fail(
            "OPENAPI-DOC",
            f"the target's /openapi.json declares OpenAPI {world.survey.version!r}, not 3.1: "
            f"{combination} was not fuzzed",
        )
    if combination not in world.survey.documented:
        fail(
            "OPENAPI-DOC",
            f"{combination} is not documented in the target's /openapi.json, so it was not "
            "fuzzed (0 cases); the documented routes are fuzzed as usual",
        )


def verdict(world: FuzzWorld, combination: str, nodeid: str) -> None:
    """Fail naming the route, the invariants its cases broke and the seed; else require that
    the combination saw a success and a rejection."""
    findings = world.findings.get(combination, [])
    replay = f"{SEED_ENV}={world.seed} pytest '{nodeid}'"
    if findings:
        invariants = sorted(
            {i for f in findings for i in f.invariants},
            key=lambda i: _SEVERITY.index(i) if i in _SEVERITY else len(_SEVERITY),
        )
        lines = [
            f"{combination}: {world.failing.get(combination, 0)} failing case(s) breaking "
            f"{', '.join(invariants)}; fuzz seed {world.seed} (replay: {replay})"
        ]
        for finding in findings[:SHOWN_FINDINGS]:
            lines.append("  - " + "; ".join(finding.titles))
            lines.extend("    " + line for line in finding.report.strip().splitlines())
        if len(findings) > SHOWN_FINDINGS:
            lines.append(f"  ... and {len(findings) - SHOWN_FINDINGS} more distinct failure(s)")
        fail(invariants[0], "\n".join(lines))
    row = world.rows[combination]
    problems = coverage_problems(row)
    if problems:
        # No success: nothing the route answered could be checked for its shape. No rejection:
        # no bad input was seen to get a 4xx.
        invariant = "SHAPE-CONFORMANCE" if row.succeeded == 0 else "NO-SERVER-ERROR"
        fail(
            invariant,
            f"fuzz coverage of {combination} is incomplete: {'; '.join(problems)} "
            f"(fuzz seed {world.seed}; replay: {replay})",
        )


# ------------------------------------------------------------------------------ world setup


def build_world(
    *,
    base_url: str,
    document: dict[str, Any],
    protocol: Protocol,
    forge: CredentialSource,
    settings: Settings,
    run_prefix: str,
) -> FuzzWorld:
    """Mint what positive cases need, as first-party clients would, and register the world.

    The fuzz task gets its permit the IDE's way (a launch link carrying Jira context, then the
    exchange), so GET /v1/tasks/context has a stored context to return. Progress reads get a
    task of their own whose progress only a first-party write touches (the published document
    lets the fuzzing store odd but accepted documents on the fuzz task). One run is started and
    left to settle (status, output and logs of a real run); one is initialised and uploaded but
    never started (negative start cases aim at it).
    """
    ids = protocol.ids
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    who = Principal("a", f"fuzz-{worker}" if forge.principals_per_tenant is None else "p1")
    jira = JiraAppSession(protocol.http, ReusedToken(lambda: forge.token(who)), who)
    permit_task = ids.task()
    link = protocol.mint_launch_code(
        permit_task, jira, jiraContext=SAMPLE_CONTEXT, expirationDays=1
    )
    exchanged = protocol.exchange(link.code, permit_task)
    body = assert_success(exchanged, "LC-EXCHANGE", what="exchanging the fuzz task's launch code")
    permit_value = body.get("permit") if isinstance(body, dict) else None
    if not isinstance(permit_value, str) or not permit_value:
        fail("LC-EXCHANGE", "launch-exchange answered 2xx without a permit", [exchanged])
    permit = PermitSession(protocol.http, permit_value, permit_task)
    settled = protocol.started_run(permit)
    protocol.poll_statuses(permit, settled.run_id, timeout=SETTLE_TIMEOUT_S)
    idle = protocol.init_run(permit)
    protocol.upload_all(idle)
    progress_task = ids.task()
    progress_permit = protocol.mint_permit(progress_task, jira)
    assert_success(
        protocol.write_progress(progress_permit), "PROGRESS-ROUNDTRIP", what="storing progress"
    )
    bindings = Bindings(
        permit_task=permit_task,
        progress_task=progress_task,
        link_task=ids.task(),
        mint_task=ids.task(),
        exchange_task=ids.task(),
        launch_task=ids.task(),
        settled_run=settled.run_id,
        idle_run=idle.run_id,
        models=model_catalog(protocol.http),
    )
    wiring = Wiring(
        protocol=protocol,
        jira=jira,
        permit=permit,
        progress_permit=progress_permit,
        bindings=bindings,
        forge_token=jira.forge_token,
    )
    wiring.http_session.verify = settings.tls_verify
    world = FuzzWorld(
        id=f"w{os.getpid()}-{next(_world_ids)}",
        base_url=base_url,
        target_document=document,
        survey=survey(document),
        seed=choose_seed(run_prefix, settings.profile.seed),
        max_examples=settings.profile.fuzz_max_examples,
        request_timeout=settings.request_timeout,
        wiring=wiring,
    )
    WORLDS[world.id] = world
    return world


def close_world(world: FuzzWorld) -> None:
    world.wiring.http_session.close()
    WORLDS.pop(world.id, None)


def model_catalog(http: Any) -> tuple[str, ...]:
    """The target's model aliases (GET /v1/models), for the model fields of positive bodies."""
    try:
        body = http.get("/v1/models").json()
    except ValueError:
        return FALLBACK_MODELS
    models = body.get("models") if isinstance(body, dict) else None
    aliases = tuple(
        m["id"] for m in models or () if isinstance(m, dict) and isinstance(m.get("id"), str)
    )
    return aliases or FALLBACK_MODELS
