"""Run profiles: example counts, race repetitions and seeds, set in one place."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    race_bursts: int  # bursts per race test; any burst with two winners fails it
    fuzz_max_examples: int  # schemathesis fuzzing examples per operation
    stateful_examples: int  # hypothesis state-machine runs
    stateful_steps: int
    seed: int | None  # None: a random seed, printed in every failure
    derandomize: bool  # the same generated sequences every run: a gate that cannot flake
    run_wait: float  # seconds a run may take to settle ("a run may take minutes")


PROFILES: dict[str, Profile] = {
    # smoke: every test once with the smallest budgets; the self-tests' restraint sweep uses it.
    "smoke": Profile("smoke", race_bursts=2, fuzz_max_examples=5, stateful_examples=8,
                     stateful_steps=10, seed=None, derandomize=True, run_wait=60.0),
    "ci": Profile("ci", race_bursts=5, fuzz_max_examples=15, stateful_examples=50,
                  stateful_steps=20, seed=None, derandomize=True, run_wait=180.0),
    "nightly": Profile("nightly", race_bursts=20, fuzz_max_examples=100, stateful_examples=100,
                       stateful_steps=30, seed=None, derandomize=False,
                       run_wait=900.0),
    "certify": Profile("certify", race_bursts=20, fuzz_max_examples=100, stateful_examples=100,
                       stateful_steps=30, seed=20261128, derandomize=True,
                       run_wait=900.0),
}  # fmt: skip
