"""The contract as data: invariant catalog, published OpenAPI document, first-party schemas.

Everything here is read from `contract/` (found through `resources.contract_dir()`, so an
installed copy works from any directory) and parsed once. Public functions hand out copies, so a
caller that tweaks a document (for example a schemathesis overlay) cannot corrupt the next one.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from seecodes_conformance.resources import contract_dir

SCHEMA_BASE_URI: Final = "https://seecodes-conformance.invalid/schemas/"
AREAS: Final = frozenset({"system", "forge", "request-keys", "launch", "permits", "runs", "data"})
LEVELS: Final = frozenset({"contract", "derived"})
_HTTP_METHODS: Final = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_ID_PATTERN: Final = re.compile(r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)*$")

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


# ---------------------------------------------------------------------------------------- catalog


def _str_tuple(entry: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = entry.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ContractError(f"{where}: {key} must be a list of strings")
    return tuple(value)


def _parse_invariant(entry: Any, position: int) -> Invariant:
    where = f"invariants.yaml entry {position}"
    if not isinstance(entry, dict):
        raise ContractError(f"{where}: not a mapping")
    for key in ("id", "area", "level", "quote"):
        if not isinstance(entry.get(key), str) or not entry[key].strip():
            raise ContractError(f"{where}: {key} must be a non-empty string")
    where = f"invariant {entry['id']}"
    if not _ID_PATTERN.match(entry["id"]):
        raise ContractError(f"{where}: id must be upper-case words joined by '-'")
    if entry["area"] not in AREAS:
        raise ContractError(f"{where}: unknown area {entry['area']!r}")
    if entry["level"] not in LEVELS:
        raise ContractError(f"{where}: unknown level {entry['level']!r}")
    rationale = entry.get("rationale")
    if rationale is not None and not isinstance(rationale, str):
        raise ContractError(f"{where}: rationale must be a string")
    if entry["level"] == "derived" and not rationale:
        raise ContractError(f"{where}: a derived invariant needs a rationale")
    observable = entry.get("observable", True)
    if not isinstance(observable, bool):
        raise ContractError(f"{where}: observable must be a boolean")
    return Invariant(
        id=entry["id"],
        area=entry["area"],
        level=entry["level"],
        quote=entry["quote"],
        routes=_str_tuple(entry, "routes", where),
        rationale=rationale,
        faults=_str_tuple(entry, "fault", where),
        also_quotes=_str_tuple(entry, "also_quotes", where),
        observable=observable,
    )


@cache
def _catalog() -> tuple[Invariant, ...]:
    data = _read_yaml("invariants.yaml")
    if not isinstance(data, dict) or not isinstance(data.get("invariants"), list):
        raise ContractError("invariants.yaml: top level must be a mapping with an invariants list")
    entries = tuple(_parse_invariant(e, n) for n, e in enumerate(data["invariants"]))
    seen: set[str] = set()
    for invariant in entries:
        if invariant.id in seen:
            raise ContractError(f"invariants.yaml: duplicate id {invariant.id}")
        seen.add(invariant.id)
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
        if method in _HTTP_METHODS
    )


ROUTES: Final[tuple[tuple[str, str], ...]] = _routes()
"""Every documented (METHOD, path template) pair, in document order."""


def route_key(method: str, path_template: str) -> str:
    """The "METHOD /path" spelling the catalog and payloads.yaml use."""
    return f"{method.upper()} {path_template}"


@cache
def _template_patterns() -> tuple[tuple[str, re.Pattern[str], int], ...]:
    patterns = []
    for path in _openapi()["paths"]:
        parts = path.split("/")
        regex = "/".join(
            "[^/]+" if part.startswith("{") and part.endswith("}") else re.escape(part)
            for part in parts
        )
        literal = sum(1 for part in parts if not part.startswith("{"))
        patterns.append((path, re.compile(f"^{regex}$"), literal))
    # OpenAPI: concrete paths match before templated ones, so try the most literal first.
    return tuple(sorted(patterns, key=lambda p: -p[2]))


def match_route(method: str, concrete_path: str) -> str | None:
    """The documented path template a request resolves to, or None when it is undocumented.

    As in OpenAPI, the most concrete matching path wins before the method is considered, so
    GET /v1/tasks/context is the context route (not a run called "context") and GET
    /v1/tasks/init is undocumented rather than a run status. A query string is ignored.
    """
    path = urlsplit(concrete_path).path
    for template, pattern, _ in _template_patterns():
        if pattern.match(path):
            documented = (method.upper(), template) in ROUTES
            return template if documented else None
    return None


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


def _parse_payload(key: str, entry: Any) -> PayloadSpec:
    if not isinstance(entry, dict):
        raise ContractError(f"payloads.yaml {key}: not a mapping")
    names: dict[str, str | None] = {}
    for field in ("request", "response"):
        value = entry.get(field)
        if value is not None and (not isinstance(value, str) or value not in _schemas()):
            raise ContractError(f"payloads.yaml {key}: {field} {value!r} is not a schema file")
        names[field] = value
    media_type = entry.get("response_media_type")
    status = entry.get("response_status", "2XX")
    if not isinstance(media_type, str) or not isinstance(status, str):
        raise ContractError(f"payloads.yaml {key}: response_media_type/status must be strings")
    return PayloadSpec(names["request"], names["response"], media_type, status)


@cache
def _payloads() -> dict[str, PayloadSpec]:
    data = _read_yaml("payloads.yaml")
    if not isinstance(data, dict) or not isinstance(data.get("payloads"), dict):
        raise ContractError("payloads.yaml: top level must be a mapping with a payloads mapping")
    specs = {str(key): _parse_payload(str(key), entry) for key, entry in data["payloads"].items()}
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
