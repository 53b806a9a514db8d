"""Per-route coverage: which invariants each documented route is checked by, plus fuzz figures.

The fuzz suite's table (``fuzz-coverage.json`` in the run's report folder) is handed over as
data; its exact shape is the fuzz suite's business, so this reads any mapping or list keyed by a
"METHOD /path" route and keeps the scalar figures of each.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from seecodes_conformance.report.model import InvariantResult

FILENAME = "fuzz-coverage.json"
_ROUTE = re.compile(r"^(GET|PUT|POST|DELETE|OPTIONS|HEAD|PATCH|TRACE) /\S*$", re.IGNORECASE)
_ROUTE_KEYS = ("route", "operation", "label", "endpoint")


def _route_of(key: str, entry: Mapping[str, Any]) -> str | None:
    if _ROUTE.match(key.strip()):
        method, _, path = key.strip().partition(" ")
        return f"{method.upper()} {path}"
    for name in _ROUTE_KEYS:
        value = entry.get(name)
        if isinstance(value, str) and _ROUTE.match(value.strip()):
            return _route_of(value, {})
    verb, where = entry.get("method"), entry.get("path")
    if isinstance(verb, str) and isinstance(where, str):
        return f"{verb.upper()} {where}"
    return None


def _scalars(entry: Mapping[str, Any]) -> dict[str, Any]:
    skip = {*_ROUTE_KEYS, "method", "path"}
    return {
        k: v for k, v in entry.items()
        if k not in skip and isinstance(v, str | int | float | bool) and v is not None
    }  # fmt: skip


def coverage_by_route(data: Any) -> dict[str, dict[str, Any]]:
    """{"METHOD /path": {figure: value}} from whatever shape the fuzz suite wrote."""
    if isinstance(data, Mapping):
        for key in ("combinations", "routes", "operations", "coverage"):
            if isinstance(data.get(key), Mapping | list):
                return coverage_by_route(data[key])
        items: Iterable[tuple[str, Any]] = data.items()
    elif isinstance(data, list):
        items = (("", entry) for entry in data)
    else:
        return {}
    routes: dict[str, dict[str, Any]] = {}
    for key, entry in items:
        if isinstance(entry, Mapping):
            route = _route_of(str(key), entry)
            if route:
                routes[route] = _scalars(entry)
    return routes


def route_order(invariants: Iterable[InvariantResult], coverage: Mapping[str, Any]) -> list[str]:
    """The documented routes in document order, then any other route named by either side."""
    try:
        from seecodes_conformance.contract import ROUTE_KEYS

        documented = list(ROUTE_KEYS)
    except Exception:  # the contract package is broken: still show what the run knows
        documented = []
    named = [r for inv in invariants for r in inv.routes] + list(coverage)
    return list(dict.fromkeys([*documented, *named]))
