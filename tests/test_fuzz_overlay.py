"""Offline tests of the schemathesis overlay (fuzz_overlay) and the coverage accounting.

Nothing here talks to an engine: documents are overlaid, loaded into schemathesis and sampled
with Hypothesis, so the overlay's promises are checked where they are made: positive cases look
like first-party requests and carry the run's own ids, a tighter target schema still wins, the
negative document keeps the target's request schemas, responses are held to our shapes, and a
missing or renamed route is noticed.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012
from schemathesis import GenerationMode
from schemathesis.core.parameters import ParameterLocation

import seecodes_conformance.fuzz.overlay as overlay_module
from seecodes_conformance import contract
from seecodes_conformance.fuzz.auth import tamper
from seecodes_conformance.fuzz.coverage import (
    Row,
    coverage_problems,
    disabled_answer,
    record,
    table,
)
from seecodes_conformance.fuzz.overlay import (
    COMBINATIONS,
    MARKER,
    Bindings,
    OverlayError,
    canonical_document,
    inline_schema,
    is_open,
    merge,
    overlay,
    survey,
)
from seecodes_conformance.fuzz.world import combination_invariants
from seecodes_conformance.ids import TaskRef
from seecodes_conformance.profiles import PROFILES
from seecodes_conformance.replay import choose_seed

EXAMPLES = Path(__file__).resolve().parent / "data" / "protocol_examples"
SAMPLING = settings(
    max_examples=10,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


def task(project: str) -> TaskRef:
    return TaskRef(project, f"{project}-1")


BINDINGS = Bindings(
    permit_task=task("SCCTESTA"),
    progress_task=task("SCCTESTB"),
    link_task=task("SCCTESTC"),
    mint_task=task("SCCTESTD"),
    exchange_task=task("SCCTESTE"),
    launch_task=task("SCCTESTF"),
    settled_run="run_settled",
    idle_run="run_idle",
    models=("strict light", "strict heavy"),
)


def loaded(doc: dict[str, Any]) -> Any:
    schema = schemathesis.openapi.from_dict(doc)
    schema.config.update(base_url="http://127.0.0.1:9")
    return schema


def operation(schema: Any, combination: str) -> Any:
    method, path = combination.split(" ", 1)
    return schema[path][method]


def sample(op: Any, mode: GenerationMode = GenerationMode.POSITIVE) -> list[Any]:
    cases: list[Any] = []

    @SAMPLING
    @given(op.as_strategy(generation_mode=mode))
    def draw(case: Any) -> None:
        cases.append(case)

    draw()
    return cases


# ------------------------------------------------------------------------------- survey


def test_survey_of_the_published_document_finds_all_24() -> None:
    found = survey(contract.load_openapi())
    assert found.version_ok
    assert found.documented == frozenset(COMBINATIONS)
    assert len(COMBINATIONS) == 24
    assert found.missing == () and found.extra == ()


def test_survey_names_a_missing_route_and_lists_extras() -> None:
    doc = contract.load_openapi()
    del doc["paths"]["/v1/models"]
    doc["paths"]["/v1/admin/stats"] = {"get": {"responses": {"200": {"description": "ok"}}}}
    found = survey(doc)
    assert found.missing == ("GET /v1/models",)
    assert found.extra == ("GET /v1/admin/stats",)


def test_survey_rejects_openapi_3_0() -> None:
    doc = contract.load_openapi()
    doc["openapi"] = "3.0.3"
    assert not survey(doc).version_ok
    with pytest.raises(OverlayError, match=r"3\.1"):
        overlay(doc, "positive", BINDINGS, {})


def test_other_parameter_names_are_the_same_route() -> None:
    doc = contract.load_openapi()
    item = doc["paths"].pop("/v1/tasks/{runId}/output")
    item["get"]["parameters"][0]["name"] = "run_id"
    doc["paths"]["/v1/tasks/{run_id}/output"] = item
    assert survey(doc).missing == ()
    canonical = canonical_document(doc)
    op = canonical["paths"]["/v1/tasks/{runId}/output"]["get"]
    assert op["parameters"][0]["name"] == "runId"


# -------------------------------------------------------------------- first-party schemas


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.name)
def test_inlined_schema_judges_like_the_contract(example: Path) -> None:
    """Inlining changes nothing: both judge the protocol's example alike; both fail a broken one."""
    name = example.name.split("--")[0].removesuffix(".json") + ".json"
    instance = json.loads(example.read_text())
    inlined = inline_schema(name)
    assert "$ref" not in json.dumps(inlined) and "$id" not in json.dumps(inlined)
    original = contract.load_schema(name)
    verdict = contract.validate_payload(original, instance) == []
    assert Draft202012Validator(inlined).is_valid(instance) == verdict
    broken: Any = [instance]  # an array is never one of our payloads
    assert contract.validate_payload(original, broken) != []
    assert not Draft202012Validator(inlined).is_valid(broken)


