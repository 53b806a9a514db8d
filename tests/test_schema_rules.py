"""The response schemas follow the rule of contract/schemas/README.md, checked mechanically.

Each response schema named by contract/payloads.yaml is walked together with everything its
$refs reach (common.json's defs, ok.json, another response file): no closed object, no
``integer``, and a value constraint only on a schema object whose ``$comment`` is protocol text,
verbatim. Then documents the protocol allows but its examples do not show (extra fields,
optional fields absent or null, fractional numbers) must validate.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urldefrag, urljoin

import pytest
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from protocol_sources import protocol_path
from seecodes_conformance import contract

if TYPE_CHECKING:  # referencing exports the resolver type only from its private core module
    from referencing._core import Resolver

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLES_DIR = Path(__file__).resolve().parent / "data" / "protocol_examples"
BASE = contract.SCHEMA_BASE_URI

VALUE_KEYWORDS = frozenset(
    {
        "pattern",
        "enum",
        "const",
        "format",
        "minLength",
        "maxLength",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "minItems",
        "maxItems",
        "uniqueItems",
        "minProperties",
        "maxProperties",
        "propertyNames",
        "minContains",
        "maxContains",
    }
)
"""Keywords that narrow values beyond a JSON type: each needs the protocol text fixing it."""

CLOSING_KEYWORDS = ("additionalProperties", "unevaluatedProperties")
"""Set to false, these refuse extra fields, which a response may always carry."""

_ONE_SCHEMA = frozenset(
    {
        "items",
        "additionalProperties",
        "unevaluatedProperties",
        "unevaluatedItems",
        "propertyNames",
        "contains",
        "not",
        "if",
        "then",
        "else",
    }
)
_SCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "dependentSchemas"})


def _routes_schemas(field: str) -> list[str]:
    names = {getattr(contract.payload_spec(m, p), field) for m, p in contract.ROUTES}
    return sorted(name for name in names if name is not None)


RESPONSE_SCHEMAS = _routes_schemas("response")
REQUEST_SCHEMAS = _routes_schemas("request")


@dataclass(frozen=True)
class Node:
    """One schema object reached from a root, and where it is ("common.json#/$defs/count")."""

    where: str
    schema: dict[str, Any]


def reachable(root: str, registry: Registry[Any]) -> list[Node]:
    """Every schema object of `root` and of what its $refs reach, transitively, each once.

    `$defs` are walked only where a $ref points into them, so common.json counts for a response
    schema exactly as far as that schema uses it.
    """
    uri = BASE + root
    found: list[Node] = []
    seen: set[int] = set()

    def walk(node: Any, resolver: Resolver[Any], base: str, pointer: str) -> None:
        if not isinstance(node, dict) or id(node) in seen:
            return  # a boolean schema (true/false) holds no keywords
        seen.add(id(node))
        found.append(Node(f"{base.removeprefix(BASE)}#{pointer}", node))
        for keyword, value in node.items():
            if keyword == "$ref":
                target, fragment = urldefrag(urljoin(base, value))
                resolved = resolver.lookup(value)
                walk(resolved.contents, resolved.resolver, target, fragment)
            elif keyword in _ONE_SCHEMA:
                walk(value, resolver, base, f"{pointer}/{keyword}")
            elif keyword in _SCHEMA_LISTS:
                for index, item in enumerate(value):
                    walk(item, resolver, base, f"{pointer}/{keyword}/{index}")
            elif keyword in _SCHEMA_MAPS:
                for name, item in value.items():
                    walk(item, resolver, base, f"{pointer}/{keyword}/{name}")

    resolved = registry.resolver(base_uri=uri).lookup(uri)
    walk(resolved.contents, resolved.resolver, uri, "")
    return found


def narrowings(nodes: list[Node]) -> list[str]:
    """What in `nodes` is narrower than the rule allows, one line each."""
    problems = []
    for node in nodes:
        schema = node.schema
        for keyword in CLOSING_KEYWORDS:
            if schema.get(keyword) is False:
                problems.append(f"{node.where}: {keyword}: false refuses extra fields")
        types = schema.get("type", [])
        if "integer" in (types if isinstance(types, list) else [types]):
            problems.append(f"{node.where}: integer (the protocol's numbers are any JSON number)")
        constrained = sorted(VALUE_KEYWORDS & set(schema))
        comment = schema.get("$comment")
        if constrained and not (isinstance(comment, str) and comment.strip()):
            problems.append(f"{node.where}: {', '.join(constrained)} without a $comment quote")
    return problems


def _normalise(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def protocol_text() -> str:
    """The protocol markdown the catalog quotes (kept in contract/protocol/)."""
    return protocol_path().read_text(encoding="utf-8")


# ------------------------------------------------------------------------------ the rule itself


def test_no_schema_file_is_both_a_request_and_a_response() -> None:
    assert RESPONSE_SCHEMAS, "payloads.yaml names no response schema"
    assert set(RESPONSE_SCHEMAS) & set(REQUEST_SCHEMAS) == set()


@pytest.mark.parametrize("name", RESPONSE_SCHEMAS)
def test_response_schema_is_never_narrower_than_the_protocol(name: str) -> None:
    problems = narrowings(reachable(name, contract.schema_registry()))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", RESPONSE_SCHEMAS)
def test_response_schema_quotes_and_fields_are_protocol_text(name: str, protocol_text: str) -> None:
    """Every $comment is verbatim protocol text, and every required field is one a shape shows."""
    protocol = _normalise(protocol_text)
    problems = []
    for node in reachable(name, contract.schema_registry()):
        comment = node.schema.get("$comment")
        if comment is not None and _normalise(str(comment)) not in protocol:
            problems.append(f"{node.where}: $comment is not protocol text: {comment!r}")
        for field in node.schema.get("required", []):
            if f'"{field}":' not in protocol_text:
                problems.append(f"{node.where}: required {field!r} is in no protocol shape")
    assert not problems, "\n".join(problems)


def test_no_common_def_serves_both_requests_and_responses() -> None:
    """A def the two sides share would make the narrow request side narrow the responses."""

    def common_defs(roots: list[str]) -> set[str]:
        prefix = "common.json#/$defs/"
        return {
            node.where.removeprefix(prefix).split("/")[0]
            for root in roots
            for node in reachable(root, contract.schema_registry())
            if node.where.startswith(prefix)
        }

    responses = common_defs(RESPONSE_SCHEMAS)
    assert responses, "the walk reached no common.json def"
    assert responses & common_defs(REQUEST_SCHEMAS) == set()


def test_the_walk_follows_refs_and_flags_each_narrowing() -> None:
    """The checker itself: narrowings behind $refs (and in allOf, items, maps) are found."""
    fake = {
        "root.json": {
            "$id": BASE + "root.json",
            "type": "object",
            "properties": {
                "a": {"$ref": "lib.json#/$defs/closed"},
                "b": {"allOf": [{"pattern": "^x"}]},
                "c": {"type": "array", "items": {"$ref": "lib.json#/$defs/count"}},
                "d": {"additionalProperties": {"$ref": "lib.json#/$defs/quoted"}},
            },
        },
        "lib.json": {
            "$id": BASE + "lib.json",
            "$defs": {
                "closed": {"type": "object", "additionalProperties": False},
                "count": {"type": ["integer", "null"]},
                "quoted": {"$comment": "a quote", "enum": ["y"]},
                "unused": {"maxLength": 3},
            },
        },
    }
    registry: Registry[Any] = Registry().with_resources(
        (schema["$id"], DRAFT202012.create_resource(schema)) for schema in fake.values()
    )
    problems = narrowings(reachable("root.json", registry))
    assert problems == [
        "lib.json#/$defs/closed: additionalProperties: false refuses extra fields",
        "root.json#/properties/b/allOf/0: pattern without a $comment quote",
        "lib.json#/$defs/count: integer (the protocol's numbers are any JSON number)",
    ]


# ---------------------------------------------------------------- what the protocol lets through

EXTRA: dict[str, Any] = {"vendorExtension": {"nested": [None, 2.5, "text", False]}}
MAPS = frozenset({"uploads", "matches"})
"""Objects keyed by data (file name, queried path): an extra key there would be an extra entry."""


def _widened(value: Any, *, is_map: bool = False) -> Any:
    """`value` with an extra field in every object (maps aside) and every number plus 0.5."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return value + 0.5
    if isinstance(value, list):
        return [_widened(item) for item in value]
    widened = {key: _widened(item, is_map=key in MAPS) for key, item in value.items()}
    return widened if is_map else {**widened, **copy.deepcopy(EXTRA)}


