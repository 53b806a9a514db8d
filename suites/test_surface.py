"""The public surface: health, the OpenAPI document, Swagger UI, the success envelope, payload
shapes, the model catalog, and robustness against bad input.

ENVELOPE-OK and SHAPE-CONFORMANCE judge one module-scoped tour of successful first-party calls
(one per route family); the tour only records, so a broken step fails its own route's test, and
a route the tour could not reach because of it is not verified (with the step that stopped it).
Every test records its check (``oracle.checked``) after its last comparison; a throttled answer
(429, or 503 with Retry-After) makes it not verified instead.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from seecodes_conformance.contract import (
    HTTP_METHODS,
    ROUTES,
    payload_schemas,
    payload_spec,
    validate_payload,
)
from seecodes_conformance.flows import SAMPLE_LIST_MD, SAMPLE_PROGRESS, ProtocolSteps
from seecodes_conformance.http import (
    HandshakeError,
    JiraAppSession,
    PermitSession,
    is_throttled,
    json_or_none,
)
from seecodes_conformance.ids import TaskRef
from seecodes_conformance.oracle import checked, fail, throttled
from seecodes_conformance.outcomes import not_verified
from seecodes_conformance.redaction import register_credentials
from seecodes_conformance.target import Target

Route = tuple[str, str]
CONTEXT_ROUTE: Route = ("GET", "/v1/tasks/context")
METRICS_BODY = {"installedUsersCount": 17, "source": "forge-hourly-sync"}
MODEL_FIELDS = ("id", "name", "maxContext", "description", "pricing")


def _is_json(response: httpx.Response) -> bool:
    return "json" in response.headers.get("content-type", "").lower()


def _route_id(route: Route) -> str:
    return f"{route[0]} {route[1]}"


def _answered(response: httpx.Response, invariant: str, what: str) -> httpx.Response:
    """``response``, unless the target throttled it: then the check is not verified."""
    if is_throttled(response.status_code, response.headers):
        throttled(response, invariant, what)
    return response


# -- HEALTH-OK, DOCS-UI, MODELS-CATALOG --------------------------------------------------------


@pytest.mark.invariant("HEALTH-OK")
def test_healthz_answers_ok(http: httpx.Client) -> None:
    response = _answered(http.get("/healthz"), "HEALTH-OK", "GET /healthz")

    if not response.is_success:
        fail("HEALTH-OK", f"GET /healthz answered {response.status_code}", [response])
    body = json_or_none(response)
    if not isinstance(body, dict) or body.get("ok") is not True:
        fail("HEALTH-OK", "GET /healthz must answer { ok: true }", [response])
    checked("HEALTH-OK")


@pytest.mark.invariant("DOCS-UI")
def test_docs_serves_html(http: httpx.Client) -> None:
    # A redirect to /docs/ (or similar) is HTTP, not a protocol choice: follow it.
    response = _answered(http.get("/docs", follow_redirects=True), "DOCS-UI", "GET /docs")

    if not response.is_success:
        fail("DOCS-UI", f"GET /docs answered {response.status_code}", [response])
    kind = response.headers.get("content-type", "")
    if "text/html" not in kind.lower():
        fail("DOCS-UI", f"GET /docs must serve HTML, got content-type {kind!r}", [response])
    checked("DOCS-UI")


@pytest.mark.invariant("MODELS-CATALOG")
def test_models_catalog_lists_described_models(http: httpx.Client) -> None:
    response = _answered(http.get("/v1/models"), "MODELS-CATALOG", "GET /v1/models")

    if not response.is_success:
        fail("MODELS-CATALOG", f"GET /v1/models answered {response.status_code}", [response])
    body = json_or_none(response)
    models = body.get("models") if isinstance(body, dict) else None
    if not isinstance(models, list) or not models:
        fail("MODELS-CATALOG", "the catalog lists no models", [response])
    # "model aliases, context limits, descriptions, and pricing metadata": each model says all.
    for model in models:
        missing = [f for f in MODEL_FIELDS if not isinstance(model, dict) or model.get(f) is None]
        if missing:
            fail("MODELS-CATALOG", f"a model lacks {', '.join(missing)}: {model!r}", [response])
    checked("MODELS-CATALOG")


# -- OPENAPI-DOC --------------------------------------------------------------------------------


def _normalised(template: str) -> str:
    """Parameter names are the target's choice: /v1/tasks/{id} documents /v1/tasks/{runId}."""
    return re.sub(r"\{[^}/]*\}", "{}", template)


