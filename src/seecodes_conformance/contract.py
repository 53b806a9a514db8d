"""The contract as data: invariant catalog, published OpenAPI document, first-party schemas.

Everything here is read from `contract/` (found through `resources.contract_dir()`, so an
installed copy works from any directory) and parsed once. Public functions hand out copies, so a
caller that tweaks a document (for example a schemathesis overlay) cannot corrupt the next one.
The formats of invariants.yaml and payloads.yaml are JSON Schemas of their own (contract/meta/);
only what a schema cannot state (unique ids, files that exist, the documented routes) is checked
in code.
"""

from __future__ import annotations

import copy
import enum
import json
import re
import reprlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final

import yaml
from jsonschema import Draft202012Validator, ValidationError
from jsonschema.exceptions import best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from seecodes_conformance.resources import contract_dir

SCHEMA_BASE_URI: Final = "https://seecodes-conformance.invalid/schemas/"
HTTP_METHODS: Final = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
"""The operation keys of an OpenAPI path item."""

JsonObject = dict[str, Any]


class ContractError(ValueError):
    """A file under contract/ is malformed; raised at load time so nothing runs on a bad catalog."""


@dataclass(frozen=True)
class Invariant:
    """One catalog entry: a protocol statement the harness checks, and what breaks it."""

    id: str
    area: str
    level: str
    quote: str
    routes: tuple[str, ...]
    rationale: str | None
    faults: tuple[str, ...]
    also_quotes: tuple[str, ...] = ()
    observable: bool = True
    route_sources: tuple[tuple[str, str], ...] = ()
    """(route, sentence) for the routes whose governing sentence is not `quote`: usually the
    route's own "Access pattern" line that puts it in the family `quote` speaks of. A pair,
    not a dict, so the entry stays hashable."""

    def source_of(self, route: str) -> str:
        """The protocol or profile sentence the (invariant, route) cell comes from."""
        return dict(self.route_sources).get(route, self.quote)


@dataclass(frozen=True)
class PayloadSpec:
    """Which first-party schemas describe one route-method combination (contract/payloads.yaml)."""

    request: str | None
    response: str | None
    response_media_type: str
    response_status: str


def _read_yaml(name: str) -> Any:
    with (contract_dir() / name).open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _read_json(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return json.load(handle)


# ---------------------------------------------------------------------------- file formats


@cache
def _format_validator(name: str) -> Draft202012Validator:
    """The validator of one contract file's format, from contract/meta/<name>.schema.json."""
    schema = _read_json(contract_dir() / "meta" / f"{name}.schema.json")
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def explain(error: ValidationError, below: int = 0) -> str:
    """One readable line for a schema violation, in the schema's own words where it has some.

    A (sub)schema may word its failures with ``errorMessage`` (the ajv-errors convention, which
    validators ignore): a string for any failure of its own keywords, or a mapping from keyword
    to string, where ``required`` may map each property name to a string. Otherwise the line is
    jsonschema's message, after the place in the instance (path components from `below` on).
    A scalar that was refused is quoted, so the line says what was found.
    """
    wording: Any = error.schema.get("errorMessage") if isinstance(error.schema, Mapping) else None
    if isinstance(wording, Mapping):
        wording = wording.get(str(error.validator))
        if isinstance(wording, Mapping) and isinstance(error.instance, Mapping):
            missing = [p for p in error.validator_value if p not in error.instance]
            wording = wording.get(missing[0]) if missing else None
    if not isinstance(wording, str):
        location = "/".join(str(part) for part in list(error.absolute_path)[below:])
        return f"{location}: {error.message}" if location else error.message
    if error.validator != "required" and not isinstance(error.instance, Mapping | list):
        wording += f", got {reprlib.repr(error.instance)}"
    return wording


def _invariant_field(name: str) -> Any:
    return _format_validator("invariants").schema["$defs"]["invariant"]["properties"][name]


AREAS: Final = frozenset(_invariant_field("area")["enum"])
LEVELS: Final = frozenset(_invariant_field("level")["enum"])


# ---------------------------------------------------------------------------------------- catalog


def _catalog_place(data: Any, path: list[Any]) -> tuple[str, int]:
    """How an error message names the part of invariants.yaml at `path`, and the path components
    that name covers: the invariant by id where it has one, else its position."""
    if len(path) < 2:
        return "invariants.yaml", len(path)
    entry = data["invariants"][path[1]]
    if isinstance(entry, Mapping) and isinstance(entry.get("id"), str) and entry["id"]:
        return f"invariant {entry['id']}", 2
    return f"invariants.yaml entry {path[1]}", 2


def _invariant(entry: Mapping[str, Any]) -> Invariant:
    """An entry the format schema has accepted, as an Invariant."""
    return Invariant(
        id=entry["id"],
        area=entry["area"],
        level=entry["level"],
        quote=entry["quote"],
        routes=tuple(entry.get("routes", [])),
        rationale=entry.get("rationale"),
        faults=tuple(entry.get("fault", [])),
        also_quotes=tuple(entry.get("also_quotes", [])),
        observable=entry.get("observable", True),
        route_sources=tuple(entry.get("route_sources", {}).items()),
    )


@cache
def _catalog() -> tuple[Invariant, ...]:
    data = _read_yaml("invariants.yaml")
    error = best_match(_format_validator("invariants").iter_errors(data))
    if error is not None:
        where, covered = _catalog_place(data, list(error.absolute_path))
        raise ContractError(f"{where}: {explain(error, covered)}")
    entries = tuple(_invariant(e) for e in data["invariants"])
    seen: set[str] = set()
    for invariant in entries:
        if invariant.id in seen:
            raise ContractError(f"invariants.yaml: duplicate id {invariant.id}")
        seen.add(invariant.id)
        strays = [route for route, _ in invariant.route_sources if route not in invariant.routes]
        if strays:  # a sentence for a cell that does not exist would never be checked
            raise ContractError(
                f"invariant {invariant.id}: route_sources names routes it does not list: "
                + ", ".join(strays)
            )
    return entries


def load_catalog() -> dict[str, Invariant]:
    """All invariants by id, in catalog order (a fresh dict; the entries are immutable)."""
    return {invariant.id: invariant for invariant in _catalog()}


# ---------------------------------------------------------------------------------------- OpenAPI


@cache
def _openapi() -> JsonObject:
    document = _read_json(contract_dir() / "openapi.json")
    if not isinstance(document, dict) or not isinstance(document.get("paths"), dict):
        raise ContractError("openapi.json: not an OpenAPI document with paths")
    return document


def load_openapi() -> JsonObject:
    """The published OpenAPI 3.1 document (a deep copy, safe to modify)."""
    return copy.deepcopy(_openapi())


def _routes() -> tuple[tuple[str, str], ...]:
    return tuple(
        (method.upper(), path)
        for path, item in _openapi()["paths"].items()
        for method in item
        if method in HTTP_METHODS
    )


ROUTES: Final[tuple[tuple[str, str], ...]] = _routes()
"""Every documented (METHOD, path template) pair, in document order."""


def route_key(method: str, path_template: str) -> str:
    """The "METHOD /path" spelling the catalog and payloads.yaml use."""
    return f"{method.upper()} {path_template}"


def _template_pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^/{}]+\})", template)
    body = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts if p)
    return re.compile(f"(?:.*?){body}/?")  # a path prefix (an engine behind /engine) is allowed


