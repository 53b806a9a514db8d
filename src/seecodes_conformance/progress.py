"""Progress during long waits: what the run is waiting for, how long so far, how long at most.

A credential's expiry, a state machine of fifty examples or runs that take minutes can keep a
test silent for minutes; a person watching a terminal (or a CI log) cannot tell that from a
hang. Waits longer than ``PROGRESS_AFTER_S`` print a line at their start and then at most every
``PROGRESS_EVERY_S``. The plugin points ``PROGRESS`` at the terminal (past pytest's capture, on
a line of its own, from xdist workers too); outside pytest it stays silent.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["PROGRESS", "PROGRESS_AFTER_S", "PROGRESS_EVERY_S", "Progress"]

PROGRESS_AFTER_S = 5.0  # shorter waits say nothing
PROGRESS_EVERY_S = 10.0  # at most one line this often per wait


class Progress:
    """Lines about long waits, written through whatever the plugin configured."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._write: Callable[[str], None] | None = None
        self._clock = clock
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._started: dict[str, float] = {}

    def configure(self, write: Callable[[str], None] | None) -> None:
        """Where lines go (None: nowhere)."""
        self._write = write

    def line(self, text: str) -> None:
        if self._write is not None:
            self._write(text)

    def sleep(self, seconds: float, what: str) -> None:
        """Sleep ``seconds`` waiting for ``what``; a long sleep says so, and keeps saying so."""
        seconds = max(0.0, seconds)
        if seconds < PROGRESS_AFTER_S or self._write is None:
            time.sleep(seconds)
            return
        began = self._clock()
        deadline = began + seconds
        while (left := deadline - self._clock()) > 0:
            if left >= 1.0:  # not for the last moment of a wait
                self.line(
                    f"seecodes: waiting for {what} ({self._clock() - began:.0f} s so far, "
                    f"at most {seconds:.0f} s)"
                )
            time.sleep(min(PROGRESS_EVERY_S, left))

    def tick(self, key: str, describe: Callable[[float], str]) -> None:
        """Called at each step of a long activity ``key``: once it has lasted
        ``PROGRESS_AFTER_S``, ``describe(seconds so far)`` is written at most every
        ``PROGRESS_EVERY_S``."""
        now = self._clock()
        with self._lock:
            began = self._started.setdefault(key, now)
            if now - began < PROGRESS_AFTER_S:
                return
            if now - self._last.get(key, began) < PROGRESS_EVERY_S and key in self._last:
                return
            self._last[key] = now
        self.line(describe(now - began))

    def done(self, key: str) -> None:
        """Activity ``key`` is over: a later one of the same name starts afresh."""
        with self._lock:
            self._started.pop(key, None)
            self._last.pop(key, None)


PROGRESS = Progress()
"""The process's progress lines (configured by the plugin for the run)."""