def _documented(doc: dict[str, Any]) -> set[Route]:
    paths = doc.get("paths")
    if not isinstance(paths, dict):
        return set()
    return {
        (method.upper(), _normalised(path))
        for path, item in paths.items()
        if isinstance(item, dict)
        for method in item
        if method in HTTP_METHODS
    }


@pytest.mark.invariant("OPENAPI-DOC")
def test_openapi_document_is_version_3_1(target: Target) -> None:
    version = target.openapi.get("openapi")

    if not isinstance(version, str) or not re.match(r"^3\.1(\.\d+)?$", version):
        fail("OPENAPI-DOC", f"/openapi.json declares openapi {version!r}, not 3.1.x")
    checked("OPENAPI-DOC")


@pytest.mark.invariant("OPENAPI-DOC")
@pytest.mark.parametrize("route", ROUTES, ids=[_route_id(r) for r in ROUTES])
def test_openapi_document_lists_route(target: Target, route: Route) -> None:
    method, template = route

    if (method, _normalised(template)) not in _documented(target.openapi):
        fail("OPENAPI-DOC", f"the target's /openapi.json does not document {method} {template}")
    checked("OPENAPI-DOC")


# -- the tour: one successful first-party call per route ----------------------------------------


@dataclass
class Tour:
    """Every answer the tour saw, by documented route, and the routes it could not call."""

    seen: dict[Route, list[httpx.Response]] = field(default_factory=dict)
    unreached: dict[Route, str] = field(default_factory=dict)  # route -> the step that stopped it
    throttled_at: dict[Route, httpx.Response] = field(default_factory=dict)  # ... when throttled

    def note(self, method: str, template: str, response: httpx.Response) -> httpx.Response:
        self.seen.setdefault((method, template), []).append(response)
        return response

    def call(self, method: str, template: str, send: Callable[[], httpx.Response]) -> None:
        """A Jira-App call: a failed request-key bootstrap leaves the route unreached."""
        try:
            self.note(method, template, send())
        except HandshakeError as exc:
            self.skip([(method, template)], str(exc))

    def skip(
        self, routes: Iterable[Route], why: str, stopped_by: httpx.Response | None = None
    ) -> None:
        """``routes`` cannot be toured: ``why`` names the step, ``stopped_by`` its answer."""
        for route in routes:
            self.unreached.setdefault(route, why)
            if stopped_by is not None and is_throttled(stopped_by.status_code, stopped_by.headers):
                self.throttled_at.setdefault(route, stopped_by)


PERMIT_ROUTES: list[Route] = [
    CONTEXT_ROUTE,
    ("POST", "/v1/tasks/{taskId}/progress"),
    ("GET", "/v1/tasks/{taskId}/progress"),
    ("POST", "/v1/tasks/activity-snapshot"),
    ("POST", "/v1/projects/{projectId}/indexes/upsert"),
    ("POST", "/v1/projects/{projectId}/indexes/query"),
    ("POST", "/v1/tasks/init"),
]
RUN_ROUTES: list[Route] = [("POST", "/v1/tasks/{runId}/start"), ("GET", "/v1/tasks/{runId}")]
EXCHANGE_ROUTE: Route = ("POST", "/v1/security/launch-exchange")


def _permit_in(response: httpx.Response) -> str | None:
    body = json_or_none(response)
    permit = body.get("permit") if isinstance(body, dict) else None
    return permit if response.is_success and isinstance(permit, str) and permit else None


def _stopped(route: Route, response: httpx.Response, what: str = "") -> str:
    return f"{_route_id(route)} answered {response.status_code}{what}"


