"""Per-route coverage: which invariants each documented route is checked by, plus fuzz figures.

The fuzz suite writes ``fuzz-coverage.json`` (into the run's report folder, or ``reports/``);
its exact shape is the fuzz suite's business, so this reads any mapping or list keyed by a
"METHOD /path" route and keeps the scalar figures of each.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from seecodes_conformance.report.model import InvariantResult

FILENAME = "fuzz-coverage.json"
_ROUTE = re.compile(r"^(GET|PUT|POST|DELETE|OPTIONS|HEAD|PATCH|TRACE) /\S*$", re.IGNORECASE)
_ROUTE_KEYS = ("route", "operation", "label", "endpoint")


def find(run_dir: Path, base_dir: Path, since: float) -> Path | None:
    """The coverage file of this run: in its folder, else a fresh one in the reports folder."""
    mine = run_dir / FILENAME
    if mine.is_file():
        return mine
    shared = base_dir / FILENAME
    if shared.is_file() and shared.stat().st_mtime >= since:
        return shared
    return None


def load(path: Path | None) -> Any:
    if path is None:
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return {"error": f"{path.name} could not be read: {exc}"}


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
        from seecodes_conformance.contract import ROUTES, route_key

        documented = [route_key(m, p) for m, p in ROUTES]
    except Exception:  # the contract package is broken: still show what the run knows
        documented = []
    named = [r for inv in invariants for r in inv.routes] + list(coverage)
    return list(dict.fromkeys([*documented, *named]))