BASE = contract.SCHEMA_BASE_URI
FAKE_SCHEMAS: dict[str, dict[str, Any]] = {
    "a.json": {
        "$id": BASE + "a.json",
        "type": "object",
        "properties": {"b": {"$ref": "b.json#/$defs/wrapped"}, "own": {"$ref": "#/$defs/leaf"}},
        "$defs": {"leaf": {"type": "integer"}},
    },
    "b.json": {
        "$id": BASE + "b.json",
        "$defs": {
            "wrapped": {"type": "array", "items": {"$ref": "#/$defs/inner"}},  # b's, not a's
            "inner": {"$ref": "a.json#/$defs/leaf", "minimum": 1, "description": "kept"},
        },
    },
    "loop.json": {
        "$id": BASE + "loop.json",
        "$ref": "#/$defs/node",
        "$defs": {"node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/node"}}}},
    },
    "nested-id.json": {
        "$id": BASE + "nested-id.json",
        "properties": {"sub": {"$ref": "sub/x.json"}},
        "$defs": {
            "sub": {
                "$id": "sub/x.json",
                "properties": {"y": {"$ref": "#/$defs/z"}},  # relative to sub/x.json
                "$defs": {"z": {"type": "string"}},
            },
            "z": {"type": "null"},
        },
    },
    "dangling.json": {"$id": BASE + "dangling.json", "$ref": "a.json#/$defs/missing"},
    "remote.json": {"$id": BASE + "remote.json", "$ref": "https://example.invalid/x.json"},
}


@pytest.fixture
def fake_schemas(monkeypatch: pytest.MonkeyPatch) -> None:
    """The overlay resolves against these schema files instead of contract/schemas/."""
    registry: Registry[Any] = Registry().with_resources(
        (schema["$id"], DRAFT202012.create_resource(schema)) for schema in FAKE_SCHEMAS.values()
    )
    monkeypatch.setattr(overlay_module, "schema_registry", registry.crawl)
    monkeypatch.setattr(overlay_module, "load_schema", lambda n: copy.deepcopy(FAKE_SCHEMAS[n]))


def test_contract_registry_resolves_refs_between_schema_files() -> None:
    resolver = contract.schema_registry().resolver(base_uri=BASE + "installation.json")
    common = contract.load_schema("common.json")
    assert resolver.lookup("common.json#/$defs/count").contents == common["$defs"]["count"]
    assert contract.schema_registry() is contract.schema_registry()  # built once


@pytest.mark.usefixtures("fake_schemas")
def test_inlining_follows_nested_refs_relative_to_the_file_they_are_in() -> None:
    leaf = {"type": "integer"}
    assert inline_schema("a.json") == {
        "type": "object",
        "properties": {
            "b": {
                "type": "array",
                "items": {"allOf": [leaf, {"minimum": 1, "description": "kept"}]},
            },
            "own": leaf,
        },
    }


@pytest.mark.usefixtures("fake_schemas")
def test_inlining_honours_a_nested_id() -> None:
    inlined = inline_schema("nested-id.json")
    assert inlined["properties"]["sub"]["properties"]["y"] == {"type": "string"}


@pytest.mark.usefixtures("fake_schemas")
@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("loop.json", r"recursive \$ref loop\.json#/\$defs/node: the overlay inlines finite"),
        ("dangling.json", r"unresolvable \$ref a\.json#/\$defs/missing"),
        ("remote.json", r"unresolvable \$ref https://example\.invalid/x\.json#"),
    ],
)
def test_inlining_refuses_recursive_and_unresolvable_refs(name: str, message: str) -> None:
    with pytest.raises(OverlayError, match=message):
        inline_schema(name)


