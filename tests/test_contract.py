"""Self-tests of contract/: the published document, the payload schemas and the catalog.

The harness judges engines by these files, so they are checked against the protocol itself: the
OpenAPI document lists exactly the protocol's 24 route-method combinations, every schema accepts
the protocol's own examples (so none is stricter than the protocol) yet can still fail, and every
catalog quote is verbatim protocol text, and so is the sentence each (invariant, route) cell
comes from (or, for a cell a Forge profile rule governs, verbatim certification-profile text).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_openapi

from protocol_sources import (
    KEPT,
    ORIGINALS,
    PROFILE_NAME,
    PROTOCOL_NAME,
    profile_path,
    protocol_path,
)
from seecodes_conformance import contract
from seecodes_conformance.resources import contract_dir

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLES_DIR = Path(__file__).resolve().parent / "data" / "protocol_examples"

EXPECTED_ROUTES = {
    ("GET", "/healthz"),
    ("GET", "/openapi.json"),
    ("POST", "/v1/jira/request-key"),
    ("GET", "/v1/instances/me"),
    ("POST", "/v1/security/vscode-link"),
    ("POST", "/v1/security/task-permit"),
    ("POST", "/v1/security/launch-exchange"),
    ("GET", "/v1/tasks/context"),
    ("GET", "/v1/launch"),
    ("POST", "/v1/tasks/{taskId}/progress"),
    ("GET", "/v1/tasks/{taskId}/progress"),
    ("POST", "/v1/tasks/init"),
    ("POST", "/v1/tasks/{runId}/start"),
    ("GET", "/v1/tasks/{runId}"),
    ("GET", "/v1/tasks/{runId}/output"),
    ("GET", "/v1/tasks/{runId}/logs"),
    ("POST", "/v1/tasks/activity-snapshot"),
    ("GET", "/v1/jira/usage"),
    ("POST", "/v1/jira/instance-metrics"),
    ("POST", "/v1/jira/telemetry/events"),
    ("GET", "/v1/jira/team-competition"),
    ("GET", "/v1/models"),
    ("POST", "/v1/projects/{projectId}/indexes/query"),
    ("POST", "/v1/projects/{projectId}/indexes/upsert"),
}
ROUTE_KEYS = {f"{method} {path}" for method, path in EXPECTED_ROUTES}

Security = list[dict[str, list[str]]]
PUBLIC: Security = []
FORGE: Security = [{"forgeBearer": []}]
JIRA_APP: Security = [{"forgeBearer": [], "jiraRequestKey": []}]
PERMIT: Security = [{"taskPermit": []}]
JIRA_APP_ROUTES = {
    "GET /v1/instances/me",
    "POST /v1/security/vscode-link",
    "POST /v1/security/task-permit",
    "GET /v1/jira/usage",
    "POST /v1/jira/instance-metrics",
    "GET /v1/jira/team-competition",
}
PUBLIC_ROUTES = {
    "GET /healthz",
    "GET /openapi.json",
    "GET /v1/launch",
    "POST /v1/security/launch-exchange",
    "GET /v1/models",
    "POST /v1/jira/telemetry/events",
}


def _expected_security(route: str) -> Security:
    if route in PUBLIC_ROUTES:
        return PUBLIC
    if route == "POST /v1/jira/request-key":
        return FORGE
    if route in JIRA_APP_ROUTES:
        return JIRA_APP
    if route == "GET /v1/tasks/{taskId}/progress":
        return PERMIT + JIRA_APP
    return PERMIT


# (name, in, required) of every parameter, exactly as the protocol lists them.
EXPECTED_PARAMETERS: dict[str, set[tuple[str, str, bool]]] = {
    "GET /v1/instances/me": {("cloudIdHint", "query", False), ("siteUrlHint", "query", False)},
    "GET /v1/launch": {
        ("p", "query", True),
        ("t", "query", True),
        ("c", "query", True),
        ("baseUrl", "query", False),
        ("statusLanguage", "query", False),
    },
    "POST /v1/tasks/{taskId}/progress": {("taskId", "path", True)},
    "GET /v1/tasks/{taskId}/progress": {
        ("taskId", "path", True),
        ("projectId", "query", True),
        ("cloudIdHint", "query", False),
    },
    "POST /v1/tasks/{runId}/start": {("runId", "path", True)},
    "GET /v1/tasks/{runId}": {("runId", "path", True)},
    "GET /v1/tasks/{runId}/output": {("runId", "path", True)},
    "GET /v1/tasks/{runId}/logs": {("runId", "path", True)},
    "GET /v1/jira/usage": {("cloudIdHint", "query", False)},
    "GET /v1/jira/team-competition": {
        ("projectId", "query", False),
        ("startDate", "query", False),
        ("endDate", "query", False),
        ("cloudIdHint", "query", False),
        ("siteUrlHint", "query", False),
    },
    "POST /v1/projects/{projectId}/indexes/query": {("projectId", "path", True)},
    "POST /v1/projects/{projectId}/indexes/upsert": {("projectId", "path", True)},
}

RUN_STATUSES = ("queued", "in_process", "processing_remote", "succeeded", "failed")


# ------------------------------------------------------------------------------------ helpers


def _normalise(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def protocol_text() -> str:
    """The protocol markdown the catalog quotes (kept in contract/protocol/)."""
    return protocol_path().read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def profile_text() -> str:
    """The certification profile, the other source a cell's sentence may come from."""
    return profile_path().read_text(encoding="utf-8")