def _response_examples() -> Iterator[tuple[str, Path]]:
    for path in sorted(EXAMPLES_DIR.glob("*.json")):
        name = path.stem.split("--")[0] + ".json"
        if name in RESPONSE_SCHEMAS:
            yield name, path


RESPONSE_EXAMPLES = list(_response_examples())


@pytest.mark.parametrize(
    ("name", "path"), RESPONSE_EXAMPLES, ids=[p.name for _, p in RESPONSE_EXAMPLES]
)
def test_protocol_example_with_extra_fields_and_fractions_conforms(name: str, path: Path) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))
    if name == "run-status-response.json":  # the protocol lists the statuses as a placeholder
        document["status"]["status"] = "queued"
    assert contract.validate_payload(contract.load_schema(name), _widened(document)) == []


def _example(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((EXAMPLES_DIR / name).read_text(encoding="utf-8"))
    return document


def _run_status(**status: Any) -> dict[str, Any]:
    return {
        "ok": True,
        "status": {"status": "succeeded", "updatedAt": "2026-04-04T12:34:56Z", **status},
    }


def _without(name: str, field: str) -> dict[str, Any]:
    return {key: value for key, value in _example(name).items() if key != field}


ALLOWED_DOCUMENTS: list[tuple[str, str, Any]] = [
    ("credits-3.5", "installation.json", {**_example("installation.json"), "credits": 3.5}),
    (
        "usage-fractions",
        "usage.json",
        {
            "ok": True,
            "items": [{"timestamp": "t", "type": "task_run", "taskId": "AUTH-1", "credits": 0.25}],
            "availableCredits": 3.5,
        },
    ),
    (
        "estimated-credits-3.5",
        "run-start-response.json",
        {**_example("run-start-response.json"), "estimatedCredits": 3.5},
    ),
    (
        "effort-units-90.5",
        "activity-snapshot-response.json",
        {**_example("activity-snapshot-response.json"), "effortUnits": 90.5},
    ),
    ("run-error-and-zip-absent", "run-status-response.json", _run_status()),
    (
        "run-error-and-zip-null",
        "run-status-response.json",
        _run_status(error=None, resultZipUrl=None),
    ),
    ("initial-tai-absent", "task-context.json", _without("task-context.json", "initialTai")),
    (
        "initial-tai-null",
        "task-context.json",
        {**_example("task-context.json"), "initialTai": None},
    ),
    (
        "extra-top-level-and-nested",
        "models.json",
        {
            "ok": True,
            "models": [
                {
                    "id": "m",
                    "name": "m",
                    "maxContext": 1.5,
                    "description": "",
                    "pricing": {"base": 1, "per_token": 0.5, "currency": "credits"},
                    "tier": "free",
                }
            ],
            "nextPage": None,
        },
    ),
    (
        "elided-arrays-hold-anything",
        "team-competition.json",
        {**_example("team-competition.json"), "items": [1, "x", None], "taskSummaries": [[]]},
    ),
]


@pytest.mark.parametrize(
    ("name", "document"),
    [(name, document) for _, name, document in ALLOWED_DOCUMENTS],
    ids=[case for case, _, _ in ALLOWED_DOCUMENTS],
)
def test_response_the_protocol_allows_conforms(name: str, document: Any) -> None:
    assert contract.validate_payload(contract.load_schema(name), document) == []
