"""The schemathesis overlay: the target's own /openapi.json plus our first-party shapes.

The published document leaves most bodies as ``{"type": "object"}``. Fuzzing that alone sends
junk the handlers refuse at the door, and checks nothing about the answers. So, per route-method
combination, the overlay

- puts the first-party request schema (contract/schemas, mapped by contract/payloads.yaml) on the
  request body, so *positive* cases look like what the Jira App and the IDE send;
- puts the first-party response schema on the documented success (or, for the disabled telemetry
  route, rejection) response, so every answer is validated against the stable shape (a rejection
  shape only in the positive document: bad input may be refused with another 4xx);
- pins the ids a credential is bound to (the permit's task, the runs the suite created, the
  model catalog) so positive cases reach the handlers' logic instead of a binding rejection.

The target's own schema is never loosened: where it says something, the overlay is
``allOf: [target's, ours]``, so a tighter target schema still wins.

Two documents come out of one target document. The *positive* one carries everything above and
is only ever used to generate valid requests. The *negative* one keeps the target's request
schemas (so "schema-violating" means violating what the target publishes, never our stricter
client shapes) and pins only ids the protocol itself binds to the credential; both carry the
success-response overlay. Nothing here sends a request: the module is pure and unit-tested offline.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal
from urllib.parse import urldefrag, urljoin

from referencing import Registry, Resource
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from seecodes_conformance.contract import (
    HTTP_METHODS,
    ROUTE_KEYS,
    ROUTES,
    SCHEMA_BASE_URI,
    load_schema,
    payload_spec,
    schema_registry,
)
from seecodes_conformance.ids import TaskRef

if TYPE_CHECKING:  # referencing exports the resolver type only from its private core module
    from referencing._core import Resolver

JsonObject = dict[str, Any]
Role = Literal["positive", "negative"]

COMBINATIONS: Final = ROUTE_KEYS
"""The protocol's 24 route-method combinations, as "METHOD /path/{param}"."""

MARKER: Final = "x-seecodes-fuzz"
"""Root key of an overlaid document: which role, and which fuzz world its hooks belong to."""

_META_KEYS: Final = frozenset({"$schema", "$id", "$defs", "$comment"})
_ANNOTATIONS: Final = frozenset({"title", "description", "examples", "$comment", "default"})
_PARAM: Final = re.compile(r"\{[^/{}]+\}")

# Values as the Jira App sends them (positive cases only): its own cloud id and site URL as
# hints, Atlassian account ids. The protocol only says "string"; a target may refuse control
# characters there, and first-party clients never send them.
_UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
CLOUD_ID_HINT: Final[JsonObject] = {"type": "string", "pattern": f"^{_UUID}$"}
SITE_URL_HINT: Final[JsonObject] = {
    "type": "string",
    "pattern": "^https://[a-z0-9][a-z0-9-]{0,23}\\.atlassian\\.net$",
}
ACCOUNT_ID: Final[JsonObject] = {"type": "string", "pattern": f"^557058:{_UUID}$"}
DAY: Final[JsonObject] = {
    "type": "string",
    "pattern": "^20[2-9][0-9]-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])$",
}
NON_EMPTY: Final[JsonObject] = {"type": "string", "minLength": 1}
FALLBACK_MODELS: Final = ("strict light",)  # the alias the protocol's own examples use


class OverlayError(ValueError):
    """The target's document cannot be overlaid (not OpenAPI 3.1, malformed)."""


def label_of(method: str, path: str) -> str:
    return f"{method.upper()} {path}"


def shape_of(path: str) -> str:
    """``/v1/tasks/{runId}`` -> ``/v1/tasks/{}``: the route regardless of parameter names."""
    return _PARAM.sub("{}", path)


_PROTOCOL_BY_SHAPE: Final[dict[str, str]] = {shape_of(p): p for _, p in ROUTES}


# ------------------------------------------------------------------------------------ survey


@dataclass(frozen=True)
class Survey:
    """What the target's document says about the protocol's surface."""

    version: str | None
    documented: frozenset[str]  # protocol combinations the document has
    missing: tuple[str, ...]  # protocol combinations it lacks (OPENAPI-DOC)
    extra: tuple[str, ...]  # operations outside the protocol (allowed; listed, not fuzzed)
    renamed: Mapping[str, str] = field(default_factory=dict)  # target path -> protocol path

    @property
    def version_ok(self) -> bool:
        return isinstance(self.version, str) and self.version.startswith("3.1")


