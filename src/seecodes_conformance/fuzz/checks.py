"""The checks every fuzz case runs, the findings they keep and the verdict per combination.

Every check that judges an answer also notes, in the combination's ``Evidence``, that it ran and
held; the verdict turns that into the test's check log, invariant by invariant, so a combination
passes an invariant only on checks that actually ran on it. A throttled answer (429, or 503 with
Retry-After) is judged by no check: it is neither a pass, nor a failure, nor a rejection.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.core.transport import response_content_type
from schemathesis.specs.openapi import checks as builtin

from seecodes_conformance.contract import load_schema, payload_spec, validate_payload
from seecodes_conformance.fuzz.auth import (
    ACCESS,
    Access,
    header,
    label_of_case,
    throttled,
)
from seecodes_conformance.fuzz.coverage import (
    TELEMETRY,
    Evidence,
    disabled_answer,
    no_rejection_problem,
    no_success_problem,
    record,
    tolerated,
)
from seecodes_conformance.fuzz.overlay import Role
from seecodes_conformance.fuzz.world import (
    CONTEXT,
    PROBED,
    SETTLED_RUN_ROUTES,
    Finding,
    FuzzWorld,
    combination_invariants,
    kind_of,
    world_of,
)
from seecodes_conformance.http import (
    NEXT_KEY_HEADER,
)
from seecodes_conformance.http.throttling import is_throttled
from seecodes_conformance.oracle import checked, controlled, exchange_of, fail
from seecodes_conformance.outcomes import LOG, Unverified
from seecodes_conformance.redaction import REGISTRY
from seecodes_conformance.replay import replay_command

SHOWN_FINDINGS = 3  # distinct failing cases printed per combination (all are counted)
_INVARIANT_PREFIX = re.compile(r"^\[([A-Z][A-Z0-9-]+)\]")
# Schemathesis shortens long response bodies in its reports, and a credential cut in half no
# longer matches the registry: credential fields and JWT-shaped runs are masked by shape too.
_CREDENTIAL_FIELD = re.compile(
    r'("(?:permit|launchCode|requestKey|code)"\s*:\s*")([^"`\s\[][^"`\s]*)'
)


def send(case: Any, world: FuzzWorld) -> None:
    """What every generated case goes through: send, check, keep what failed."""
    try:
        # Schemathesis passes its own ``verify`` per call, overriding the session's: the run's
        # TLS configuration (--tls-verify, --ca-bundle, a client certificate) goes in here.
        case.call_and_validate(
            session=world.wiring.http_session,
            checks=CHECKS,
            **world.settings.tls.requests_kwargs(),
        )
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
        known.append(Finding(invariants, titles, scrub(report)))


def scrub(text: str) -> str:
    """The registry's redaction, then credentials recognised by their JSON field name."""
    return _CREDENTIAL_FIELD.sub(lambda m: m.group(1) + "[redacted]", REGISTRY.redact(text))


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


class DisabledAnswerDrift(FuzzFailure):
    pass


def _judged(case: Any, response: Any) -> tuple[FuzzWorld, Role] | None:
    """The case's fuzz world, for an answer our checks judge: None for a case of a schema that
    is not ours, and for a throttled answer (429, or 503 with Retry-After), which the target
    asked to be asked again later: no check passes, fails or counts it as a rejection."""
    found = world_of(case)
    if found is None or throttled(response):
        return None
    return found


def evidence_of(world: FuzzWorld, combination: str) -> Evidence:
    return world.evidence.setdefault(combination, Evidence())


def _tag(failure: Failure, world: FuzzWorld, invariant: str) -> None:
    """Name the invariant in the failure's title and print the seed under it."""
    if not _INVARIANT_PREFIX.match(failure.title):
        failure.title = f"[{invariant}] {failure.title}"
    note = world.seed_note()
    if note not in (failure.message or ""):
        failure.message = f"{failure.message}\n\n{note}".strip()