@pytest.fixture(scope="module")
def tour(module_protocol: ProtocolSteps, http: httpx.Client) -> Tour:
    """One successful call per route family, as first-party clients make them; records only."""
    p, t = module_protocol, Tour()
    jira = p.jira("a")
    t.note("GET", "/healthz", http.get("/healthz"))
    t.note("GET", "/v1/models", http.get("/v1/models"))
    t.note("POST", "/v1/jira/request-key", jira.bootstrap())
    t.call("GET", "/v1/instances/me", lambda: jira.get("/v1/instances/me"))
    t.call("GET", "/v1/jira/usage", lambda: jira.get("/v1/jira/usage"))
    t.call(
        "POST",
        "/v1/jira/instance-metrics",
        lambda: jira.post("/v1/jira/instance-metrics", json=METRICS_BODY),
    )

    task = p.new_task()
    minting: Route = ("POST", "/v1/security/task-permit")
    t.call(*minting, lambda: p.task_permit_response(task, jira))
    minted = t.seen.get(minting, [])
    permit_value = _permit_in(minted[-1]) if minted else None
    if permit_value is None:
        t.skip(
            PERMIT_ROUTES + RUN_ROUTES,
            _stopped(minting, minted[-1], " without a permit")
            if minted
            else t.unreached.get(minting, "no permit was minted"),
            minted[-1] if minted else None,
        )
    else:
        permit = PermitSession(http, permit_value, task)
        _permit_tour(p, t, jira, permit)
    # After the permit's activity snapshot, when there is one.
    t.call("GET", "/v1/jira/team-competition", lambda: p.team_competition(jira, task.project_id))

    # A launch link that carries Jira context, exchanged as the IDE does, then hydrated.
    linked = p.new_task()
    linking: Route = ("POST", "/v1/security/vscode-link")
    context = {
        "title": "Implement auth flow",
        "descriptionMd": "...",
        "attachments": [],
        "images": [],
    }
    t.call(
        *linking,
        lambda: p.launch_link_response(
            linked,
            jira,
            jiraContext=context,
            initialTaiDoc={"version": 1, "task": {"title": "Implement auth flow"}},
        ),
    )
    links = t.seen.get(linking, [])
    link_body = json_or_none(links[-1]) if links else None
    code = link_body.get("launchCode") if isinstance(link_body, dict) else None
    if not links or not links[-1].is_success or not isinstance(code, str):
        why = _stopped(linking, links[-1], " without a launch code") if links else ""
        why = why or t.unreached.get(linking, "no launch code was minted")
        # The stored context is read only through the exchanged permit.
        t.skip([EXCHANGE_ROUTE, CONTEXT_ROUTE], why, links[-1] if links else None)
        return t
    exchanged = t.note(*EXCHANGE_ROUTE, p.exchange(code, linked))
    exchanged_permit = _permit_in(exchanged)
    if exchanged_permit is None:
        t.skip([CONTEXT_ROUTE], _stopped(EXCHANGE_ROUTE, exchanged, " without a permit"), exchanged)
    else:
        t.note(*CONTEXT_ROUTE, p.read_context(PermitSession(http, exchanged_permit, linked)))
    return t


def _permit_tour(p: ProtocolSteps, t: Tour, jira: JiraAppSession, permit: PermitSession) -> None:
    """The permit's routes, and a run from init to its first status."""
    task = permit.task
    t.note(*CONTEXT_ROUTE, p.read_context(permit))  # no stored context: may be ok:false
    t.note("POST", "/v1/tasks/{taskId}/progress", p.write_progress(permit, SAMPLE_PROGRESS))
    t.note("GET", "/v1/tasks/{taskId}/progress", p.read_progress(permit))
    t.call("GET", "/v1/tasks/{taskId}/progress", lambda: p.read_progress_as_jira(jira, task))
    t.note("POST", "/v1/tasks/activity-snapshot", p.write_snapshot(permit))
    digest = uuid.uuid4().hex * 2
    upsert = p.index_upsert(permit, {"src/auth.ts": p.index_entry(digest)})
    t.note("POST", "/v1/projects/{projectId}/indexes/upsert", upsert)
    query = p.index_query(permit, [("src/auth.ts", digest), ("src/other.ts", digest)])
    t.note("POST", "/v1/projects/{projectId}/indexes/query", query)
    init = t.note(
        "POST",
        "/v1/tasks/init",
        permit.post("/v1/tasks/init", json={"model": "strict light", "files": ["list.md"]}),
    )
    body = json_or_none(init)
    run_id = body.get("runId") if isinstance(body, dict) else None
    uploads = body.get("uploads") if isinstance(body, dict) else None
    if not init.is_success or not isinstance(run_id, str) or not isinstance(uploads, dict):
        t.skip(RUN_ROUTES, _stopped(("POST", "/v1/tasks/init"), init, " without runId and uploads"))
        return
    register_credentials(body)
    for name, url in uploads.items():
        uploaded = p.upload(str(url), SAMPLE_LIST_MD)
        if not uploaded.is_success:
            t.skip(RUN_ROUTES, f"the presigned upload of {name} answered {uploaded.status_code}")
            return
    t.note("POST", "/v1/tasks/{runId}/start", p.start_run(permit, run_id))
    t.note("GET", "/v1/tasks/{runId}", permit.get(f"/v1/tasks/{run_id}"))