def _operations(doc: Mapping[str, Any]) -> Iterator[tuple[str, str, Any]]:
    paths = doc.get("paths")
    if not isinstance(paths, Mapping):
        return
    for path, item in paths.items():
        if isinstance(item, Mapping):
            for method, operation in item.items():
                if method in HTTP_METHODS:
                    yield method, str(path), operation


def survey(doc: Mapping[str, Any]) -> Survey:
    """Which of the 24 combinations the document has, which it lacks, what else it has."""
    renamed: dict[str, str] = {}
    labels: set[str] = set()
    for method, path, _ in _operations(doc):
        canonical = _PROTOCOL_BY_SHAPE.get(shape_of(path), path)
        if canonical != path:
            renamed[path] = canonical
        labels.add(label_of(method, canonical))
    version = doc.get("openapi")
    return Survey(
        version=version if isinstance(version, str) else None,
        documented=frozenset(labels & set(COMBINATIONS)),
        missing=tuple(c for c in COMBINATIONS if c not in labels),
        extra=tuple(sorted(labels - set(COMBINATIONS))),
        renamed=renamed,
    )


def canonical_document(doc: Mapping[str, Any]) -> JsonObject:
    """A copy whose paths use the protocol's parameter names (``{run_id}`` -> ``{runId}``).

    Another implementation may name a path parameter differently; the URL is the same, and the
    overlay (and the coverage table) can then address every route by its protocol name.
    """
    out = copy.deepcopy(dict(doc))
    paths = out.get("paths")
    if not isinstance(paths, dict):
        raise OverlayError("the document has no paths object")
    renamed: dict[str, Any] = {}
    for key, item in paths.items():
        path = str(key)
        canonical = _PROTOCOL_BY_SHAPE.get(shape_of(path), path)
        if canonical != path and isinstance(item, dict):
            names = dict(zip(_PARAM.findall(path), _PARAM.findall(canonical), strict=True))
            _rename_path_parameters(item, {k[1:-1]: v[1:-1] for k, v in names.items()})
        if canonical in renamed:  # two spellings of one route: keep both operations
            renamed[canonical] = {**renamed[canonical], **item}
        else:
            renamed[canonical] = item
    out["paths"] = renamed
    return out


def _rename_path_parameters(item: dict[str, Any], names: Mapping[str, str]) -> None:
    holders = [item] + [op for m, op in item.items() if m in HTTP_METHODS and isinstance(op, dict)]
    for holder in holders:
        for parameter in holder.get("parameters", []) or []:
            if (
                isinstance(parameter, dict)
                and parameter.get("in") == "path"
                and parameter.get("name") in names
            ):
                parameter["name"] = names[parameter["name"]]


# ---------------------------------------------------------------------- first-party schemas


def inline_schema(name: str) -> JsonObject:
    """One first-party schema with every $ref between our files resolved in place.

    The result is self-contained (no $id, no $defs, no external $ref), so it can sit anywhere in
    an OpenAPI document. A $ref with sibling constraints becomes ``allOf: [ref, siblings]``, which
    every generator and validator understands the same way. References are looked up in the
    contract's schema registry, so they mean exactly what they mean to the payload validator.
    """
    schema = load_schema(name)
    base = str(schema.get("$id", SCHEMA_BASE_URI + name))
    result = _inline(schema, schema_registry().resolver(base_uri=base), base, ())
    if not isinstance(result, dict):
        raise OverlayError(f"{name} is not a schema object")
    return result


def _inline(node: Any, resolver: Resolver[Any], base: str, stack: tuple[int, ...]) -> Any:
    """``node`` with its $refs replaced by what they point at.

    ``resolver`` looks references up and already stands at ``node``'s base URI; ``base`` spells
    that URI for error messages. ``stack`` holds the identities of the referenced nodes being
    inlined: a reference back into one of them would never end.
    """
    if isinstance(node, list):
        return [_inline_child(item, resolver, base, stack) for item in node]
    if not isinstance(node, dict):
        return node
    out = {
        key: _inline_child(value, resolver, base, stack)
        for key, value in node.items()
        if key not in _META_KEYS and key != "$ref"
    }
    ref = node.get("$ref")
    if not isinstance(ref, str):
        return out
    uri, fragment = urldefrag(urljoin(base, ref))
    where = f"{uri.removeprefix(SCHEMA_BASE_URI)}#{fragment}"
    try:
        resolved = resolver.lookup(ref)
    except Unresolvable:
        raise OverlayError(f"unresolvable $ref {where}") from None
    if id(resolved.contents) in stack:
        raise OverlayError(f"recursive $ref {where}: the overlay inlines finite schemas only")
    inlined = _inline(resolved.contents, resolved.resolver, uri, (*stack, id(resolved.contents)))
    if not set(out) - _ANNOTATIONS:
        return inlined
    return {"allOf": [inlined, out]}


