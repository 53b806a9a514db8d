"""Schema fuzzing of every documented route with schemathesis.

One test per protocol route-method combination. The session's fuzz world
(seecodes_conformance.fuzz) has read the target's /openapi.json, overlaid our first-party shapes
on it, and minted what first-party clients would hold (a rotating request key, task permits,
runs, launch codes). Each test then lets schemathesis generate

1. positive cases from the overlaid document (what the Jira App and the IDE send), sent with
   live credentials: answered as documented, in the documented shape;
2. cases from the target's own request schemas: violations of them and requests with an
   undeclared method must be rejected with a 4xx (which 4xx is the target's choice), schema-valid
   junk must get a 4xx or a success; never a 5xx;
3. after the first success, the same request with missing and wrong credentials: rejected.

A failure names the route and the invariant, shows each distinct failing request as a redacted
curl command, and prints the seed that replays it. Every combination must also have seen a
success and a rejection; the per-combination table is printed at the end of the run and written
to the run's report folder as fuzz-coverage.json.

What passes is what ran: each check notes, per combination, the answers it judged and that held,
and the verdict records them invariant by invariant (``checks.record_checks``). A credential
invariant (FORGE-REQUIRED, RK-REQUIRED, PERMIT-REQUIRED, FORGE-NOT-PERMIT, PERMIT-NOT-FORGE)
counts its probes' rejections beside their positive control, the accepted request they repeat;
the others count the answers their checks judged. An invariant no check concluded on a
combination is recorded not verified, with the reason. A throttled answer (429, or 503 with
Retry-After) is judged by no check and counted apart (the table's "throttled" column).

Why ``from_fixture``: the target, and with it the document, exists only once the session has
started (the bundled engine is started by the ``target`` fixture), so nothing can be loaded at
import time. One pytest item per combination, each driving two lazily loaded schemathesis runs,
keeps per-route ``-k`` and ``--invariant`` selection, per-route JUnit entries and xdist
distribution.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import schemathesis

from seecodes_conformance.credentials import CredentialSource
from seecodes_conformance.flows import ProtocolSteps
from seecodes_conformance.fuzz import hooks as _hooks  # noqa: F401 (schemathesis' global hooks)
from seecodes_conformance.fuzz.checks import require_documented, send, verdict
from seecodes_conformance.fuzz.coverage import report_property
from seecodes_conformance.fuzz.overlay import COMBINATIONS, label_of
from seecodes_conformance.fuzz.world import (
    FuzzWorld,
    build_world,
    close_world,
    combination_invariants,
)
from seecodes_conformance.ids import IdFactory
from seecodes_conformance.settings import Settings
from seecodes_conformance.target import Target

POSITIVE = schemathesis.pytest.from_fixture("fuzz_positive_schema")
NEGATIVE = schemathesis.pytest.from_fixture("fuzz_negative_schema")


def _send(case: Any, fuzz_world: FuzzWorld) -> None:
    """What schemathesis does with every generated case (fixtures come by name)."""
    send(case, fuzz_world)


def _runner(lazy: Any, combination: str) -> Callable[..., None]:
    """A schemathesis run limited to one combination (the overlay names paths as the protocol
    does, whatever parameter names the target's document uses)."""
    only = lazy.include(
        lambda ctx: label_of(ctx.operation.method, ctx.operation.path) == combination
    )
    run: Callable[..., None] = only.parametrize()(_send)
    return run


RUNS = {c: (_runner(POSITIVE, c), _runner(NEGATIVE, c)) for c in COMBINATIONS}


@pytest.fixture(scope="session")
def fuzz_world(
    target: Target,
    http: httpx.Client,
    forge: CredentialSource,
    ids: IdFactory,
    seecodes_settings: Settings,
    run_prefix: str,
    _handshake: None,
) -> Iterator[FuzzWorld]:
    """The credentials, runs and documents every fuzz case of this process draws on."""
    protocol = ProtocolSteps.standalone(
        http=http, forge=forge, ids=ids, settings=seecodes_settings, owner="fuzz"
    )
    world = build_world(
        base_url=target.base_url,
        document=target.openapi,
        protocol=protocol,
        forge=forge,
        settings=seecodes_settings,
        run_prefix=run_prefix,
    )
    yield world
    close_world(world)


@pytest.fixture(scope="session")
def fuzz_positive_schema(fuzz_world: FuzzWorld) -> Any:
    return fuzz_world.schema("positive")


@pytest.fixture(scope="session")
def fuzz_negative_schema(fuzz_world: FuzzWorld) -> Any:
    return fuzz_world.schema("negative")


@pytest.mark.parametrize(
    "combination",
    [
        pytest.param(c, id=c, marks=pytest.mark.invariant(*combination_invariants(c)))
        for c in COMBINATIONS
    ],
)
def test_fuzz(combination: str, fuzz_world: FuzzWorld, request: pytest.FixtureRequest) -> None:
    """Fuzz one combination: positive cases succeed as documented, bad ones are rejected."""
    world = fuzz_world
    try:
        require_documented(world, combination)
        positive, negative = RUNS[combination]
        collected = request.session.testscollected  # schemathesis counts its runs as tests
        positive(request=request)
        negative(request=request)
        request.session.testscollected = collected
        verdict(world, combination, request.node.nodeid)
    finally:
        world.forget_cases()
        request.node.user_properties.append(
            report_property(
                combination,
                world.rows[combination],
                seed=world.seed,
                missing=combination not in world.survey.documented,
                extra=world.survey.extra,
            )
        )