# Literal templates first: GET /v1/tasks/context is not a run id.
_PATTERNS: Final[tuple[tuple[str, str, re.Pattern[str]], ...]] = tuple(
    sorted(
        ((method, path, _template_pattern(path)) for method, path in ROUTES),
        key=lambda entry: (entry[1].count("{"), -len(entry[1])),
    )
)


def route_of(method: str, path: str) -> str | None:
    """The documented "METHOD /path" a concrete request was sent to, if any."""
    method = method.upper()
    for documented_method, template, pattern in _PATTERNS:
        if documented_method == method and pattern.fullmatch(path):
            return route_key(method, template)
    return None


ROUTE_KEYS: Final[tuple[str, ...]] = tuple(route_key(m, p) for m, p in ROUTES)
"""Every documented route as "METHOD /path", in document order."""


class Access(enum.Enum):
    """How a route is called, read from the ``security`` entry of its operation."""

    PUBLIC = "public"  # security: [] (a launch code in the body or query is its own credential)
    FORGE = "forge"  # Forge bearer only: the request-key bootstrap
    JIRA = "jira-app"  # Forge bearer plus the single-use request key
    PERMIT = "permit"  # the task permit as bearer


_ACCESS_BY_SCHEMES: Final[dict[frozenset[str], Access]] = {
    frozenset(): Access.PUBLIC,
    frozenset({"forgeBearer"}): Access.FORGE,
    frozenset({"forgeBearer", "jiraRequestKey"}): Access.JIRA,
    frozenset({"taskPermit"}): Access.PERMIT,
}


def _access_of(method: str, path: str) -> tuple[Access, ...]:
    operation = _openapi()["paths"][path][method.lower()]
    requirements = operation.get("security", _openapi().get("security", []))
    if not requirements:
        return (Access.PUBLIC,)
    found = []
    for requirement in requirements:
        schemes = frozenset(requirement)
        if schemes not in _ACCESS_BY_SCHEMES:
            raise ContractError(f"openapi.json {method} {path}: unknown security {sorted(schemes)}")
        found.append(_ACCESS_BY_SCHEMES[schemes])
    return tuple(found)


ROUTE_ACCESS: Final[Mapping[str, tuple[Access, ...]]] = {
    route_key(m, p): _access_of(m, p) for m, p in ROUTES
}
"""Every way each documented route may be called, in the order its ``security`` lists them."""