def _inline_child(node: Any, resolver: Resolver[Any], base: str, stack: tuple[int, ...]) -> Any:
    """A subschema with its own $id is a resource of its own: references in it are relative to
    that $id (a referenced node needs no such step: the lookup already moved the base)."""
    if isinstance(node, dict) and isinstance(node.get("$id"), str):
        resolver = resolver.in_subresource(DRAFT202012.create_resource(node))
        base = urljoin(base, node["$id"])
    return _inline(node, resolver, base, stack)


def is_open(schema: Any) -> bool:
    """A schema that constrains nothing but the JSON type (``{"type": "object"}``, ``{}``)."""
    if schema is None:
        return True
    if not isinstance(schema, Mapping):
        return False
    return not set(schema) - _ANNOTATIONS - {"type"}


def merge(target: Any, ours: JsonObject) -> JsonObject:
    """Ours where the target says nothing; both (``allOf``) where the target says something."""
    if is_open(target) and _type_compatible(target, ours):
        return copy.deepcopy(ours)
    return {"allOf": [copy.deepcopy(target), copy.deepcopy(ours)]}


def _type_compatible(target: Any, ours: Mapping[str, Any]) -> bool:
    wanted = target.get("type") if isinstance(target, Mapping) else None
    if wanted is None:
        return True
    mine = ours.get("type")
    if mine is None:
        return False
    allowed = set(wanted) if isinstance(wanted, list) else {wanted}
    have = set(mine) if isinstance(mine, list) else {mine}
    return have <= allowed


# ------------------------------------------------------------------------------ bindings


@dataclass(frozen=True)
class Bindings:
    """The run's own ids that positive cases must carry to reach the handlers' logic.

    Every id comes from the run prefix (staging safety): generated requests never name a project
    or task the harness did not make up.
    """

    permit_task: TaskRef  # the fuzz permit's pair: context, progress writes, runs, indexes
    progress_task: TaskRef  # progress reads (its progress is only ever written first-party)
    link_task: TaskRef  # bodies of POST /v1/security/vscode-link
    mint_task: TaskRef  # bodies of POST /v1/security/task-permit
    exchange_task: TaskRef  # launch-exchange: a fresh code for this pair per positive case
    launch_task: TaskRef  # the launcher page's p and t
    settled_run: str  # a run of the permit's pair that has settled: status, output, logs
    idle_run: str  # an initialised, uploaded, unstarted run: negative start cases
    models: tuple[str, ...] = FALLBACK_MODELS  # the target's model catalog


def _const(value: str) -> JsonObject:
    return {"type": "string", "const": value}


def _model_field(b: Bindings) -> JsonObject:
    return {"type": "string", "enum": list(b.models or FALLBACK_MODELS)}


@dataclass(frozen=True)
class ParameterShape:
    """Our shape of one parameter: for positive cases, and (if the protocol binds it to the
    credential) for negative cases too, so they fail on what is wrong with them rather than on
    the binding."""

    positive: JsonObject
    negative: JsonObject | None = None


