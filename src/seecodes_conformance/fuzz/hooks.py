"""Schemathesis' global hooks: live credentials swapped in at send time, answers counted."""

from __future__ import annotations

from typing import Any

import schemathesis

from seecodes_conformance.fuzz.auth import label_of_case, throttled
from seecodes_conformance.fuzz.coverage import record
from seecodes_conformance.fuzz.world import kind_of, world_of
from seecodes_conformance.http.traffic import TRAFFIC

# ---------------------------------------------------------------------------------- hooks


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    """Count the case against the traffic budget; swap placeholders for live credentials."""
    found = world_of(case)
    if found is None:
        return
    world, role = found
    TRAFFIC.reserve(1, f"fuzz case {case.method} {case.path}")
    if case.method.upper() != case.operation.method.upper():
        return  # a wrong-method probe must never spend a key: it is not the operation
    world.wiring.fill(case, positive=role == "positive" and kind_of(case) == "positive")
    if case.id in world.wiring.sent_keys:
        world.keyed_cases.add(case.id)


@schemathesis.hook
def after_call(context: Any, case: Any, response: Any) -> None:
    """Rotate the key ring, register credentials, count the answer for the coverage table (a
    throttled answer as throttled only: it is neither a success nor a rejection)."""
    found = world_of(case)
    if found is None:
        return
    world, role = found
    world.wiring.settle(case, response)
    label = label_of_case(case)
    kind = kind_of(case)
    if role == "negative" and kind == "positive":
        kind = "junk"
    if label in world.rows:
        record(world.rows[label], label, kind, response.status_code, throttled=throttled(response))