def tagged(check: CheckFunction, invariant_of: Callable[[str, Failure], str]) -> CheckFunction:
    """A built-in check whose failures name the invariant they break (and carry the seed).

    A 5xx is reported once, as a server error, not also as shape drift; a throttled answer is
    not judged at all.
    """

    def run(ctx: Any, response: Any, case: Any) -> Any:
        found = world_of(case)
        if found is not None and throttled(response):
            return None
        if found is not None and response.status_code >= 500 and check is not no_server_error:
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


def answer_invariant(combination: str) -> str:
    """The invariant a documented answer's media type and body belong to."""
    if combination.startswith("GET /v1/tasks/{runId}/"):
        return "RUN-ARTIFACTS"
    if combination == "GET /v1/launch":
        return "LAUNCHER-PAGE"
    if combination == "GET /openapi.json":
        return "OPENAPI-DOC"
    return "SHAPE-CONFORMANCE"


def _header_invariant(combination: str, failure: Failure) -> str:
    text = f"{failure.title} {failure.message}".lower()
    return "RK-ROTATION" if NEXT_KEY_HEADER.lower() in text else answer_invariant(combination)


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


def _own_method(case: Any) -> bool:
    """The case uses its operation's method (not a coverage-phase undeclared-method probe)."""
    return bool(case.method.upper() == case.operation.method.upper())


def _error_answer(case: Any, response: Any) -> bool:
    """A 4xx (or the telemetry route's 501) the target's document does not describe by its exact
    status: its body and media type are the target's choice (the telemetry route's documented
    answer is ``disabled_answer_shape``'s). An error the document does describe exactly (a
    FastAPI-style 422) must match what it documents, like any other documented answer."""
    status = response.status_code
    if not (400 <= status < 500 or disabled_answer(label_of_case(case), status)):
        return False
    responses = getattr(getattr(case.operation, "definition", None), "raw", {}).get("responses")
    return not (isinstance(responses, dict) and str(status) in responses)


def _first_party_shape_applied(case: Any, response: Any, role: Role) -> bool:
    """Whether ``response_schema_conformance`` held the answer to a schema that carries our
    first-party shape: the documented answer of the route (2xx; the telemetry route's refusal in
    the positive document only), under a status the document lists, with a schema for its
    media type. An answer under a status the target's document does not list is validated
    against nothing, and proves nothing."""
    label = label_of_case(case)
    spec = payload_spec(*label.split(" ", 1))
    status_class = spec.response_status[0]
    if spec.response is None or not _own_method(case):
        return False
    if str(response.status_code)[0] != status_class or (status_class != "2" and role != "positive"):
        return False
    definition = case.operation.responses.find_by_status_code(response.status_code)
    if definition is None or not str(definition.status_code).startswith(status_class):
        return False
    return definition.get_schema(response_content_type(response)).schema is not None


def no_server_error(ctx: Any, response: Any, case: Any) -> Any:
    """No 5xx, except the disabled telemetry route's 501 Not Implemented."""
    found = _judged(case, response)
    if found is None:
        return None if world_of(case) is not None else not_a_server_error(ctx, response, case)
    label = label_of_case(case)
    if not disabled_answer(label, response.status_code):
        not_a_server_error(ctx, response, case)
    evidence_of(found[0], label).passes["NO-SERVER-ERROR"] += 1
    return None


no_server_error.__name__ = not_a_server_error.__name__


def content_type_conformance(ctx: Any, response: Any, case: Any) -> Any:
    """The documented media type, for answers whose media type the protocol fixes: not for an
    error (which 4xx, what body and what Content-Type are the target's choice)."""
    if world_of(case) is not None and _error_answer(case, response):
        return None
    return builtin.content_type_conformance(ctx, response, case)


def response_schema_conformance(ctx: Any, response: Any, case: Any) -> Any:
    """The documented shape, for answers whose shape the protocol fixes: not for an error (its
    body is the target's choice; the telemetry route's is ``disabled_answer_shape``'s)."""
    found = _judged(case, response)
    if found is None:
        if world_of(case) is not None:
            return None
        return builtin.response_schema_conformance(ctx, response, case)
    if _error_answer(case, response):
        return None
    result = builtin.response_schema_conformance(ctx, response, case)
    if _first_party_shape_applied(case, response, found[1]):
        evidence_of(found[0], label_of_case(case)).passes["SHAPE-CONFORMANCE"] += 1
    return result