def parameter_shapes(b: Bindings) -> dict[tuple[str, str, str], ParameterShape]:
    """(combination, location, name) -> shape. Values filled at send time are just strings."""
    t0 = b.permit_task
    hints = {
        (combo, "query", name): ParameterShape(shape)
        for combo in (
            "GET /v1/instances/me",
            "GET /v1/jira/usage",
            "GET /v1/jira/team-competition",
            "GET /v1/tasks/{taskId}/progress",
        )
        for name, shape in (("cloudIdHint", CLOUD_ID_HINT), ("siteUrlHint", SITE_URL_HINT))
    }
    bound_task = ParameterShape(_const(t0.task_id), _const(t0.task_id))
    bound_project = ParameterShape(_const(t0.project_id), _const(t0.project_id))
    read = b.progress_task
    settled = ParameterShape(_const(b.settled_run), _const(b.settled_run))
    return {
        **hints,
        ("GET /v1/jira/team-competition", "query", "projectId"): ParameterShape(
            _const(t0.project_id)
        ),
        ("GET /v1/jira/team-competition", "query", "startDate"): ParameterShape(DAY),
        ("GET /v1/jira/team-competition", "query", "endDate"): ParameterShape(DAY),
        ("GET /v1/launch", "query", "p"): ParameterShape(_const(b.launch_task.project_id)),
        ("GET /v1/launch", "query", "t"): ParameterShape(_const(b.launch_task.task_id)),
        ("GET /v1/launch", "query", "c"): ParameterShape(NON_EMPTY),  # a real code at send time
        ("GET /v1/launch", "query", "baseUrl"): ParameterShape(
            {"type": "string", "pattern": "^https://[a-z0-9-]{1,20}(\\.[a-z0-9-]{1,20}){1,3}$"}
        ),
        ("GET /v1/launch", "query", "statusLanguage"): ParameterShape(
            {"type": "string", "pattern": "^[a-z]{2}$"}
        ),
        ("POST /v1/tasks/{taskId}/progress", "path", "taskId"): bound_task,
        ("GET /v1/tasks/{taskId}/progress", "path", "taskId"): ParameterShape(
            _const(read.task_id), _const(read.task_id)
        ),
        ("GET /v1/tasks/{taskId}/progress", "query", "projectId"): ParameterShape(
            _const(read.project_id), _const(read.project_id)
        ),
        # Positive: a fresh initialised run per case (filled at send time); negative: an idle run.
        ("POST /v1/tasks/{runId}/start", "path", "runId"): ParameterShape(
            NON_EMPTY, _const(b.idle_run)
        ),
        ("GET /v1/tasks/{runId}", "path", "runId"): settled,
        ("GET /v1/tasks/{runId}/output", "path", "runId"): settled,
        ("GET /v1/tasks/{runId}/logs", "path", "runId"): settled,
        ("POST /v1/projects/{projectId}/indexes/query", "path", "projectId"): bound_project,
        ("POST /v1/projects/{projectId}/indexes/upsert", "path", "projectId"): bound_project,
    }


def body_patches(b: Bindings) -> dict[str, dict[str, JsonObject]]:
    """Per combination, body properties replaced in our request schema (positive cases)."""
    jira_user = {
        "userAccountId": ACCOUNT_ID,
        "cloudIdHint": {"anyOf": [CLOUD_ID_HINT, {"type": "null"}]},
        "siteUrlHint": {"anyOf": [SITE_URL_HINT, {"type": "null"}]},
    }
    return {
        "POST /v1/security/vscode-link": {
            "projectId": _const(b.link_task.project_id),
            "taskId": _const(b.link_task.task_id),
            **jira_user,
        },
        "POST /v1/security/task-permit": {
            "projectId": _const(b.mint_task.project_id),
            "taskId": _const(b.mint_task.task_id),
            **jira_user,
        },
        "POST /v1/security/launch-exchange": {
            "projectId": _const(b.exchange_task.project_id),
            "taskId": _const(b.exchange_task.task_id),
            "code": {"type": "string", "minLength": 1, "maxLength": 512},  # a real code at send
        },
        "POST /v1/tasks/init": {"model": _model_field(b)},
        "POST /v1/tasks/{runId}/start": {"model": _model_field(b)},
    }


# ------------------------------------------------------------------------------ overlay


def overlay(
    doc: Mapping[str, Any], role: Role, bindings: Bindings, marker: Mapping[str, Any]
) -> JsonObject:
    """The target's document with our shapes laid over it, for one role (see the module doc)."""
    found = survey(doc)
    if not found.version_ok:
        raise OverlayError(
            f"the target publishes OpenAPI {found.version!r}; the protocol documents OpenAPI 3.1"
        )
    out = canonical_document(doc)
    shapes = parameter_shapes(bindings)
    patches = body_patches(bindings)
    resolver = _document_resolver(out)
    for method, path, operation in list(_operations(out)):
        combo = label_of(method, path)
        if combo not in COMBINATIONS or not isinstance(operation, dict):
            continue
        _overlay_parameters(out, path, method, combo, role, shapes, resolver)
        if role == "positive":
            _overlay_request(operation, combo, patches.get(combo, {}), resolver)
        _overlay_responses(operation, combo, role, resolver)
    out[MARKER] = {**marker, "role": role}
    return out


_DOCUMENT_URI: Final = "urn:seecodes-conformance:target-openapi"
_MAX_HOPS: Final = 16