def test_target_refs_are_followed_through_chains_of_components() -> None:
    doc = contract.load_openapi()
    operation_doc = doc["paths"]["/v1/tasks/{runId}/start"]["post"]
    components = doc["components"]
    components["requestBodies"] = {
        "Start": {"$ref": "#/components/requestBodies/StartBody"},
        "StartBody": operation_doc["requestBody"],
    }
    operation_doc["requestBody"] = {"$ref": "#/components/requestBodies/Start"}
    components["parameters"]["RunId"] = operation_doc["parameters"][0]
    operation_doc["parameters"] = [{"$ref": "#/components/parameters/RunId"}]
    out = overlay(doc, "positive", BINDINGS, {})
    overlaid = out["paths"]["/v1/tasks/{runId}/start"]["post"]
    schema = overlaid["requestBody"]["content"]["application/json"]["schema"]
    assert schema["properties"]["model"] == {"type": "string", "enum": list(BINDINGS.models)}
    assert overlaid["parameters"][0]["name"] == "runId"
    assert overlaid["parameters"][0]["schema"] == {"type": "string", "minLength": 1}
    assert out["components"]["requestBodies"]["Start"] == {
        "$ref": "#/components/requestBodies/StartBody"
    }  # the target's components are left as they were
    operation_doc["requestBody"] = {"$ref": "#/components/requestBodies/Nowhere"}
    with pytest.raises(
        OverlayError, match=r"unresolvable \$ref #/components/requestBodies/Nowhere"
    ):
        overlay(doc, "positive", BINDINGS, {})


def test_merge_keeps_ours_over_an_open_schema_and_both_over_a_tight_one() -> None:
    ours = {"type": "object", "required": ["a"]}
    assert is_open({"type": "object", "description": "anything"})
    assert merge({"type": "object"}, ours) == ours
    tight = {"type": "object", "properties": {"a": {"maxLength": 2}}}
    assert merge(tight, ours) == {"allOf": [tight, ours]}
    assert merge({"type": "array"}, ours) == {"allOf": [{"type": "array"}, ours]}


# ------------------------------------------------------------------------------ overlay

BODY_COMBINATIONS = [
    c for c in COMBINATIONS if contract.payload_spec(*c.split(" ", 1)).request is not None
]


@pytest.fixture(scope="module")
def positive() -> Any:
    return loaded(overlay(contract.load_openapi(), "positive", BINDINGS, {"world": "t"}))


@pytest.fixture(scope="module")
def negative() -> Any:
    return loaded(overlay(contract.load_openapi(), "negative", BINDINGS, {"world": "t"}))


def test_overlaid_documents_carry_their_role() -> None:
    doc = overlay(contract.load_openapi(), "negative", BINDINGS, {"world": "w1"})
    assert doc[MARKER] == {"world": "w1", "role": "negative"}


@pytest.mark.parametrize("combination", BODY_COMBINATIONS)
def test_positive_bodies_are_first_party_requests(positive: Any, combination: str) -> None:
    request_schema, _ = contract.payload_schemas(*combination.split(" ", 1))
    assert request_schema is not None
    for case in sample(operation(positive, combination)):
        if combination == "POST /v1/jira/request-key" and not isinstance(case.body, dict):
            continue  # the bootstrap's body is optional
        assert contract.validate_payload(request_schema, case.body) == [], case.body


@pytest.mark.parametrize(
    ("combination", "field", "value"),
    [
        ("POST /v1/security/vscode-link", "taskId", BINDINGS.link_task.task_id),
        ("POST /v1/security/task-permit", "projectId", BINDINGS.mint_task.project_id),
        ("POST /v1/security/launch-exchange", "taskId", BINDINGS.exchange_task.task_id),
    ],
)
def test_positive_bodies_name_only_the_runs_own_ids(
    positive: Any, combination: str, field: str, value: str
) -> None:
    assert {case.body[field] for case in sample(operation(positive, combination))} == {value}


def test_positive_model_fields_come_from_the_catalog(positive: Any) -> None:
    models = {case.body["model"] for case in sample(operation(positive, "POST /v1/tasks/init"))}
    assert models <= set(BINDINGS.models)


@pytest.mark.parametrize(
    ("combination", "location", "name", "value"),
    [
        ("POST /v1/tasks/{taskId}/progress", "path_parameters", "taskId", "SCCTESTA-1"),
        ("GET /v1/tasks/{taskId}/progress", "path_parameters", "taskId", "SCCTESTB-1"),
        ("GET /v1/tasks/{taskId}/progress", "query", "projectId", "SCCTESTB"),
        ("GET /v1/tasks/{runId}/logs", "path_parameters", "runId", "run_settled"),
        (
            "POST /v1/projects/{projectId}/indexes/upsert",
            "path_parameters",
            "projectId",
            "SCCTESTA",
        ),
        ("GET /v1/launch", "query", "t", "SCCTESTF-1"),
    ],
)
def test_positive_ids_are_bound(
    positive: Any, combination: str, location: str, name: str, value: str
) -> None:
    values = {getattr(case, location)[name] for case in sample(operation(positive, combination))}
    assert values == {value}