def _not_reached(route: Route, responses: list[httpx.Response], tour: Tour, invariant: str) -> None:
    """No successful answer from ``route``: not verified if the tour never called it, or only
    heard "throttled" from it; otherwise a failure (a first-party call must get its answer)."""
    if route in tour.unreached:  # the only success it could have had was never asked for
        stopped_by = tour.throttled_at.get(route)
        if stopped_by is not None:
            throttled(stopped_by, invariant, f"the tour's way to {_route_id(route)}")
        not_verified(
            invariant,
            "setup",
            f"the tour could not call {_route_id(route)} as first-party clients do: "
            f"{tour.unreached[route]} (that route's own test says why)",
        )
    if responses and all(is_throttled(r.status_code, r.headers) for r in responses):
        throttled(responses[-1], invariant, f"the tour's call of {_route_id(route)}")
    fail(
        invariant,
        f"precondition: the tour got no successful answer from {_route_id(route)}",
        responses[-1:],
    )


# -- ENVELOPE-OK --------------------------------------------------------------------------------


@pytest.mark.invariant("ENVELOPE-OK")
def test_every_successful_json_body_carries_ok_true(tour: Tour) -> None:
    bodies = 0
    for route, responses in tour.seen.items():
        for response in responses:
            if not response.is_success or not _is_json(response):
                continue  # refusals, and text answers, are judged by their routes' tests
            body = json_or_none(response)
            if route == CONTEXT_ROUTE and ProtocolSteps.is_context_not_found(body):
                continue  # the one ok:false form the protocol allows
            bodies += 1
            if not isinstance(body, dict) or body.get("ok") is not True:
                fail("ENVELOPE-OK", f"{_route_id(route)} answered 2xx without ok: true", [response])
    if bodies == 0:
        answers = [r for responses in tour.seen.values() for r in responses]
        throttled_answers = [r for r in answers if is_throttled(r.status_code, r.headers)]
        if throttled_answers:
            throttled(throttled_answers[-1], "ENVELOPE-OK", "the tour's calls")
        fail("ENVELOPE-OK", "the tour saw no successful JSON answer to check")
    checked("ENVELOPE-OK")


# -- SHAPE-CONFORMANCE --------------------------------------------------------------------------


def _shaped_routes() -> list[Route]:
    """Routes whose successful answer is a JSON document with a first-party schema."""
    return [
        route
        for route in ROUTES
        if payload_spec(*route).response is not None
        and payload_spec(*route).response_status.upper() == "2XX"
        and "json" in payload_spec(*route).response_media_type
    ]


SHAPED_ROUTES = _shaped_routes()


@pytest.mark.invariant("SHAPE-CONFORMANCE")
@pytest.mark.parametrize("route", SHAPED_ROUTES, ids=[_route_id(r) for r in SHAPED_ROUTES])
def test_successful_answer_has_first_party_shape(tour: Tour, route: Route) -> None:
    _, schema = payload_schemas(*route)
    assert schema is not None
    responses = tour.seen.get(route, [])
    # Only answers that succeeded have the first-party shape to check; a refused first-party
    # call is judged by the route's own tests.
    successes = [r for r in responses if r.is_success]
    if not successes:
        _not_reached(route, responses, tour, "SHAPE-CONFORMANCE")
    for response in successes:
        problems = validate_payload(schema, json_or_none(response))
        if problems:
            fail(
                "SHAPE-CONFORMANCE",
                f"{_route_id(route)} answered a body that is not the first-party shape:\n    "
                + "\n    ".join(problems),
                [response],
            )
    checked("SHAPE-CONFORMANCE")


# -- NO-SERVER-ERROR ----------------------------------------------------------------------------


@dataclass
class Bench:
    """What the bad-input cases need: a permit, a run of its pair, a Jira session."""

    protocol: ProtocolSteps
    http: httpx.Client
    task: TaskRef
    permit: PermitSession
    jira: JiraAppSession
    run_id: str