def negative_data_rejection(ctx: Any, response: Any, case: Any) -> Any:
    """Schema-violating input is rejected (any 4xx), except what the protocol lets through."""
    found = world_of(case)
    if found is None:
        return builtin.negative_data_rejection(ctx, response, case)
    if throttled(response):
        return None  # not a rejection: the target asked to be asked again later
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
    found = _judged(case, response)
    label = label_of_case(case)
    if found is None or not 200 <= response.status_code < 300 or label == "GET /openapi.json":
        return
    if not _is_json(_media_type(response)):
        return  # the protocol's envelope is a JSON one; media_type judges the media type
    body = _body(response)
    if (isinstance(body, dict) and body.get("ok") is True) or (
        label == CONTEXT
        and isinstance(body, dict)
        and body.get("ok") is False
        and body.get("error") == "Context not found"
    ):
        evidence_of(found[0], label).passes["ENVELOPE-OK"] += 1
        return
    ok = body.get("ok") if isinstance(body, dict) else "(not a JSON object)"
    _raise(
        EnvelopeNotOk, found[0], case, "ENVELOPE-OK", "2xx JSON body without ok: true",
        f"{label} answered {response.status_code} with a JSON body whose ok is {ok!r}",
    )  # fmt: skip


def next_key_rotated(ctx: Any, response: Any, case: Any) -> None:
    """RK-ROTATION: a success that consumed a request key names the next one (another key)."""
    found = _judged(case, response)
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
    evidence_of(world, label).passes["RK-ROTATION"] += 1


def media_type(ctx: Any, response: Any, case: Any) -> None:
    """The documented answer has the protocol's media type: JSON, text/plain or text/html."""
    found = _judged(case, response)
    if found is None or not _own_method(case):
        return
    label = label_of_case(case)
    spec = payload_spec(*label.split(" ", 1))
    if label == TELEMETRY:
        if kind_of(case) != "positive" or not disabled_answer(label, response.status_code):
            return  # its documented answer is a refusal; refusals of bad input may differ
    elif response.status_code // 100 != int(spec.response_status[0]):
        return
    want, got = spec.response_media_type, _media_type(response)
    invariant = answer_invariant(label)
    if got == want or (want == "application/json" and _is_json(got)):
        if invariant != "SHAPE-CONFORMANCE":  # there, the shape needs the body validated too
            evidence_of(found[0], label).passes[invariant] += 1
        return
    _raise(
        MediaTypeDrift, found[0], case, invariant, f"{label} is not served as {want}",
        f"{label} answered {response.status_code} as {got or '(no Content-Type)'}; "
        f"the protocol serves it as {want}",
    )  # fmt: skip


