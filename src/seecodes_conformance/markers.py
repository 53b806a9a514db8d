"""The markers a conformance test carries, and how the harness reads them.

``@pytest.mark.invariant("RK-REPLAY", ...)`` names the catalog invariants a test checks: it
drives ``--invariant`` selection, the invariant map, and which invariants a failure is charged
to in the reports. Selection (the plugin) and reporting (the report package) both read it here,
so the two can never disagree about what a test checks.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from seecodes_conformance.contract import ROUTES, route_key

__all__ = ["MARKERS", "invariants_of", "routes_named_by"]

_DOCUMENTED: frozenset[str] = frozenset(route_key(method, path) for method, path in ROUTES)

MARKERS: tuple[str, ...] = (
    "invariant(*ids): the catalog invariants (contract/invariants.yaml) a test checks",
    "needs_test_issuer: the test needs test-issuer tokens",
)


def invariants_of(item: pytest.Item) -> list[str]:
    """The invariant ids of every ``invariant`` mark on ``item``, in order, each once."""
    return list(
        dict.fromkeys(str(iid) for mark in item.iter_markers("invariant") for iid in mark.args)
    )


def routes_named_by(item: pytest.Item) -> set[str]:
    """Documented routes a parametrized test instance is about (from its id and parameters)."""
    named: set[str] = set()
    callspec = getattr(item, "callspec", None)
    values: Iterable[object] = callspec.params.values() if callspec is not None else ()
    for value in values:
        if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, str) for v in value):
            value = route_key(*value)
        if isinstance(value, str) and value in _DOCUMENTED:
            named.add(value)
    name = item.name
    if name.endswith("]") and "[" in name:
        label = name[name.index("[") + 1 : -1]
        if label in _DOCUMENTED:
            named.add(label)
    return named