def _operations() -> list[tuple[str, dict[str, Any]]]:
    document = contract.load_openapi()
    return [
        (f"{method.upper()} {path}", operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def _resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def _examples() -> list[Path]:
    return sorted(EXAMPLES_DIR.glob("*.json"))


def _schema_for_example(path: Path) -> str:
    return path.stem.split("--")[0] + ".json"


def _raw_catalog() -> list[dict[str, Any]]:
    with (contract_dir() / "invariants.yaml").open(encoding="utf-8") as handle:
        entries: list[dict[str, Any]] = yaml.safe_load(handle)["invariants"]
    return entries


# ------------------------------------------------------------------------------------ OpenAPI


def test_openapi_is_a_valid_openapi_31_document() -> None:
    document = contract.load_openapi()
    validate_openapi(document)
    assert document["openapi"] == "3.1.0"
    assert document["info"]["title"] == "SeeCodes Execution Engine"
    assert document["info"]["version"] == "3.1.10"


def test_openapi_documents_exactly_the_24_combinations() -> None:
    assert len(contract.ROUTES) == 24
    assert len(set(contract.ROUTES)) == 24
    assert set(contract.ROUTES) == EXPECTED_ROUTES


def test_the_24_combinations_are_the_protocols_route_headings(protocol_text: str) -> None:
    """The route headings of the protocol ("GET/healthz") are the same 24 combinations."""
    headings = {
        (match[1], match[2])
        for match in re.finditer(r"^(GET|POST|PUT|PATCH|DELETE)(/\S*)$", protocol_text, re.M)
    }
    assert headings == EXPECTED_ROUTES
    assert "24 documented route-method combinations" in protocol_text


def test_operation_ids_are_unique_camel_case_and_tagged() -> None:
    allowed_tags = {tag["name"] for tag in contract.load_openapi()["tags"]}
    assert allowed_tags == {"system", "security", "instances", "tasks", "telemetry", "models"}
    ids = [operation["operationId"] for _, operation in _operations()]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z][a-zA-Z0-9]+", op_id) for op_id in ids)
    for route, operation in _operations():
        assert operation["tags"] and set(operation["tags"]) <= allowed_tags, route


def test_security_schemes() -> None:
    schemes = contract.load_openapi()["components"]["securitySchemes"]
    assert schemes["forgeBearer"] == {**schemes["forgeBearer"], "type": "http", "scheme": "bearer"}
    assert schemes["taskPermit"] == {**schemes["taskPermit"], "type": "http", "scheme": "bearer"}
    assert schemes["jiraRequestKey"] == {
        **schemes["jiraRequestKey"],
        "type": "apiKey",
        "in": "header",
        "name": "X-SeeCodes-Jira-Request-Key",
    }


@pytest.mark.parametrize("route", sorted(ROUTE_KEYS))
def test_security_follows_the_access_patterns(route: str) -> None:
    operations = dict(_operations())
    assert operations[route]["security"] == _expected_security(route)


@pytest.mark.parametrize("route", sorted(ROUTE_KEYS))
def test_parameters_are_exactly_the_protocols(route: str) -> None:
    document = contract.load_openapi()
    operation = dict(_operations())[route]
    parameters = [_resolve(document, p) for p in operation.get("parameters", [])]
    found = {(p["name"], p["in"], p.get("required", False)) for p in parameters}
    assert found == EXPECTED_PARAMETERS.get(route, set())


@pytest.mark.parametrize("route", sorted(ROUTE_KEYS))
def test_responses_success_media_and_generic_rejection(route: str) -> None:
    document = contract.load_openapi()
    responses = dict(_operations())[route]["responses"]
    assert "4XX" in responses, "any legal 4xx must conform"
    assert not [code for code in responses if re.fullmatch(r"4\d\d|5..", code)]
    if route == "POST /v1/jira/telemetry/events":
        assert set(responses) == {"4XX"}, "the disabled route documents no success"
        return
    success = _resolve(document, responses["2XX"])
    expected_media = contract.payload_spec(*route.split(" ", 1)).response_media_type
    assert list(success["content"]) == [expected_media]
    next_key = success.get("headers", {}).get("X-SeeCodes-Next-Request-Key")
    if route in JIRA_APP_ROUTES:
        assert _resolve(document, next_key)["required"] is True
    elif route == "GET /v1/tasks/{taskId}/progress":
        assert _resolve(document, next_key)["required"] is False
    else:
        assert next_key is None, "only Jira-App routes rotate the request key"


# ------------------------------------------------------------------------------------ schemas


@pytest.mark.parametrize("name", contract.schema_names())
def test_every_schema_is_a_valid_2020_12_schema(name: str) -> None:
    schema = contract.load_schema(name)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == contract.SCHEMA_BASE_URI + name
    Draft202012Validator.check_schema(schema)


def test_payloads_cover_exactly_the_24_combinations() -> None:
    for method, path in contract.ROUTES:
        spec = contract.payload_spec(method, path)
        request, response = contract.payload_schemas(method, path)
        assert (request is None) == (spec.request is None)
        assert (response is None) == (spec.response is None)
        if spec.response is not None:
            assert spec.response_media_type == "application/json"


def test_every_payload_schema_has_a_protocol_example() -> None:
    example_schemas = {_schema_for_example(path) for path in _examples()}
    used: set[str] = set()
    for method, path in contract.ROUTES:
        spec = contract.payload_spec(method, path)
        used |= {name for name in (spec.request, spec.response) if name}
    assert used <= example_schemas, sorted(used - example_schemas)
    assert example_schemas <= set(contract.schema_names())


def _example_documents(path: Path) -> list[Any]:
    document = json.loads(path.read_text(encoding="utf-8"))
    if path.name == "run-status-response.json":
        # The protocol lists the statuses as one "queued | in_process | ..." placeholder.
        assert document["status"]["status"] == " | ".join(RUN_STATUSES)
        return [
            {**document, "status": {**document["status"], "status": status}}
            for status in RUN_STATUSES
        ]
    return [document]


@pytest.mark.parametrize("path", _examples(), ids=lambda p: p.name)
def test_protocol_example_satisfies_its_schema(path: Path) -> None:
    schema = contract.load_schema(_schema_for_example(path))
    for document in _example_documents(path):
        assert contract.validate_payload(schema, document) == []


def _example(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((EXAMPLES_DIR / name).read_text(encoding="utf-8"))
    return document


def _with(name: str, **changes: Any) -> dict[str, Any]:
    return {**_example(name), **changes}


def _without(name: str, key: str) -> dict[str, Any]:
    document = _example(name)
    del document[key]
    return document


WRONG_DOCUMENTS: list[tuple[str, Any]] = [
    ("health.json", {"ok": "true"}),
    ("ok.json", {"ok": "true"}),
    ("ok.json", []),
    ("installation.json", _with("installation.json", credits="42")),
    ("installation.json", _without("installation.json", "cloudId")),
    ("request-key-response.json", _with("request-key-response.json", requestKey=None)),
    ("request-key-response.json", _with("request-key-response.json", expiresAt="1735689600")),
    ("launch-link-response.json", _with("launch-link-response.json", vscodeUrl="https://x/y")),
    ("launch-link-response.json", _without("launch-link-response.json", "launchCode")),
    ("task-permit-response.json", _without("task-permit-response.json", "permit")),
    ("launch-exchange-response.json", _with("launch-exchange-response.json", ok=None)),
    ("task-context.json", {"ok": False}),
    ("task-context.json", {"ok": True, "context": "none"}),
    ("task-context.json", {"ok": False, "error": "Something else"}),
    ("run-start-response.json", _with("run-start-response.json", status=7)),
    ("run-start-response.json", _with("run-start-response.json", estimatedCredits="37")),
    ("run-status-response.json", {"ok": True, "status": {"status": "done", "updatedAt": "x"}}),
    ("run-status-response.json", {"ok": True, "status": "queued"}),
    ("run-init-response.json", _with("run-init-response.json", uploads=["list.md"])),
    ("activity-snapshot-response.json", _with("activity-snapshot-response.json", stored="yes")),
    ("usage.json", _with("usage.json", availableCredits=None)),
    ("team-competition.json", _without("team-competition.json", "formula")),
    ("models.json", {"ok": True, "models": [{"id": "strict light"}]}),
    ("index-query-response.json", _with("index-query-response.json", matches=[])),
    ("index-upsert-response.json", _without("index-upsert-response.json", "totalFiles")),
    ("telemetry-disabled-response.json", {"ok": True}),
    ("progress-read-response.json", {"ok": True, "progress": {"ready": "all"}}),
    ("launch-link-request.json", _with("launch-link-request.json", expirationDays=15)),
    ("launch-link-request.json", _with("launch-link-request.json", taskId="auth-128")),
    ("launch-exchange-request.json", _without("launch-exchange-request.json", "code")),
    ("run-init-request.json", _with("run-init-request.json", files="list.md")),
    ("index-query-request.json", {"items": [{"path": "src/auth.ts", "hash": "A" * 64}]}),
    ("index-upsert-request.json", {"entries": {"/etc/passwd": {}}}),
    (
        "instance-metrics-request.json",
        _with("instance-metrics-request.json", installedUsersCount=-1),
    ),
]


@pytest.mark.parametrize(
    ("name", "document"),
    WRONG_DOCUMENTS,
    ids=[f"{name}-{n}" for n, (name, _) in enumerate(WRONG_DOCUMENTS)],
)
def test_schema_rejects_a_wrong_document(name: str, document: Any) -> None:
    assert contract.validate_payload(contract.load_schema(name), document) != []


def test_response_schemas_allow_extra_fields() -> None:
    """Engines may add fields; only request schemas (what we send) may be closed."""
    document = _with("installation.json", vendorExtension={"any": 1})
    assert contract.validate_payload(contract.load_schema("installation.json"), document) == []


# ------------------------------------------------------------------------------------ routes


# ------------------------------------------------------------------------------------ catalog


def test_catalog_ids_are_unique_and_upper_case() -> None:
    ids = [entry["id"] for entry in _raw_catalog()]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[A-Z][A-Z0-9]*(-[A-Z0-9]+)*", i) for i in ids)
    assert list(contract.load_catalog()) == ids


@pytest.mark.parametrize("invariant", contract.load_catalog().values(), ids=lambda i: i.id)
def test_invariant_is_well_formed(invariant: contract.Invariant) -> None:
    assert invariant.area in contract.AREAS
    assert invariant.level in contract.LEVELS
    assert set(invariant.routes) <= ROUTE_KEYS
    assert len(set(invariant.routes)) == len(invariant.routes)
    if invariant.level == "derived":
        assert invariant.rationale and invariant.rationale.strip()
    assert invariant.faults, "every invariant needs a reference-engine fault that breaks it"
    prefix = invariant.id.lower()
    assert all(f == prefix or f.startswith(prefix + "-") for f in invariant.faults)
    assert invariant.observable is True


@pytest.mark.parametrize("invariant", contract.load_catalog().values(), ids=lambda i: i.id)
def test_invariant_quotes_are_verbatim_protocol_text(
    invariant: contract.Invariant, protocol_text: str
) -> None:
    protocol = _normalise(protocol_text)
    for quote in (invariant.quote, *invariant.also_quotes):
        assert _normalise(quote) in protocol, quote


@pytest.mark.parametrize("invariant", contract.load_catalog().values(), ids=lambda i: i.id)
def test_every_cell_names_a_verbatim_source_sentence(
    invariant: contract.Invariant, protocol_text: str, profile_text: str
) -> None:
    """Each (invariant, route) cell comes from a sentence of the protocol or the profile, and
    route_sources speaks only of routes the invariant lists (a stray key is a cell nobody checks).
    """
    sources = (_normalise(protocol_text), _normalise(profile_text))
    assert {route for route, _ in invariant.route_sources} <= set(invariant.routes)
    for route in invariant.routes:
        sentence = _normalise(invariant.source_of(route))
        assert any(sentence in source for source in sources), (route, sentence)


def test_a_cell_without_its_own_sentence_is_governed_by_the_quote() -> None:
    catalog = contract.load_catalog()
    replay = catalog["RK-REPLAY"]
    assert replay.source_of("GET /v1/jira/usage") != replay.quote  # its Access pattern line
    assert "single-use key" in replay.source_of("GET /v1/jira/usage")
    status = catalog["RUN-STATUS"]
    assert status.source_of("GET /v1/tasks/{runId}") == status.quote


def test_catalog_covers_every_documented_route() -> None:
    covered = {
        route for invariant in contract.load_catalog().values() for route in invariant.routes
    }
    assert covered == ROUTE_KEYS


def test_route_access_is_read_from_the_security_entries() -> None:
    """The access table is the contract's own ``security`` lists, not a second copy of them."""
    document = contract.load_openapi()
    for method, path in contract.ROUTES:
        security = document["paths"][path][method.lower()].get("security", [])
        ways = contract.ROUTE_ACCESS[contract.route_key(method, path)]
        assert len(ways) == max(1, len(security))
    assert contract.ACCESS["POST /v1/jira/request-key"] is contract.Access.FORGE
    assert contract.ACCESS["GET /v1/launch"] is contract.Access.PUBLIC
    assert contract.ACCESS["POST /v1/tasks/init"] is contract.Access.PERMIT
    # The progress read takes the permit (the IDE's way, listed first) or Jira-App credentials.
    assert contract.ROUTE_ACCESS["GET /v1/tasks/{taskId}/progress"] == (
        contract.Access.PERMIT,
        contract.Access.JIRA,
    )
    assert "GET /v1/tasks/{taskId}/progress" in contract.JIRA_APP_ROUTES
    assert "POST /v1/jira/request-key" not in contract.JIRA_APP_ROUTES


# ------------------------------------------------------------------------------- file formats

META_DIR = contract_dir() / "meta"


@pytest.mark.parametrize("path", sorted(META_DIR.glob("*.schema.json")), ids=lambda p: p.name)
def test_every_format_schema_is_a_valid_2020_12_schema(path: Path) -> None:
    schema = json.loads(path.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    data_file = path.name.removesuffix(".schema.json") + ".yaml"
    data = yaml.safe_load((contract_dir() / data_file).read_text(encoding="utf-8"))
    assert list(Draft202012Validator(schema).iter_errors(data)) == []


@pytest.fixture
def contract_files(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Editable copies of invariants.yaml and payloads.yaml that the loaders read instead."""
    files = {
        name: yaml.safe_load((contract_dir() / name).read_text(encoding="utf-8"))
        for name in ("invariants.yaml", "payloads.yaml")
    }
    monkeypatch.setattr(contract, "_read_yaml", files.__getitem__)
    contract._catalog.cache_clear()
    contract._payloads.cache_clear()
    yield files
    contract._catalog.cache_clear()  # the next reader loads the real files again
    contract._payloads.cache_clear()


def _first_invariant(**changes: Any) -> Any:
    def change(files: dict[str, Any]) -> None:
        entry = files["invariants.yaml"]["invariants"][0]
        for key, value in changes.items():
            if value is None and key != "rationale":
                entry.pop(key, None)
            else:
                entry[key] = value

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.update({"invariants.yaml": [1]}), "invariants.yaml: top level must be"),
        (
            lambda f: f["invariants.yaml"]["invariants"].insert(0, "x"),
            "invariants.yaml entry 0: not a mapping, got 'x'",
        ),
        (_first_invariant(quote=None), "invariant HEALTH-OK: quote must be a non-empty string"),
        (_first_invariant(quote=" "), "invariant HEALTH-OK: quote must be a non-empty string"),
        (_first_invariant(id="rk-x"), "invariant rk-x: id must be upper-case words joined by '-'"),
        (_first_invariant(area="moon"), "invariant HEALTH-OK: area: 'moon' is not one of ["),
        (
            _first_invariant(level="derived", rationale=None),
            "a derived or advisory invariant needs a rationale",
        ),
        (_first_invariant(observable="yes"), "HEALTH-OK: observable must be a boolean, got 'yes'"),
        (_first_invariant(routes=["GET /healthz", 5]), "routes must be a list of strings, got 5"),
        (
            _first_invariant(route_sources={"GET /healthz": ""}),
            "HEALTH-OK: route_sources values must be non-empty sentences, got ''",
        ),
        (
            _first_invariant(route_sources={"healthz": "Minimal liveness probe"}),
            "HEALTH-OK: route_sources keys must be \"METHOD /path\" routes, got 'healthz'",
        ),
        (
            _first_invariant(route_sources={"GET /v1/models": "Minimal liveness probe"}),
            "invariant HEALTH-OK: route_sources names routes it does not list: GET /v1/models",
        ),
        (
            lambda f: f["invariants.yaml"]["invariants"].append(
                dict(f["invariants.yaml"]["invariants"][0])
            ),
            "invariants.yaml: duplicate id HEALTH-OK",
        ),
    ],
)
def test_a_malformed_catalog_is_refused_with_one_clear_line(
    contract_files: dict[str, Any], change: Any, message: str
) -> None:
    change(contract_files)
    with pytest.raises(contract.ContractError, match=re.escape(message)):
        contract.load_catalog()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda e: e.pop("response_media_type"), "response_media_type must be a string"),
        (lambda e: e.update(response_status="ok"), "response_status must be a status"),
        (lambda e: e.update(request=5), "request must be a schema file under contract/schemas/"),
        (lambda e: e.update(request="nope.json"), "request 'nope.json' is not a schema file"),
    ],
)
def test_a_malformed_payload_entry_is_refused_with_one_clear_line(
    contract_files: dict[str, Any], change: Any, message: str
) -> None:
    change(contract_files["payloads.yaml"]["payloads"]["GET /healthz"])
    with pytest.raises(
        contract.ContractError, match="^payloads.yaml GET /healthz: " + re.escape(message)
    ):
        contract.payload_spec("GET", "/healthz")


@pytest.mark.parametrize("name", [PROTOCOL_NAME, PROFILE_NAME])
def test_kept_sources_equal_the_originals(name: str) -> None:
    """contract/protocol/ holds the texts as published: where the originals are at hand, the
    kept copies are byte for byte the same (a new protocol text means a new harness version)."""
    original = ORIGINALS[name]
    if not original.is_file():
        pytest.skip(f"the original of {name} is not beside this clone ({original})")
    assert (KEPT / name).read_bytes() == original.read_bytes(), f"contract/protocol/{name} drifted"