def disabled_answer_shape(ctx: Any, response: Any, case: Any) -> None:
    """The telemetry route's documented answer (a 4xx or 501 to a first-party post) is a JSON
    object with a ``detail`` message, under any JSON media type (application/problem+json
    too); the message's wording is free."""
    found = _judged(case, response)
    label = label_of_case(case)
    if found is None or label != TELEMETRY or kind_of(case) != "positive":
        return
    if not _own_method(case):
        return
    if not disabled_answer(label, response.status_code) or not _is_json(_media_type(response)):
        return  # not the documented answer at all, or not JSON: other checks say so
    spec = payload_spec(*label.split(" ", 1))
    assert spec.response is not None
    problems = validate_payload(load_schema(spec.response), _body(response))
    if problems:
        _raise(
            DisabledAnswerDrift, found[0], case, "SHAPE-CONFORMANCE",
            f"{label} refused without the documented detail",
            f"{label} answered {response.status_code} with a body that is not the documented "
            "{detail} shape:\n  " + "\n  ".join(problems),
        )  # fmt: skip
    evidence_of(found[0], label).passes["SHAPE-CONFORMANCE"] += 1


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
    found = _judged(case, response)
    if found is None or not 200 <= response.status_code < 300:
        return
    if not _own_method(case):
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
    """Once per route and process: the accepted request again, with wrong credentials.

    The accepted request is the probes' positive control (the rightful caller succeeded on this
    very request); each probe answered 4xx is a rejection. A throttled probe is neither: the
    route is probed again after its next success.
    """
    found = _judged(case, response)
    if found is None or not 200 <= response.status_code < 300:
        return
    if not _own_method(case):
        return
    world = found[0]
    if not _complete_credentials(world, case, response)[0]:
        return
    label = label_of_case(case)
    probes = world.wiring.probes(case, response)
    evidence = evidence_of(world, label)
    for invariant in dict.fromkeys(invariant for invariant, _, _ in probes):
        evidence.controls[invariant] += 1
    bad: list[tuple[str, str, str]] = []
    for invariant, what, answer in probes:
        status = answer.status_code
        if is_throttled(status, answer.headers):
            record(world.rows[label], label, "probe", status, throttled=True)
            evidence.throttled[invariant] += 1
            world.wiring.probed.discard(label)  # probe again after the next success
            continue
        record(world.rows[label], label, "probe", status)
        if 400 <= status < 500:
            evidence.rejections[invariant] += 1
            evidence.passes["NO-SERVER-ERROR"] += 1
            continue
        problem = "NO-SERVER-ERROR" if status >= 500 else invariant
        exchange = exchange_of(answer)
        evidence_text = scrub(exchange.render(REGISTRY) + "\nReproduce with: " + exchange.as_curl())
        bad.append((problem, f"{what}: answered {status}", evidence_text))
    if not bad:
        return
    lines = [f"{label}: the same request with wrong credentials was not rejected (any 4xx is)"]
    for invariant, what, text in bad:
        lines.append(f"  [{invariant}] {what}")
        lines.extend("    " + line for line in text.splitlines())
    _raise(
        WrongCredentialsAccepted, world, case, bad[0][0], "wrong credentials accepted",
        "\n".join(lines),
    )  # fmt: skip


# No status_code_conformance: which 4xx is the target's choice, and its own document need not
# list it (a FastAPI-style document lists only 200 and 422). What fails is a 5xx where a rejection
# is owed, a 2xx to a request that must be refused, and a documented answer that contradicts its
# documented schema or media type: the checks below.
CHECKS: list[CheckFunction] = [
    tagged(no_server_error, lambda c, f: "NO-SERVER-ERROR"),
    tagged(negative_data_rejection, lambda c, f: "NO-SERVER-ERROR"),
    tagged(content_type_conformance, lambda c, f: answer_invariant(c)),
    tagged(builtin.response_headers_conformance, _header_invariant),
    tagged(response_schema_conformance, lambda c, f: answer_invariant(c)),
    media_type,
    disabled_answer_shape,
    envelope_ok,
    next_key_rotated,
    credentials_required,
    credentials_probed,
]
"""The checks every fuzz case runs, in reporting order."""


# --------------------------------------------------------------------------------- verdict

_SEVERITY = (
    "NO-SERVER-ERROR", "FORGE-REQUIRED", "RK-REQUIRED", "PERMIT-REQUIRED", "FORGE-NOT-PERMIT",
    "PERMIT-NOT-FORGE", "RK-ROTATION", "ENVELOPE-OK", "RUN-ARTIFACTS", "LAUNCHER-PAGE",
    "SHAPE-CONFORMANCE", "OPENAPI-DOC",
)  # fmt: skip
THROTTLED_CONFIGURE = (
    "a lower --rate-limit, or an allowance for the harness in the target's rate limiter"
)
MORE_EXAMPLES = "more fuzz examples (--profile nightly) or another --fuzz-seed"
_NOTHING_CHECKED = {
    "NO-SERVER-ERROR": "no case was answered",
    "SHAPE-CONFORMANCE": "no answer was validated against its documented first-party shape",
    "ENVELOPE-OK": "no 2xx JSON answer was seen to check for ok: true",
    "RK-ROTATION": "no case that spent a request key succeeded, so no rotation was seen",
    "RUN-ARTIFACTS": "no documented answer (2xx) was seen to check its media type",
    "LAUNCHER-PAGE": "no documented answer (2xx) was seen to check its media type",
}
_NO_CONTROL = (
    "no request with complete credentials succeeded, so none was sent again with wrong "
    "credentials (a rejection proves nothing without the rightful caller's success)"
)


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
    checked("OPENAPI-DOC")