def test_a_tighter_target_schema_still_wins() -> None:
    doc = contract.load_openapi()
    body = doc["paths"]["/v1/tasks/{runId}/start"]["post"]["requestBody"]["content"]
    body["application/json"]["schema"] = {
        "type": "object",
        "properties": {"userPrompt": {"type": "string", "maxLength": 5}},
    }
    schema = loaded(overlay(doc, "positive", BINDINGS, {}))
    start_schema, _ = contract.payload_schemas("POST", "/v1/tasks/{runId}/start")
    assert start_schema is not None
    for case in sample(operation(schema, "POST /v1/tasks/{runId}/start")):
        assert len(case.body["userPrompt"]) <= 5  # the target's
        assert contract.validate_payload(start_schema, case.body) == []  # and ours


def test_negative_document_keeps_the_target_request_schemas(negative: Any) -> None:
    op = operation(negative, "POST /v1/tasks/{taskId}/progress")
    schema = op.body[0].definition["schema"]
    assert schema == {"type": "object"}
    cases = sample(op, GenerationMode.NEGATIVE)
    bodies = [c.body for c in cases if c.meta.is_negative_at(ParameterLocation.BODY)]
    assert bodies and all(not isinstance(b, dict) for b in bodies)  # only the type is negatable


def test_negative_document_binds_permit_ids_but_not_the_launcher(negative: Any) -> None:
    op = operation(negative, "POST /v1/tasks/{taskId}/progress")
    cases = sample(op, GenerationMode.NEGATIVE)
    positives = [c for c in cases if not c.meta.is_negative_at(ParameterLocation.PATH)]
    assert {c.path_parameters["taskId"] for c in positives} <= {"SCCTESTA-1"}
    launch = operation(negative, "GET /v1/launch")
    p = next(p for p in launch.query if p.name == "p")
    assert p.definition["schema"] == {"type": "string"}


@pytest.mark.parametrize("role", ["positive", "negative"])
def test_responses_are_held_to_our_shapes(role: str) -> None:
    doc = overlay(contract.load_openapi(), role, BINDINGS, {})  # type: ignore[arg-type]
    response = doc["paths"]["/v1/instances/me"]["get"]["responses"]["2XX"]
    validator = Draft202012Validator(response["content"]["application/json"]["schema"])
    good = json.loads((EXAMPLES / "installation.json").read_text())
    drifted = copy.deepcopy(good)
    drifted["credits"] = "42"
    assert validator.is_valid(good)
    assert not validator.is_valid(drifted)
    assert not validator.is_valid({**good, "ok": "true"})


def _fastapi_style() -> dict[str, Any]:
    """The published document as FastAPI would document it: only 200 and 422 everywhere."""
    from seecodes_reference_engine.fastapi_doc import fastapi_document

    return fastapi_document(contract.load_openapi())


@pytest.mark.parametrize("role", ["positive", "negative"])
def test_a_fastapi_style_document_gets_our_success_shapes(role: str) -> None:
    doc = overlay(_fastapi_style(), role, BINDINGS, {})  # type: ignore[arg-type]
    responses = doc["paths"]["/v1/instances/me"]["get"]["responses"]
    validator = Draft202012Validator(responses["200"]["content"]["application/json"]["schema"])
    good = json.loads((EXAMPLES / "installation.json").read_text())
    assert validator.is_valid(good)
    assert not validator.is_valid({**good, "credits": "42"})
    own = _fastapi_style()["paths"]["/v1/instances/me"]["get"]["responses"]["422"]
    assert responses["422"] == own  # the target's own validation error, untouched


def test_bad_input_to_the_disabled_route_may_get_another_rejection() -> None:
    """Only first-party requests are owed the deprecation error; a FastAPI target may refuse
    bad input with its own 422 validation error, held to its own schema."""
    target = _fastapi_style()
    telemetry = ("/v1/jira/telemetry/events", "post")
    positive = overlay(target, "positive", BINDINGS, {})
    negative = overlay(target, "negative", BINDINGS, {})
    own = target["paths"][telemetry[0]][telemetry[1]]["responses"]["422"]
    assert negative["paths"][telemetry[0]][telemetry[1]]["responses"]["422"] == own
    assert positive["paths"][telemetry[0]][telemetry[1]]["responses"]["422"] != own


def test_a_status_the_document_does_not_list_is_no_finding() -> None:
    """Which 4xx is the target's choice: a FastAPI-style document lists only 200 and 422."""
    from seecodes_conformance.fuzz.checks import CHECKS

    assert "status_code_conformance" not in {check.__name__ for check in CHECKS}
    assert "response_schema_conformance" in {check.__name__ for check in CHECKS}


def test_the_rejection_schema_is_left_alone() -> None:
    doc = overlay(contract.load_openapi(), "positive", BINDINGS, {})
    rejected = doc["paths"]["/v1/healthz".replace("/v1", "")]["get"]["responses"]["4XX"]
    assert rejected == {"$ref": "#/components/responses/Rejected"}


