"""The fuzz world: per-process state the generated cases need, and how it is built.

One world per process (xdist worker) holds the overlaid documents, the credentials and key
ring, the seed and the per-combination counts; schemathesis' global hooks and our checks find
it through a marker in the overlaid document, so they never touch a schema that is not ours.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import schemathesis
from schemathesis.core import NotSet
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.meta import CONTENT_TYPE_PROBES, coverage_scenario

from seecodes_conformance.contract import payload_spec
from seecodes_conformance.credentials import CredentialSource, Principal, ReusedValue
from seecodes_conformance.flows import SETTLED, ProtocolSteps
from seecodes_conformance.fuzz.auth import (
    ACCESS,
    SAMPLE_CONTEXT,
    Access,
    Wiring,
    label_of_case,
)
from seecodes_conformance.fuzz.coverage import Evidence, Row
from seecodes_conformance.fuzz.overlay import (
    COMBINATIONS,
    FALLBACK_MODELS,
    MARKER,
    Bindings,
    Role,
    Survey,
    overlay,
    survey,
)
from seecodes_conformance.http import (
    NEXT_KEY_HEADER,
    REQUEST_KEY_HEADER,
    JiraAppSession,
    json_or_none,
)
from seecodes_conformance.oracle import assert_success
from seecodes_conformance.replay import choose_seed
from seecodes_conformance.settings import Settings


def _schemathesis_sanitized_keys() -> tuple[str, ...]:
    """Schemathesis' own list: setting keys-to-sanitize replaces it, so it is repeated."""
    try:
        from schemathesis.config._output import DEFAULT_KEYS_TO_SANITIZE
    except ImportError:  # pragma: no cover - a later schemathesis moved it
        return ("authorization", "cookie", "set-cookie", "token", "api_key", "x-api-key")
    return tuple(DEFAULT_KEYS_TO_SANITIZE)


CONTEXT = "GET /v1/tasks/context"
BOOTSTRAP = "POST /v1/jira/request-key"
# Sent by the coverage phase to every documented path that does not declare them. Any HTTP
# server knows these methods, so a 4xx is the fitting answer (405 is not required).
WRONG_METHODS = ("delete", "patch")
SANITIZED_KEYS = [
    *_schemathesis_sanitized_keys(),
    *("c", "code", "k", "permit", "launchcode", "requestkey"),
    REQUEST_KEY_HEADER.lower(),
    NEXT_KEY_HEADER.lower(),
]


PROBED = (
    "FORGE-REQUIRED", "RK-REQUIRED", "PERMIT-REQUIRED", "FORGE-NOT-PERMIT", "PERMIT-NOT-FORGE",
)  # fmt: skip
"""Invariants the fuzz checks by rejections (wrong-credential probes, ``auth.probes``): each
holds on a combination only beside its positive control, the accepted request they repeat."""

SETTLED_RUN_ROUTES = ("GET /v1/tasks/{runId}/output", "GET /v1/tasks/{runId}/logs")
"""Combinations whose positive cases read the world's settled run (its final artifacts)."""


def combination_invariants(combination: str) -> tuple[str, ...]:
    """The catalog invariants a combination's fuzz test checks (its ``invariant`` mark).

    SHAPE-CONFORMANCE where the protocol shows a first-party answer shape for the route (the
    overlay validates answers against it), ENVELOPE-OK where that answer is a 2xx JSON body
    ("every success shape the protocol shows ... carries ok: true"): not the launcher page, the
    run artifacts (text), the OpenAPI document itself, nor the disabled telemetry route (its
    documented answer is a refusal).
    """
    spec = payload_spec(*combination.split(" ", 1))
    ids = ["NO-SERVER-ERROR"]
    if spec.response is not None:
        ids.append("SHAPE-CONFORMANCE")
        if spec.response_status.upper() == "2XX" and "json" in spec.response_media_type:
            ids.append("ENVELOPE-OK")
    ids.append("OPENAPI-DOC")
    access = ACCESS.get(combination, Access.PUBLIC)
    if access is Access.JIRA:
        ids += ["RK-ROTATION", "FORGE-REQUIRED", "RK-REQUIRED", "PERMIT-NOT-FORGE"]
    elif access is Access.FORGE:
        ids += ["FORGE-REQUIRED", "PERMIT-NOT-FORGE"]
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