def _document_resolver(doc: JsonObject) -> Resolver[Any]:
    """A resolver of local references in the target's document.

    The document is registered as an opaque resource: it is an OpenAPI document, not a JSON
    Schema, so only JSON pointers into it are followed and no $id inside it moves the base.
    """
    registry: Registry[Any] = Registry().with_resource(_DOCUMENT_URI, Resource.opaque(doc))
    return registry.resolver(base_uri=_DOCUMENT_URI)


def _resolve(node: Any, resolver: Resolver[Any]) -> Any:
    """A local ``#/components/...`` reference, followed (the node itself otherwise)."""
    hops = 0
    while isinstance(node, Mapping) and isinstance(node.get("$ref"), str) and hops < _MAX_HOPS:
        ref = node["$ref"]
        if not ref.startswith("#/components/"):
            return node
        try:
            node = resolver.lookup(ref).contents
        except Unresolvable:
            raise OverlayError(f"unresolvable $ref {ref}") from None
        hops += 1
    return node


def _overlay_parameters(
    doc: JsonObject,
    path: str,
    method: str,
    combo: str,
    role: Role,
    shapes: Mapping[tuple[str, str, str], ParameterShape],
    resolver: Resolver[Any],
) -> None:
    item = doc["paths"][path]
    operation = item[method]
    # Path-level parameters apply to every method: copy them into the operation before editing.
    merged: dict[tuple[str, str], Any] = {}
    for parameter in [*(item.get("parameters") or []), *(operation.get("parameters") or [])]:
        resolved = _resolve(parameter, resolver)
        if isinstance(resolved, Mapping) and "name" in resolved and "in" in resolved:
            merged[(str(resolved["in"]), str(resolved["name"]))] = parameter
    result = []
    for (location, name), parameter in merged.items():
        shape = shapes.get((combo, location, name))
        ours = None if shape is None else (shape.positive if role == "positive" else shape.negative)
        if ours is None:
            result.append(parameter)
            continue
        resolved = copy.deepcopy(dict(_resolve(parameter, resolver)))
        resolved["schema"] = merge(_resolve(resolved.get("schema"), resolver), ours)
        resolved.pop("content", None)
        result.append(resolved)
    if result:
        operation["parameters"] = result


def _overlay_request(
    operation: JsonObject,
    combo: str,
    patch: Mapping[str, JsonObject],
    resolver: Resolver[Any],
) -> None:
    spec = payload_spec(*combo.split(" ", 1))
    if spec.request is None:
        return
    ours = inline_schema(spec.request)
    if patch:
        properties = ours.setdefault("properties", {})
        for name, shape in patch.items():
            properties[name] = copy.deepcopy(shape)
    body = _resolve(operation.get("requestBody"), resolver)
    if not isinstance(body, Mapping):
        # The target documents no body where first-party clients send one: send theirs anyway.
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": ours}},
        }
        return
    body = copy.deepcopy(dict(body))
    content = body.setdefault("content", {})
    json_types = [t for t in content if _is_json(t)] or ["application/json"]
    for media_type in json_types:
        entry = dict(content.get(media_type) or {})
        entry["schema"] = merge(_resolve(entry.get("schema"), resolver), ours)
        entry.pop("example", None)
        entry.pop("examples", None)
        content[media_type] = entry
    operation["requestBody"] = body


def _overlay_responses(
    operation: JsonObject, combo: str, role: Role, resolver: Resolver[Any]
) -> None:
    spec = payload_spec(*combo.split(" ", 1))
    if spec.response is None:
        return
    if role == "negative" and spec.response_status[0] == "4":
        # Our shape of a documented rejection (the disabled telemetry route's deprecation error)
        # is what a first-party request gets; bad input may be refused otherwise (any 4xx, e.g. a
        # FastAPI 422 validation error), so it is held to the target's own schema only.
        return
    ours = inline_schema(spec.response)
    responses = operation.get("responses")
    if not isinstance(responses, dict):
        return
    status_class = spec.response_status[0]
    for code in list(responses):
        if str(code)[0] != status_class:
            continue
        response = copy.deepcopy(dict(_resolve(responses[code], resolver) or {}))
        content = response.setdefault("content", {})
        json_types = [t for t in content if _is_json(t)] or [spec.response_media_type]
        for media_type in json_types:
            entry = dict(content.get(media_type) or {})
            entry["schema"] = merge(_resolve(entry.get("schema"), resolver), ours)
            content[media_type] = entry
        responses[code] = response


def _is_json(media_type: str) -> bool:
    main = media_type.split(";", 1)[0].strip().lower()
    return main == "application/json" or main.endswith("+json")
