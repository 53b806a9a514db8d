"""The markers a conformance test carries, and how the harness reads them.

``@pytest.mark.invariant("RK-REPLAY", ...)`` names the catalog invariants a test checks: it
drives ``--invariant`` selection, the invariant map, and which invariants a failure is charged
to in the reports. Selection (the plugin) and reporting (the report package) both read it here,
so the two can never disagree about what a test checks.
"""

from __future__ import annotations

import pytest

__all__ = ["MARKERS", "invariants_of"]

MARKERS: tuple[str, ...] = (
    "invariant(*ids): the catalog invariants (contract/invariants.yaml) a test checks",
    "needs_test_issuer: the test needs test-issuer tokens",
)


def invariants_of(item: pytest.Item) -> list[str]:
    """The invariant ids of every ``invariant`` mark on ``item``, in order, each once."""
    return list(
        dict.fromkeys(str(iid) for mark in item.iter_markers("invariant") for iid in mark.args)
    )