@pytest.fixture(scope="module")
def bench(module_protocol: ProtocolSteps, http: httpx.Client) -> Bench:
    p = module_protocol
    task = p.new_task()
    permit = p.mint_permit(task)
    run = p.init_run(permit, files=["list.md"])
    return Bench(p, http, task, permit, p.jira("a"), run.run_id)


MALFORMED = b'{"ready": ["Protected-route wrapper is live",'
TWO_MIB = 2 * 1024 * 1024
# 100 000 nested arrays, behind a long string so evidence snippets never parse the nesting.
DEEP_NESTING = (
    b'{"logs": ["' + b"x" * 4096 + b'"], "ready": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
)
Case = Callable[[Bench], httpx.Response]


def _raw(body: bytes, content_type: str = "application/json") -> dict[str, Any]:
    return {"content": body, "headers": {"Content-Type": content_type}}


def _progress(b: Bench) -> str:
    return f"/v1/tasks/{b.task.task_id}/progress"


def _index(b: Bench, op: str, project: str | None = None) -> str:
    return f"/v1/projects/{quote(project or b.task.project_id, safe='')}/indexes/{op}"


def _bootstrap_raw(b: Bench, body: bytes) -> httpx.Response:
    headers = {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {b.jira.forge_token()}",
    }
    return b.http.post("/v1/jira/request-key", content=body, headers=headers)


def _hostile(base: str) -> dict[str, str]:
    """Hostile strings that still begin with the run's own ids (safe for staging)."""
    return {
        "long": base + "A" * 3000,
        "control": base + "\r\n\t\x1b[31m\x7f",
        "nul": base + "\x00",
        "unicode": base + "-ПРОЕКТ-１-ﬁ-\u202e-\U0001f600",
        "traversal": base + "/../../../etc/passwd",
    }


UNKNOWN_RUN = "run_" + "0" * 24

