"""Nothing legal is ever flagged.

The whole conformance run passes against the clean reference engine under every legal
variation, singly and combined, and with two worker processes. Against the clean engine every
catalog invariant also shows at least one executed, passing check (no vacuous verdicts), and
every route it governs was reached by one of them (the sentence x route matrix); under
a gateway that throttles or sheds load, nothing fails and every invariant that could not be
verified names why.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from seecodes_reference_engine.faults import VARIANTS

from seecodes_conformance.engine_process import EngineProcess
from seecodes_conformance.plugin import EMBEDDED_ENGINE_ARGS
from suite_runner import run_suites

# Variants that choose the same thing differently cannot be combined: one rejection status, and
# runs either settle late or never. The combined rows take the first choice of each group.
_EXCLUSIVE_GROUPS = (
    tuple(sorted(v for v in VARIANTS if v.startswith("reject-"))),
    ("slow-runs", "never-settle"),
)
# A gateway's "not now" leaves some checks not verified. The legal row combines every legal
# choice without it, so each of those checks runs; the all row adds the gateways on top.
GATEWAYS = ("throttle-429", "refuse-503", "refuse-connections")


def _combined(*, gateways: bool) -> tuple[str, ...]:
    grouped = {v for group in _EXCLUSIVE_GROUPS for v in group}
    chosen = [group[0] for group in _EXCLUSIVE_GROUPS]
    others = [v for v in VARIANTS if v not in grouped and (gateways or v not in GATEWAYS)]
    return tuple(sorted((*chosen, *others)))


# Singles run every test once on the smallest budgets; the clean, combined and two-worker runs
# use the default ci profile.
CONFIGURATIONS: list[tuple[str, tuple[str, ...], int, str]] = [
    ("clean", (), 1, "ci"),
    *((name, (name,), 1, "smoke") for name in sorted(VARIANTS)),
    ("combined", _combined(gateways=False), 1, "ci"),
    ("combined-gateways", _combined(gateways=True), 1, "ci"),
    ("two-workers", (), 2, "ci"),
]


@pytest.mark.parametrize(
    ("variants", "workers", "profile"),
    [pytest.param(v, w, p, id=label) for label, v, w, p in CONFIGURATIONS],
)
def test_suites_pass_under_legal_variation(
    variants: tuple[str, ...], workers: int, profile: str, tmp_path: Path
) -> None:
    with EngineProcess(
        variants=variants,
        workers=workers,
        extra_args=(*EMBEDDED_ENGINE_ARGS, *_ENGINE_ARGS.get(variants, ())),
    ) as engine:
        run = run_suites(
            engine.base_url, tmp_path, args=[f"--profile={profile}", *_ARGS.get(variants, ())],
            reports=True,
        )  # fmt: skip
    assert run.cases, run.summary()
    assert not run.with_outcome("failed", "error"), run.summary()
    assert run.returncode == 0, run.summary()
    statuses = run.statuses()
    assert statuses and "failed" not in statuses.values(), statuses
    for invariant in run.certification["invariants"]:
        if invariant["status"] == "not_verified":
            assert invariant.get("reasons"), f"{invariant['id']} not verified without a reason"
    if not variants:
        # No vacuous verdicts: every invariant passed on a check that actually ran.
        vacuous = {i["id"]: i.get("reasons") for i in run.certification["invariants"]
                   if i["status"] != "passed" or i["checks"] < 1}  # fmt: skip
        assert not vacuous, vacuous
        # The sentence x route matrix is complete: every route an invariant governs was
        # reached by an executed check of it.
        unreached = {
            f"{i['id']} {route}"
            for i in run.certification["invariants"]
            for route, checks in i.get("routes_checked", {}).items()
            if checks < 1
        }
        assert not unreached, sorted(unreached)


# Runs never settle: waiting the ci profile's 3 minutes per run proves nothing more than 5 s.
# Runs of slow-runs settle after the engine's 60 s: the ci profile's wait (180 s) for its row,
# as the combined row has, rather than the smoke profile's 60 s the settling would only just miss.
_ARGS: dict[tuple[str, ...], tuple[str, ...]] = {
    ("never-settle",): ("--run-wait=5",),
    ("slow-runs",): ("--run-wait=180",),
}
_ENGINE_ARGS: dict[tuple[str, ...], tuple[str, ...]] = {}