@dataclass(repr=False)
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
    settings: Settings  # for the replay command of a failure
    rows: dict[str, Row] = field(default_factory=lambda: {c: Row() for c in COMBINATIONS})
    failing: dict[str, int] = field(default_factory=dict)  # failing cases per combination
    findings: dict[str, list[Finding]] = field(default_factory=dict)
    evidence: dict[str, Evidence] = field(
        default_factory=lambda: {c: Evidence() for c in COMBINATIONS}
    )  # what the checks concluded, per combination
    unsettled: str | None = None  # why the settled run is not settled (its artifacts may be absent)
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
        a time (a missing parameter or body, a wrong type, an undeclared method, a bad
        Content-Type), the fuzzing phase draws violations. Both also draw schema-valid junk
        (which must get a 4xx or a success, never a 5xx), on purpose: with negative cases
        alone, the coverage phase fills the parameters it is not breaking with invalid values
        too (so a missing body would be sent to another task's path), and the fuzzing phase
        raises a SkipTest for routes it cannot negate, which schemathesis' lazy pytest
        integration reports as a failure.
        """
        data = {
            "seed": self.seed,
            "base-url": self.base_url,
            "request-timeout": self.request_timeout,
            "request-retries": 0,
            "suppress-health-check": ["all"],
            "generation": {
                "mode": "positive" if role == "positive" else "all",
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
                "fuzzing": {"enabled": True},
                "stateful": {"enabled": False},
            },
            "checks": {"negative_data_rejection": {"expected-statuses": ["4XX", "5XX"]}},
            "output": {"sanitization": {"keys-to-sanitize": SANITIZED_KEYS}},
        }
        return schemathesis.Config.from_dict(data)

    def __repr__(self) -> str:  # short, and never a credential (pytest prints test arguments)
        return f"FuzzWorld({self.id}, target={self.base_url}, seed={self.seed})"

    def seed_note(self) -> str:
        return f"fuzz seed {self.seed} (replay with --fuzz-seed={self.seed})"

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
    finding (a 5xx still is): a malformed Content-Type, a missing or blank body, and any body on
    the request-key bootstrap ("accepts an optional body but does not rely on it").
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
        label_of_case(case) == BOOTSTRAP or _blank(case.body)
    ):
        return "lenient"
    return "negative"


def _blank(body: Any) -> bool:
    """No body, or only whitespace: a target may read it as no body at all."""
    if isinstance(body, NotSet):
        return True
    return isinstance(body, bytes | str) and not body.strip()


# ------------------------------------------------------------------------------ world setup


def build_world(
    *,
    base_url: str,
    document: dict[str, Any],
    protocol: ProtocolSteps,
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
    worker = settings.worker_id or "main"
    unlimited = forge.principals_per_tenant is None
    who = Principal("a", f"fuzz-{worker}" if unlimited else "p1")
    bootstrapper = Principal("a", f"fuzz-{worker}-bootstrap") if unlimited else who
    jira = JiraAppSession(protocol.http, ReusedValue(lambda: forge.token(who)), who)
    permit_task = ids.task()
    permit = protocol.launched_permit(
        permit_task,
        jira,
        what="exchanging the fuzz task's launch code",
        jiraContext=SAMPLE_CONTEXT,
        expirationDays=1,
    )
    settled = protocol.started_run(permit)
    statuses = protocol.poll_statuses(permit, settled.run_id, timeout=settings.run_wait)
    unsettled = None
    if not statuses or statuses[-1] not in SETTLED:
        # Not a failure here (RUN-* tests judge runs): the artifact routes' positive cases may
        # then be refused, and their verdict says their checks were not verified, and why.
        unsettled = (
            f"the fuzz world's run had not settled after {settings.run_wait:g} s "
            f"(last status {statuses[-1] if statuses else None!r})"
        )
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
        bootstrap_token=ReusedValue(lambda: forge.token(bootstrapper)),
    )
    world = FuzzWorld(
        id=f"w{os.getpid()}-{next(_world_ids)}",
        base_url=base_url,
        target_document=document,
        survey=survey(document),
        seed=choose_seed(settings.fuzz_seed, settings.profile, run_prefix),
        max_examples=settings.profile.fuzz_max_examples,
        request_timeout=settings.request_timeout,
        wiring=wiring,
        settings=settings,
        unsettled=unsettled,
    )
    WORLDS[world.id] = world
    return world


def close_world(world: FuzzWorld) -> None:
    world.wiring.http_session.close()
    WORLDS.pop(world.id, None)


def model_catalog(http: httpx.Client) -> tuple[str, ...]:
    """The target's model aliases (GET /v1/models), for the model fields of positive bodies."""
    body = json_or_none(http.get("/v1/models"))
    models = body.get("models") if isinstance(body, dict) else None
    aliases = tuple(
        m["id"] for m in models or () if isinstance(m, dict) and isinstance(m.get("id"), str)
    )
    return aliases or FALLBACK_MODELS