CASES: dict[str, Case] = {
    # malformed JSON, with valid credentials so the parser is reached
    "malformed-json-progress": lambda b: b.permit.post(_progress(b), **_raw(MALFORMED)),
    "malformed-json-init": lambda b: b.permit.post("/v1/tasks/init", **_raw(MALFORMED)),
    "malformed-json-start": lambda b: b.permit.post(
        f"/v1/tasks/{b.run_id}/start", **_raw(MALFORMED)
    ),
    "malformed-json-snapshot": lambda b: b.permit.post(
        "/v1/tasks/activity-snapshot", **_raw(MALFORMED)
    ),
    "malformed-json-index-upsert": lambda b: b.permit.post(_index(b, "upsert"), **_raw(MALFORMED)),
    "malformed-json-index-query": lambda b: b.permit.post(_index(b, "query"), **_raw(MALFORMED)),
    "malformed-json-launch-exchange": lambda b: b.http.post(
        "/v1/security/launch-exchange", **_raw(MALFORMED)
    ),
    "malformed-json-task-permit": lambda b: b.jira.post(
        "/v1/security/task-permit", **_raw(MALFORMED)
    ),
    "malformed-json-vscode-link": lambda b: b.jira.post(
        "/v1/security/vscode-link", **_raw(MALFORMED)
    ),
    "malformed-json-instance-metrics": lambda b: b.jira.post(
        "/v1/jira/instance-metrics", **_raw(MALFORMED)
    ),
    "malformed-json-request-key": lambda b: _bootstrap_raw(b, MALFORMED),
    "invalid-utf8-progress": lambda b: b.permit.post(
        _progress(b), **_raw(b'{"ready": ["\xff\xfe\xfd"]}')
    ),
    "lone-surrogate-progress": lambda b: b.permit.post(
        _progress(b), **_raw(b'{"ready": ["\\ud800"], "left": ["\\udfff\\u0000"]}')
    ),
    "deep-nesting-progress": lambda b: b.permit.post(_progress(b), **_raw(DEEP_NESTING)),
    "json-array-progress": lambda b: b.permit.post(_progress(b), json=[SAMPLE_PROGRESS]),
    "json-null-init": lambda b: b.permit.post("/v1/tasks/init", **_raw(b"null")),
    "text-plain-progress": lambda b: b.permit.post(_progress(b), **_raw(b"ready", "text/plain")),
    # wrong types
    "wrong-types-progress": lambda b: b.permit.post(
        _progress(b),
        json={
            "ready": "not-a-list",
            "left": 5,
            "progress": 67,
            "confidence": None,
            "risks": {"a": 1},
            "logs": [1, [2], {"3": 4}],
        },
    ),
    "wrong-types-init": lambda b: b.permit.post(
        "/v1/tasks/init", json={"model": 5, "files": "list.md"}
    ),
    "wrong-types-init-files": lambda b: b.permit.post(
        "/v1/tasks/init", json={"model": "strict light", "files": [None, 5, {"name": "list.md"}]}
    ),
    "wrong-types-start": lambda b: b.permit.post(
        f"/v1/tasks/{b.run_id}/start", json={"model": ["strict light"], "userPrompt": 5}
    ),
    "wrong-types-snapshot": lambda b: b.permit.post(
        "/v1/tasks/activity-snapshot",
        json={
            "windowStartedAt": 12,
            "windowEndedAt": [],
            "humanActiveMs": "lots",
            "locAdded": -1e308,
            "changedFiles": "src/auth.ts",
            "logicChange": "yes",
        },
    ),
    "wrong-types-index-upsert": lambda b: b.permit.post(
        _index(b, "upsert"), json={"entries": ["src/auth.ts"], "deletePaths": "src/auth.ts"}
    ),
    "wrong-types-index-entry": lambda b: b.permit.post(
        _index(b, "upsert"),
        json={"entries": {"src/auth.ts": {"hash": 5, "updatedAt": "yesterday", "short": []}}},
    ),
    "wrong-types-index-query": lambda b: b.permit.post(
        _index(b, "query"), json={"items": [{"path": 5, "hash": None}, "src/auth.ts"]}
    ),
    "wrong-types-index-query-items": lambda b: b.permit.post(
        _index(b, "query"), json={"items": "everything"}
    ),
    "wrong-types-launch-exchange": lambda b: b.http.post(
        "/v1/security/launch-exchange",
        json={"code": 123, "projectId": [b.task.project_id], "taskId": None},
    ),
    "wrong-types-task-permit": lambda b: b.protocol.task_permit_response(
        b.task, b.jira, projectId=5, taskId={"id": b.task.task_id}
    ),
    "wrong-types-vscode-link": lambda b: b.protocol.launch_link_response(
        b.task, b.jira, expirationDays="forever", jiraContext="not-an-object"
    ),
    "wrong-types-team-competition-dates": lambda b: b.jira.get(
        "/v1/jira/team-competition",
        params={"projectId": b.task.project_id, "startDate": "yesterday", "endDate": "\x00"},
    ),
    "wrong-types-instance-metrics": lambda b: b.jira.post(
        "/v1/jira/instance-metrics", json={"installedUsersCount": "many", "source": 5}
    ),
    # 2 MiB bodies
    "two-mib-progress": lambda b: b.permit.post(
        _progress(b), json={**SAMPLE_PROGRESS, "logs": ["x" * TWO_MIB]}
    ),
    "two-mib-launch-exchange": lambda b: b.protocol.exchange("x" * TWO_MIB, b.task),
    "two-mib-index-upsert": lambda b: b.permit.post(
        _index(b, "upsert"),
        json={
            "entries": {
                "src/auth.ts": {
                    "hash": "a" * 64,
                    "updatedAt": 0,
                    "short": "s",
                    "detailed": "d" * TWO_MIB,
                    "important_symbols": [],
                }
            }
        },
    ),
    # a run started before its upload (the protocol's flow uploads first): queued to wait for
    # it or refused, the target's choice; a server error is neither
    "start-before-uploads": lambda b: b.permit.post(
        f"/v1/tasks/{b.run_id}/start", json={"model": "strict light"}
    ),
    # unknown run ids
    "unknown-run-status": lambda b: b.permit.get(f"/v1/tasks/{UNKNOWN_RUN}"),
    "unknown-run-start": lambda b: b.permit.post(
        f"/v1/tasks/{UNKNOWN_RUN}/start", json={"model": "strict light"}
    ),
    "unknown-run-output": lambda b: b.permit.get(f"/v1/tasks/{UNKNOWN_RUN}/output"),
    "unknown-run-logs": lambda b: b.permit.get(f"/v1/tasks/{UNKNOWN_RUN}/logs"),
}


