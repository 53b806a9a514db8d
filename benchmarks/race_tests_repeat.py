"""Do the race tests catch a real race every time, and never cry wolf?

Runs the two race tests (RK-RACE: N concurrent uses of one request key; LC-RACE: N concurrent
exchanges of one launch code) as separate, consecutive pytest sessions against reference engines
started once per configuration: with the ``rk-race`` fault, with the ``lc-race`` fault (both
windows are a bare ``await`` between check and consume), and clean. Each configuration is run
over HTTP/1.1 with one and two engine workers and over h2c (the ``http2`` variation, where the
harness picks the single-packet engine by itself).

Prints, per configuration, how many runs the faulted test failed and the clean one passed, and in
which burst of each run the race first showed. Goal: every faulted run fails, every
clean run passes. Not a timed test: ``python benchmarks/race_tests_repeat.py [--runs 20]``.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from seecodes_conformance.engine_process import EngineProcess

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from suite_runner import run_suites  # noqa: E402  (the self-tests' runner: one real pytest run)

RACE_INVARIANTS = ("RK-RACE", "LC-RACE")
# connection setups: (label, engine workers, engine variations)
SETUPS = {
    "h1": (1, ()),
    "h1-2-workers": (2, ()),
    "h2c": (1, ("http2",)),
}
ENGINES = {"rk-race": ("rk-race",), "lc-race": ("lc-race",), "clean": ()}
BURST = re.compile(r"burst (\d+)/(\d+)")


@dataclass
class Tally:
    runs: int = 0
    expected: int = 0  # runs whose verdict was the right one
    first_bursts: Counter[str] = field(default_factory=Counter)
    odd: list[str] = field(default_factory=list)


def expected_failure(engine: str, case: str) -> bool:
    """The faulted engine must fail exactly the test of its own invariant."""
    fault_of = {"rk-race": "concurrent_uses_of_one_key", "lc-race": "concurrent_exchanges"}
    return engine in fault_of and fault_of[engine] in case


def run_setup(setup: str, engine: str, runs: int, log: Tally) -> None:
    workers, variants = SETUPS[setup]
    with (
        EngineProcess(faults=ENGINES[engine], variants=variants, workers=workers) as target,
        tempfile.TemporaryDirectory() as tmp,
    ):
        for i in range(runs):
            run = run_suites(target.base_url, Path(tmp), invariants=RACE_INVARIANTS)
            log.runs += 1
            race_cases = [c for c in run.cases if "concurrent" in c.name]
            if len(race_cases) != 2:
                log.odd.append(f"run {i + 1}: {len(race_cases)} race tests ran\n{run.summary()}")
                continue
            right = True
            for case in race_cases:
                want_fail = expected_failure(engine, case.name)
                if want_fail and case.outcome == "failed":
                    found = BURST.search(case.message)
                    log.first_bursts[found.group(1) if found else "?"] += 1
                elif (case.outcome == "passed") != (not want_fail):
                    right = False
                    log.odd.append(f"run {i + 1}: {case.name} {case.outcome}: {case.message[:500]}")
            log.expected += right


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--runs", type=int, default=20, help="consecutive runs per configuration")
    ap.add_argument("--setups", default=",".join(SETUPS), help="of: " + ", ".join(SETUPS))
    ap.add_argument("--engines", default=",".join(ENGINES), help="of: " + ", ".join(ENGINES))
    args = ap.parse_args(argv)
    started = time.perf_counter()
    tallies: dict[tuple[str, str], Tally] = {}
    for setup in args.setups.split(","):
        for engine in args.engines.split(","):
            tally = tallies.setdefault((setup, engine), Tally())
            run_setup(setup, engine, args.runs, tally)
            print(
                f"[{time.perf_counter() - started:5.0f} s] {setup} / {engine}: "
                f"{tally.expected}/{tally.runs} as expected",
                file=sys.stderr,
                flush=True,
            )
    lines = [
        f"# Race tests, {args.runs} consecutive runs per configuration "
        f"({time.perf_counter() - started:.0f} s)",
        "",
        "| setup | engine | runs with the right verdict | burst where the race first showed |",
        "|---|---|---|---|",
    ]
    for (setup, engine), t in tallies.items():
        bursts = ", ".join(f"#{b}: {n}" for b, n in sorted(t.first_bursts.items())) or "-"
        lines.append(f"| {setup} | {engine} | {t.expected}/{t.runs} | {bursts} |")
    odd = [(k, o) for k, t in tallies.items() for o in t.odd]
    lines += ["", *(f"- {setup}/{engine} {o}" for (setup, engine), o in odd)]
    ok = all(t.expected == t.runs for t in tallies.values())
    lines += [f"VERDICT: {'PASS' if ok else 'FAIL'}"]
    print("\n".join(lines))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