def verdict(world: FuzzWorld, combination: str, nodeid: str) -> None:
    """Record, per invariant of the combination, the checks that ran on it (``record_checks``);
    then fail naming the route, the invariants its cases broke and the seed, or fail when the
    combination saw no success or no rejection and neither throttling nor an unsettled run
    explains it."""
    findings = world.findings.get(combination, [])
    replay = replay_command(world.settings, nodeid, {"--fuzz-seed": world.seed})
    short = shortfall(world, combination)
    broken = {i for f in findings for i in f.invariants} | ({short[0]} if short else set())
    record_checks(world, combination, broken)
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
    if short:
        invariant, problems = short
        fail(
            invariant,
            f"fuzz coverage of {combination} is incomplete: {problems} "
            f"(fuzz seed {world.seed}; replay: {replay})",
        )


def shortfall(world: FuzzWorld, combination: str) -> tuple[str, str] | None:
    """The invariant a combination's missing success or rejection fails, and why; None when it
    saw both, or when only throttling (or the world's unsettled run) stood in the way.

    No success: nothing the route answered could be checked for its documented answer. No
    rejection: no bad input was seen to get a 4xx.
    """
    row = world.rows[combination]
    problems = []
    invariant = None
    if row.succeeded == 0 and not (
        (row.throttled and not row.positive_refused and not row.server_errors)
        or (world.unsettled and combination in SETTLED_RUN_ROUTES)
    ):
        invariant = answer_invariant(combination)
        problems.append(no_success_problem(row))
    if row.rejected == 0 and not (row.throttled and not row.bad_accepted):
        invariant = invariant or "NO-SERVER-ERROR"
        problems.append(no_rejection_problem(row))
    return (invariant, "; ".join(problems)) if invariant else None


def record_checks(world: FuzzWorld, combination: str, broken: set[str]) -> None:
    """The test's check log, invariant by invariant of the combination, from what its checks
    concluded: a probed invariant counts its rejections beside their positive control, any
    other its passes; an invariant no check concluded is recorded not verified, with the
    reason. Broken invariants fail the test instead, and OPENAPI-DOC is ``require_documented``'s.
    """
    evidence = evidence_of(world, combination)
    for invariant in combination_invariants(combination):
        if invariant == "OPENAPI-DOC" or invariant in broken:
            continue
        if invariant in PROBED:
            for _ in range(evidence.rejections[invariant]):
                LOG.rejected(invariant)
            controlled(*[invariant] * evidence.controls[invariant])
            concluded = evidence.rejections[invariant] > 0 and evidence.controls[invariant] > 0
        else:
            checked(*[invariant] * evidence.passes[invariant])
            concluded = evidence.passes[invariant] > 0
        if not concluded:
            LOG.unverified([invariant], unverified_reason(world, combination, invariant))


def unverified_reason(world: FuzzWorld, combination: str, invariant: str) -> Unverified:
    """Why no check of ``invariant`` concluded on ``combination``, and what would verify it."""
    row, evidence = world.rows[combination], evidence_of(world, combination)
    if invariant in PROBED and evidence.controls[invariant]:
        return Unverified(
            "throttled",
            f"{combination}: the accepted request was sent again with wrong credentials, but "
            f"{evidence.throttled[invariant]} such probe(s) were answered 429 or 503 with "
            "Retry-After and none was rejected",
            THROTTLED_CONFIGURE,
        )
    what = _NO_CONTROL if invariant in PROBED else _NOTHING_CHECKED.get(invariant, "no check ran")
    if world.unsettled and combination in SETTLED_RUN_ROUTES:
        return Unverified(
            "timeout",
            f"{combination}: {what}; {world.unsettled}",
            "a target that settles a small run sooner",
        )
    if row.throttled:
        return Unverified(
            "throttled",
            f"{combination}: {what}; {row.throttled} of {row.sent} answers were throttled "
            "(429, or 503 with Retry-After)",
            THROTTLED_CONFIGURE,
        )
    return Unverified("no-check", f"{combination}: {what} ({row.sent} cases)", MORE_EXAMPLES)