def _hostile_cases(kind: str) -> dict[str, Case]:
    def h(base: str) -> str:
        return _hostile(base)[kind]

    def seg(base: str) -> str:
        return quote(h(base), safe="")

    return {
        f"hostile-{kind}-progress-path": lambda b: b.permit.get(
            f"/v1/tasks/{seg(b.task.task_id)}/progress", params={"projectId": h(b.task.project_id)}
        ),
        f"hostile-{kind}-progress-body": lambda b: b.permit.post(
            _progress(b), json={**SAMPLE_PROGRESS, "ready": [h("ready")], "progress": h("67%")}
        ),
        f"hostile-{kind}-run-path": lambda b: b.permit.get(f"/v1/tasks/{seg(b.run_id)}"),
        f"hostile-{kind}-index-path": lambda b: b.permit.post(
            _index(b, "query", h(b.task.project_id)),
            json={"items": [{"path": "src/auth.ts", "hash": "a" * 64}]},
        ),
        f"hostile-{kind}-launch-exchange": lambda b: b.protocol.exchange(
            h("code"), TaskRef(h(b.task.project_id), h(b.task.task_id))
        ),
        f"hostile-{kind}-launcher": lambda b: b.http.get(
            "/v1/launch",
            params={"p": h(b.task.project_id), "t": h(b.task.task_id), "c": h("code")},
        ),
        f"hostile-{kind}-task-permit": lambda b: b.protocol.task_permit_response(
            TaskRef(h(b.task.project_id), h(b.task.task_id)), b.jira
        ),
        f"hostile-{kind}-team-competition": lambda b: b.jira.get(
            "/v1/jira/team-competition", params={"projectId": h(b.task.project_id)}
        ),
    }


for _kind in _hostile(""):
    CASES.update(_hostile_cases(_kind))

# Extreme inputs the protocol says nothing about: a server error on them is an advisory finding.
EXTREME = frozenset(
    name
    for name in CASES
    if name.startswith("two-mib-") or name in ("deep-nesting-progress", "lone-surrogate-progress")
)
# A target may refuse a 2 MiB upload by answering early and closing the connection.
OVERSIZED = frozenset(name for name in CASES if name.startswith("two-mib-"))


@pytest.mark.invariant("NO-SERVER-ERROR")
@pytest.mark.parametrize("case", sorted(set(CASES) - EXTREME))
def test_bad_input_gets_no_server_error(bench: Bench, case: str) -> None:
    _no_server_error(bench, case, "NO-SERVER-ERROR")


@pytest.mark.invariant("ROBUST-EXTREME-INPUT")
@pytest.mark.parametrize("case", sorted(EXTREME))
def test_extreme_input_gets_no_server_error(bench: Bench, case: str) -> None:
    """Advisory: the protocol says nothing about 100,000-deep nesting, lone surrogates or
    multi-megabyte bodies; a 5xx on them is reported as a robustness finding."""
    _no_server_error(bench, case, "ROBUST-EXTREME-INPUT")


def _no_server_error(bench: Bench, case: str, invariant: str) -> None:
    try:
        response = CASES[case](bench)
    except httpx.TransportError as exc:
        if case not in OVERSIZED:
            fail(invariant, f"{case}: the connection failed instead of a 4xx: {exc!r}")
        _still_up(bench, case, exc, invariant)
        not_verified(
            invariant,
            "refused",
            f"{case}: the target closed the connection while the 2 MiB body was being sent "
            f"({type(exc).__name__}), so its answer, if it sent one, could not be read; it still "
            "answers /healthz",
        )

    _answered(response, invariant, case)
    if response.status_code >= 500:
        fail(
            invariant,
            f"{case}: server error {response.status_code} on bad input",
            [response],
        )
    checked(invariant)


def _still_up(bench: Bench, case: str, exc: httpx.TransportError, invariant: str) -> None:
    """After a broken upload, the target must still answer: a crash is a server error."""
    try:
        health = bench.http.get("/healthz")
    except httpx.TransportError as down:
        fail(
            invariant,
            f"{case}: the connection broke ({exc!r}) and /healthz no longer answers: {down!r}",
        )
    if not health.is_success and not is_throttled(health.status_code, health.headers):
        fail(
            invariant,
            f"{case}: the connection broke ({exc!r}) and /healthz then answered "
            f"{health.status_code}",
            [health],
        )
