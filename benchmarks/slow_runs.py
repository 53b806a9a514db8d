"""Slow runs: N runs polled one after another, or settled side by side by the run registry.

Starts the reference engine with the ``slow-runs`` variant (every run settles ``--settle``
seconds after init) and runs two pytest sessions of N tests against it, each test needing one
settled run:

- sequential: each test starts its run and polls it until it settles (``poll_statuses``), the
  way a test does without the registry: about N x settle;
- concurrent: each test's run is started at the first test that needs one (``EARLY_RUNS``) and
  settled by the registry's one poller: about 1 x settle.

Prints the wall time of each session and the registry's own record. Figures, not a timed test:
``python benchmarks/slow_runs.py [--runs 4] [--settle 20]``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from seecodes_conformance.engine_process import EngineProcess
from seecodes_conformance.plugin import EMBEDDED_ENGINE_ARGS

SEQUENTIAL = """
import pytest
from seecodes_conformance.flows import ProtocolSteps


@pytest.mark.parametrize("n", range({runs}))
def test_one_run(protocol: ProtocolSteps, n: int) -> None:
    run = protocol.started_run(protocol.mint_permit(protocol.new_task()))
    assert protocol.poll_statuses(run.permit, run.run_id)[-1] == "succeeded"
"""

CONCURRENT = """
from seecodes_conformance.flows.run_registry import EarlyRuns


def _new_starter():
    def start(protocol, registry):
        return registry.track(protocol.started_run(protocol.mint_permit(protocol.new_task())))

    return start


EARLY_RUNS = {{f"test_one_run_{{i}}": _new_starter() for i in range({runs})}}

for i in range({runs}):

    def test(early_runs: EarlyRuns, i: int = i) -> None:
        tracked = early_runs.take(EARLY_RUNS[f"test_one_run_{{i}}"])
        assert early_runs.registry.settled(tracked, "RUN-STATUS").final == "succeeded"

    test.__name__ = f"test_one_run_{{i}}"
    globals()[test.__name__] = test
del test  # collected under its numbered names only
"""


def _session(base_url: str, source: str, workdir: Path) -> tuple[float, str]:
    module = workdir / "test_bench_runs.py"
    module.write_text(textwrap.dedent(source))
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(module), "-q", "-p", "no:randomly", "-n", "0",
         "-p", "no:cacheprovider", f"--base-url={base_url}", "--report-dir=none"],
        cwd=workdir, capture_output=True, text=True, check=False, timeout=3600,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    tail = [line for line in done.stdout.splitlines() if "run registry" in line or " in " in line]
    return elapsed, (f"exit {done.returncode}; " + " | ".join(tail[-2:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=4, help="tests, each needing one run")
    parser.add_argument("--settle", type=float, default=20.0, help="seconds until a run settles")
    args = parser.parse_args()
    extra = (*EMBEDDED_ENGINE_ARGS, "--slow-run-settle", str(args.settle))
    print(f"{args.runs} runs, each settling {args.settle:g} s after init (variant slow-runs)")
    with (
        EngineProcess(variants=("slow-runs",), extra_args=extra) as engine,
        tempfile.TemporaryDirectory(prefix="seecodes-bench-") as tmp,
    ):
        for label, source in (("sequential", SEQUENTIAL), ("concurrent", CONCURRENT)):
            elapsed, detail = _session(engine.base_url, source.format(runs=args.runs), Path(tmp))
            print(f"{label:>11}: {elapsed:6.1f} s wall  ({detail})")


if __name__ == "__main__":
    main()