# ------------------------------------------------------------------ accounting and seeds


def test_coverage_needs_a_success_and_a_rejection() -> None:
    row = Row()
    record(row, "GET /v1/models", "positive", 200)
    assert coverage_problems(row) and "rejected" in coverage_problems(row)[0]
    record(row, "GET /v1/models", "wrong-method", 405)
    assert coverage_problems(row) == []


def test_counting_is_never_stricter_than_the_protocol() -> None:
    row = Row()
    record(row, "GET /healthz", "lenient", 200)  # a bogus Content-Type on a GET may be ignored
    record(row, "GET /v1/jira/usage", "junk", 422)  # schema-valid junk may be refused
    assert row.bad_accepted == 0 and row.positive_refused == 0
    telemetry = Row()
    record(telemetry, "POST /v1/jira/telemetry/events", "positive", 410)
    assert telemetry.succeeded == 1  # its documented answer is a rejection
    bad = Row()
    record(bad, "POST /v1/tasks/init", "negative", 200)
    record(bad, "POST /v1/tasks/init", "negative", 500)
    assert (bad.bad_accepted, bad.server_errors, bad.rejected) == (1, 1, 0)


def test_telemetry_may_answer_501_and_only_telemetry() -> None:
    """The disabled route's deprecation error may be 501 Not Implemented; a 501 anywhere else,
    and any other 5xx on the telemetry route, stays a server error."""
    telemetry = Row()
    record(telemetry, "POST /v1/jira/telemetry/events", "positive", 501)
    record(telemetry, "POST /v1/jira/telemetry/events", "negative", 501)
    assert (telemetry.succeeded, telemetry.rejected, telemetry.server_errors) == (1, 1, 0)
    assert coverage_problems(telemetry) == []
    broken = Row()
    record(broken, "POST /v1/jira/telemetry/events", "positive", 500)
    record(broken, "POST /v1/jira/telemetry/events", "positive", 503)
    record(broken, "POST /v1/tasks/init", "positive", 501)
    assert (broken.succeeded, broken.server_errors) == (0, 3)
    assert disabled_answer("POST /v1/jira/telemetry/events", 410)
    assert not disabled_answer("POST /v1/jira/instance-metrics", 501)


def test_table_lists_every_combination_and_flags_gaps() -> None:
    rows = {c: Row(sent=2, succeeded=1, rejected=1) for c in COMBINATIONS}
    rows["GET /v1/models"] = Row()
    lines = table(rows, missing=["GET /v1/models"])
    assert len(lines) == 2 + len(COMBINATIONS)
    assert any("GET /v1/models" in ln and "not in the target" in ln for ln in lines)


def test_seed_is_fixed_per_run_and_overridable() -> None:
    ci, certify = PROFILES["ci"], PROFILES["certify"]
    assert choose_seed(None, ci, "SCCABCD") == choose_seed(None, ci, "SCCABCD")
    assert choose_seed(None, ci, "SCCABCD") != choose_seed(None, ci, "SCCWXYZ")
    assert choose_seed(None, certify, "SCCABCD") == certify.seed
    assert choose_seed(None, ci, "SCCABCD", derandomized=7) == 7
    assert choose_seed(None, PROFILES["nightly"], "SCCABCD", derandomized=7) != 7
    assert choose_seed(42, certify, "SCCABCD") == 42


def test_every_combination_names_what_it_checks() -> None:
    catalog = contract.load_catalog()
    for combination in COMBINATIONS:
        ids = combination_invariants(combination)
        assert "NO-SERVER-ERROR" in ids and "OPENAPI-DOC" in ids
        assert set(ids) <= set(catalog)
    assert "RK-ROTATION" in combination_invariants("GET /v1/jira/usage")
    assert "RUN-ARTIFACTS" in combination_invariants("GET /v1/tasks/{runId}/logs")


@pytest.mark.parametrize(
    "credential",
    ["eyJhbGciOi.eyJzdWIi.c2lnbmF0dXJlAB", "sc_permit_4f3a9c", "YWJjZGVmZ2g=", "Zm9vYg=="],
)
def test_a_tampered_credential_differs_in_one_data_character(credential: str) -> None:
    changed = tamper(credential)
    diffs = [i for i, (a, b) in enumerate(zip(credential, changed, strict=True)) if a != b]
    assert len(diffs) == 1
    data_end = len(credential.rstrip("="))
    assert diffs[0] < data_end - 1  # never the last data character (base64 padding bits)
    assert changed[diffs[0]].isalnum()
