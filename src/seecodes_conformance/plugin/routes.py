"""``--route``: run the tests that check one or more documented routes.

A test checks a route when one of its invariants is checked on that route (the catalog's
``routes``). A test parametrized over routes (its id or a parameter names a documented
"METHOD /path") runs only for the selected ones, so ``--route 'GET /v1/models'`` runs the fuzz
test of that route and not of every route an invariant shares with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from seecodes_conformance.contract import ROUTES, load_catalog, route_key
from seecodes_conformance.markers import routes_named_by

__all__ = ["RouteSelection"]

DOCUMENTED: frozenset[str] = frozenset(route_key(method, path) for method, path in ROUTES)


def _normalise(spelling: str) -> set[str]:
    """The documented routes ``spelling`` names: "METHOD /path", or "/path" for every method."""
    words = spelling.split()
    if len(words) == 1:
        path = words[0]
        return {route for route in DOCUMENTED if route.split(" ", 1)[1] == path}
    if len(words) == 2:
        route = route_key(words[0], words[1])
        return {route} if route in DOCUMENTED else set()
    return set()


@dataclass(frozen=True)
class RouteSelection:
    routes: frozenset[str]
    invariants: frozenset[str]  # every invariant checked on one of the routes

    @classmethod
    def parse(cls, spellings: Sequence[str]) -> RouteSelection:
        routes: set[str] = set()
        unknown: list[str] = []
        for spelling in spellings:
            found = _normalise(spelling)
            if not found:
                unknown.append(spelling)
            routes |= found
        if unknown:
            raise pytest.UsageError(
                "--route names no documented route: "
                + ", ".join(repr(u) for u in unknown)
                + "\n  documented routes:\n    "
                + "\n    ".join(sorted(DOCUMENTED))
            )
        catalog = load_catalog()
        invariants = {iid for iid, inv in catalog.items() if routes & set(inv.routes)}
        return cls(frozenset(routes), frozenset(invariants))

    def selects(self, item: pytest.Item, invariants: set[str]) -> bool:
        if not invariants & self.invariants:
            return False
        named = routes_named_by(item)
        return not named or bool(named & self.routes)