ACCESS: Final[Mapping[str, Access]] = {route: ways[0] for route, ways in ROUTE_ACCESS.items()}
"""Each route's first listed way: the one first-party clients use (GET progress: the permit,
the IDE's way; Jira may also read it with Forge bearer and request key)."""

JIRA_APP_ROUTES: Final[tuple[str, ...]] = tuple(
    route for route, ways in ROUTE_ACCESS.items() if Access.JIRA in ways
)
"""Every route that takes Forge bearer plus request key, in document order."""


# ---------------------------------------------------------------------------------------- schemas


def _schema_dir() -> Path:
    return contract_dir() / "schemas"


@cache
def _schemas() -> dict[str, JsonObject]:
    schemas: dict[str, JsonObject] = {}
    for path in sorted(_schema_dir().glob("*.json")):
        schema = _read_json(path)
        expected_id = SCHEMA_BASE_URI + path.name
        if not isinstance(schema, dict) or schema.get("$id") != expected_id:
            raise ContractError(f"schemas/{path.name}: $id must be {expected_id}")
        schemas[path.name] = schema
    return schemas


def schema_names() -> tuple[str, ...]:
    """File names of every schema under contract/schemas/."""
    return tuple(_schemas())


def load_schema(name: str) -> JsonObject:
    """One schema by file name ("installation.json"; the .json suffix may be left out)."""
    file_name = name if name.endswith(".json") else f"{name}.json"
    try:
        return copy.deepcopy(_schemas()[file_name])
    except KeyError:
        raise KeyError(f"no schema {file_name!r} under contract/schemas/") from None


@cache
def schema_registry() -> Registry[Any]:
    """Every schema under contract/schemas/, by its $id, ready to resolve $refs between them.

    Built once and immutable (a `referencing.Registry`), so validators and the fuzz overlay share
    it. It cannot retrieve anything: a $ref outside contract/schemas/ is unresolvable rather than
    fetched (the $id host is deliberately .invalid).
    """
    resources = [
        (schema["$id"], Resource.from_contents(schema, default_specification=DRAFT202012))
        for schema in _schemas().values()
    ]
    return Registry().with_resources(resources).crawl()


def validate_payload(schema: JsonObject, instance: Any) -> list[str]:
    """Every way `instance` fails `schema`, as readable lines (empty when it conforms).

    $refs between our schema files resolve through a registry of contract/schemas/, so nothing is
    fetched from the network (the $id host is deliberately .invalid).
    """
    validator = Draft202012Validator(schema, registry=schema_registry())
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    lines = []
    for error in errors:
        location = "/".join(str(part) for part in error.absolute_path) or "(root)"
        lines.append(f"{location}: {error.message}")
    return lines


# ---------------------------------------------------------------------------------------- payloads


def _payloads_place(path: list[Any]) -> tuple[str, int]:
    """How an error message names the part of payloads.yaml at `path` (see _catalog_place)."""
    if len(path) < 2:
        return "payloads.yaml", len(path)
    return f"payloads.yaml {path[1]}", 2


@cache
def _payloads() -> dict[str, PayloadSpec]:
    data = _read_yaml("payloads.yaml")
    error = best_match(_format_validator("payloads").iter_errors(data))
    if error is not None:
        where, covered = _payloads_place(list(error.absolute_path))
        raise ContractError(f"{where}: {explain(error, covered)}")
    specs: dict[str, PayloadSpec] = {}
    for key, entry in data["payloads"].items():
        for field in ("request", "response"):
            value = entry.get(field)
            if value is not None and value not in _schemas():
                raise ContractError(f"payloads.yaml {key}: {field} {value!r} is not a schema file")
        specs[str(key)] = PayloadSpec(
            entry.get("request"),
            entry.get("response"),
            entry["response_media_type"],
            entry.get("response_status", "2XX"),
        )
    documented = {route_key(method, path) for method, path in ROUTES}
    if set(specs) != documented:
        raise ContractError(
            "payloads.yaml must list exactly the documented routes; "
            f"missing {sorted(documented - set(specs))}, extra {sorted(set(specs) - documented)}"
        )
    return specs


def payload_spec(method: str, path_template: str) -> PayloadSpec:
    """The payloads.yaml entry of one documented route-method combination."""
    key = route_key(method, path_template)
    try:
        return _payloads()[key]
    except KeyError:
        raise KeyError(f"{key} is not a documented route-method combination") from None


def payload_schemas(method: str, path_template: str) -> tuple[JsonObject | None, JsonObject | None]:
    """(request schema, response schema) for a documented combination; None where there is none.

    The response schema describes the status class in `payload_spec(...).response_status`
    (2XX everywhere except the disabled telemetry route, whose documented answer is a 4XX).
    """
    spec = payload_spec(method, path_template)
    request = load_schema(spec.request) if spec.request else None
    response = load_schema(spec.response) if spec.response else None
    return request, response
