"""Expiry checks deferred across runs: credentials minted now, presented after they expire.

A production target's lifetimes (launch codes of days, 24-hour permits) are longer than any run
can wait. A nightly job keeps a state file between runs (in its CI cache, say): each run stores
credentials it minted on ids made up for the run, with their ``expiresAt``; a later run, after
expiry plus the clock skew, presents each and expects a rejection. The file holds secrets: it is
created 0600, never printed, never copied into reports. A missing, corrupt or foreign file (one
written for another target) gives one clear message and a fresh file, never a crash.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["CLOCK_SKEW_S", "SCHEMA", "Deferred", "StateFile", "open_state", "utc"]

SCHEMA = "seecodes-deferred-expiry/1"
CLOCK_SKEW_S = 60.0
KINDS = ("request-key", "launch-code", "permit")


def utc(timestamp: float) -> str:
    """A moment as the reports show it: to the minute, in UTC."""
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(timestamp))


@dataclass(frozen=True)
class Deferred:
    """One credential whose expiry a later run checks."""

    kind: str  # request-key | launch-code | permit
    invariant: str  # the expiry invariant it checks (RK-EXPIRY, LC-EXPIRY, ...)
    credential: str = field(repr=False)  # the secret itself: never in a repr
    expires_at: float = 0.0  # epoch seconds, as the target answered
    minted_at: float = 0.0
    run_prefix: str = ""
    context: dict[str, str] = field(default_factory=dict)  # tenant, projectId, taskId, route

    def due(self, now: float) -> bool:
        return now >= self.expires_at + CLOCK_SKEW_S

    @property
    def due_at(self) -> float:
        return self.expires_at + CLOCK_SKEW_S

    @property
    def context_text(self) -> str:
        """Where it was minted, for messages (the credential itself is never shown)."""
        pair = "/".join(self.context[k] for k in ("projectId", "taskId") if k in self.context)
        return pair or self.context.get("tenant", "(no pair)")

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Deferred:
        kind = str(data["kind"])
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}")
        return cls(
            kind=kind,
            invariant=str(data["invariant"]),
            credential=str(data["credential"]),
            expires_at=float(data["expires_at"]),
            minted_at=float(data["minted_at"]),
            run_prefix=str(data["run_prefix"]),
            context={str(k): str(v) for k, v in dict(data.get("context", {})).items()},
        )


class StateFile:
    """The deferred checks of one target, read at start and written back as they change."""

    def __init__(self, path: Path, target: str) -> None:
        self.path = path
        self.target = target
        self.entries: list[Deferred] = []
        self.message: str | None = None  # set when the file could not be used as it was
        self._load()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Read-modify-write under an exclusive lock, re-reading the file first: xdist workers
        share one state file, and none may drop what another added."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = self.path.with_name(self.path.name + ".lock")
        with lock.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                self.entries, message = [], self.message
                self._load()
                self.message = message  # the first reading's message is the one that counts
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # -- reading -------------------------------------------------------------------------------
    def _load(self) -> None:
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            self.message = f"state file {self.path} does not exist yet; starting a fresh one"
            return
        except OSError as exc:
            self.message = f"state file {self.path} cannot be read ({exc.strerror}); starting fresh"
            return
        try:
            data = json.loads(raw)
            if not isinstance(data, dict) or data.get("schema") != SCHEMA:
                raise ValueError(f"not a {SCHEMA} file")
            if data.get("target") != self.target:
                self.message = (
                    f"state file {self.path} belongs to another target ({data.get('target')}); "
                    "starting a fresh one for this target"
                )
                return
            self.entries = [Deferred.from_json(e) for e in data.get("entries", [])]
        except (ValueError, KeyError, TypeError) as exc:
            self.message = f"state file {self.path} is corrupt ({exc}); starting a fresh one"
            self.entries = []

    # -- what is due ---------------------------------------------------------------------------
    def due(self, kind: str, now: float | None = None) -> list[Deferred]:
        moment = time.time() if now is None else now
        return [e for e in self.entries if e.kind == kind and e.due(moment)]

    def pending(self, kind: str, now: float | None = None) -> list[Deferred]:
        moment = time.time() if now is None else now
        return [e for e in self.entries if e.kind == kind and not e.due(moment)]

    # -- writing -------------------------------------------------------------------------------
    def add(self, entry: Deferred) -> None:
        with self._locked():
            self.entries.append(entry)
            self.save()

    def settle(self, done: Iterable[Deferred]) -> None:
        """Forget entries whose check ran (passed or failed: the report has the verdict)."""
        finished = list(done)
        with self._locked():
            self.entries = [e for e in self.entries if e not in finished]
            self.save()

    def claim_due(self, kind: str, now: float) -> list[Deferred]:
        """Take the due entries of ``kind`` out of the file: each is presented once. One that
        could not be presented (throttled) is put back with ``add``."""
        with self._locked():
            due = [e for e in self.entries if e.kind == kind and e.due(now)]
            if due:
                self.entries = [e for e in self.entries if e not in due]
                self.save()
        return due

    def waiting(self, kind: str, now: float) -> list[Deferred]:
        """The entries of ``kind`` not yet due, as the file holds them now."""
        with self._locked():
            return self.pending(kind, now)

    def fresh(self) -> None:
        """Start the file afresh after a message (missing, corrupt, foreign): entries of
        another target are dropped, and the new file exists, 0600, from the start."""
        with self._locked():
            if self.message is not None:
                self.entries = []
            self.save()

    def save(self) -> None:
        """Write atomically, readable by the owner only (the file holds credentials)."""
        data = {
            "schema": SCHEMA,
            "target": self.target,
            "entries": [asdict(e) for e in self.entries],
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".seecodes-state-", dir=self.path.parent)
        try:
            os.fchmod(handle, 0o600)
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(data, out, indent=1, sort_keys=True)
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        os.chmod(self.path, 0o600)

    def __repr__(self) -> str:  # never the credentials
        return f"StateFile({str(self.path)!r}, entries={len(self.entries)})"


NEEDS_BASE_URL = (
    "--state-file is ignored without --base-url: the bundled engine forgets every credential "
    "between runs, so a deferred check against it would prove nothing"
)


def open_state(path: Path | None, target: str | None, *, fresh: bool) -> tuple[
    StateFile | None, str | None
]:  # fmt: skip
    """The run's state file and the one line to show about it (None: nothing to say).

    ``fresh``: this process owns the run (the controller), so a missing, corrupt or foreign
    file is replaced now by a fresh 0600 one; workers only open what the controller left.
    """
    if path is None:
        return None, None
    if target is None:
        return None, NEEDS_BASE_URL
    state = StateFile(path, target)
    if fresh:
        try:
            state.fresh()
        except OSError as exc:
            return None, f"state file {path} cannot be written ({exc.strerror}); ignored"
    return state, state.message
