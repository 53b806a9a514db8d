"""Run-scoped project and task ids.

Every id the harness writes is made up for the run: a random run prefix, the xdist worker and a
counter. Concurrent runs, workers and nightly jobs never touch each other's data, and a staging
target is never written outside these ids.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import string
import threading
from dataclasses import dataclass


def new_run_prefix(rng: random.Random | None = None) -> str:
    """``SCC`` plus three random upper-case letters, e.g. ``SCCQZT``.

    Short on purpose: with a worker number and a counter, project keys stay within Jira's
    default limit of 10 characters.
    """
    pick = (rng or random.SystemRandom()).choice
    return "SCC" + "".join(pick(string.ascii_uppercase) for _ in range(3))


def seed_of(run_prefix: str) -> int:
    """A seed derived from the run prefix: every xdist worker agrees on it without plumbing, and
    ``--run-prefix`` alone replays a run's generated inputs."""
    return int.from_bytes(hashlib.sha256(run_prefix.encode()).digest()[:4], "big")


@dataclass(frozen=True)
class TaskRef:
    """A Jira project/task pair, e.g. ``("SCCQZT1B", "SCCQZT1B-3")``."""

    project_id: str
    task_id: str


class IdFactory:
    """Hands out fresh project keys and task ids inside the run prefix."""

    def __init__(self, run_prefix: str, worker: str = "") -> None:
        # Worker "gw3" adds "3": counters are letters, so workers can never collide.
        suffix = worker[2:] if worker.startswith("gw") and worker[2:].isdigit() else ""
        self.run_prefix = run_prefix
        self.base = run_prefix + suffix
        self._projects = itertools.count(1)
        self._lock = threading.Lock()

    def project(self) -> str:
        with self._lock:
            return self.base + _letters(next(self._projects))

    def task(self, project_id: str | None = None, number: int = 1) -> TaskRef:
        project = project_id or self.project()
        return TaskRef(project, f"{project}-{number}")


def _letters(n: int) -> str:
    """Bijective base-26: 1 -> A, 26 -> Z, 27 -> AA."""
    out = ""
    while n:
        n, r = divmod(n - 1, 26)
        out = chr(ord("A") + r) + out
    return out


_LOOK_ALIKES = (("C", "\u0421"), ("A", "\u0410"), ("E", "\u0415"), ("O", "\u041e"))


def cyrillic_look_alike(value: str) -> str | None:
    """``value`` with its first Latin C, A, E or O as the Cyrillic letter that looks the same
    (None when it has none of them)."""
    for latin, cyrillic in _LOOK_ALIKES:
        if latin in value:
            return value.replace(latin, cyrillic, 1)
    return None


def fullwidth_letter(value: str) -> str | None:
    """``value`` with its first ASCII letter in fullwidth form (equal to it after NFKC)."""
    index = next((i for i, ch in enumerate(value) if ch.isascii() and ch.isalpha()), None)
    if index is None:
        return None
    return value[:index] + chr(ord(value[index]) + 0xFEE0) + value[index + 1 :]


def near_misses(value: str) -> dict[str, str]:
    """Ids a real implementation may wrongly take for ``value``, by kind of near miss.

    Each differs from ``value`` in one way a lenient comparison forgives: case folding,
    trimming, Unicode normalisation or confusables, and prefix matching in either direction.
    All are still made up for the run (derived from a run-scoped id).
    """
    candidates = {
        "lower-case": value.lower(),
        "trailing space": value + " ",
        "leading space": " " + value,
        "Cyrillic look-alike": cyrillic_look_alike(value),
        "fullwidth letter": fullwidth_letter(value),
        "extended (the id as a prefix)": value + "0",
        "truncated (a prefix of the id)": value[:-1],
    }
    return {kind: near for kind, near in candidates.items() if near and near != value}
