"""The state machine on its own catches faults that only show in sequences, and shrinks
each to a short, redacted, replayable reproduction.

The fault matrix proves every fault is caught by *some* test of its invariant; here only the
state-machine test runs, with shrinking on, so a catch is the machine's own.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from seecodes_reference_engine.faults import FAULTS

from seecodes_conformance.engine_process import EngineProcess
from seecodes_conformance.plugin import EMBEDDED_ENGINE_ARGS
from suite_runner import run_suites

STATEFUL_TEST = "test_engine_behaves_like_its_model"
# a key accepted twice, a status going backwards, a write redirected by body fields, and permit
# routes that skip the binding
SEQUENCE_FAULTS = [
    "rk-replay",
    "run-monotonic",
    "body-no-redirect",
    "permit-binding-progress",
    "permit-binding-progress-read",
    "permit-binding-index",
    "permit-binding-run",
    "permit-binding-snapshot",
]
MOST_STEPS = 5  # "at most a handful of steps", initial setup not counted
STEP_LINE = re.compile(r"^\s*\d+\. \w+\(", re.MULTILINE)


@pytest.mark.parametrize("fault", SEQUENCE_FAULTS)
def test_state_machine_catches_and_shrinks(fault: str, tmp_path: Path) -> None:
    invariant = FAULTS[fault].invariant
    with EngineProcess(faults=[fault], extra_args=EMBEDDED_ENGINE_ARGS) as engine:
        run = run_suites(
            engine.base_url, tmp_path, args=["-k", STATEFUL_TEST, "--stateful-shrink=1"]
        )
    [case] = [c for c in run.cases if STATEFUL_TEST in c.name] or [None]
    assert case is not None, f"the state-machine test did not run:\n{run.summary()}"
    assert case.outcome == "failed", f"{fault!r} was not caught by the machine:\n{run.summary()}"
    assert f"[{invariant}]" in case.message, f"failed, but not on {invariant}:\n{case.message}"

    reproduction = case.message[case.message.index("Reproduction (seed") :]
    steps = STEP_LINE.findall(reproduction)
    assert 1 <= len(steps) <= MOST_STEPS, f"not shrunk to a handful of steps:\n{reproduction}"
    assert re.search(r"Replay: pytest suites/test_stateful.py .*--stateful-seed=\d+", reproduction)
    assert f"--engine-fault={fault}" not in reproduction  # the target came via --base-url
    assert "Bearer ey" not in case.message and "eyJ" not in reproduction
