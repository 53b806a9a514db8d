"""What the checks of the running test concluded, recorded as they ran.

A marker says what a test is *meant* to check; this log says what it actually checked. The
oracle records every rejection that held, every success of a rightful caller (a positive
control) and every check that passed outright; a check that could not conclude records why
("not verified") and what the user can configure to verify it. The reports judge invariants
from these records alone, so a test that returned early, or skipped before its check, never
makes an invariant pass.

A rejection proves something only next to its positive control: an engine that refuses
everyone also "rejects the intruder". So a rejection counts as a check of its invariant only if
the same test also shows the rightful caller succeeding (``control``), or the invariant was
passed outright.

One log per process: pytest runs one test at a time in a process (xdist workers included), and
the capture hook resets it before each test and ships a snapshot with the test's report.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, NoReturn

from _pytest.outcomes import Skipped

__all__ = [
    "LOG",
    "NOT_VERIFIED_KINDS",
    "CheckLog",
    "NotVerified",
    "Tally",
    "Unverified",
    "not_verified",
    "not_verified_here",
    "reason_in_skip",
]

NOT_VERIFIED_KINDS: Mapping[str, str] = {
    "capability": "the target does not offer what the check needs",
    "credentials": "the run's credentials cannot make the check",
    "lifetime": "a lifetime longer than this run can wait",
    "throttled": "the target or its gateway throttled a request the check needed",
    "refused": "the target refused a connection or stream the check needed",
    "unsynchronized": "too few race bursts were conclusive",
    "timeout": "the target did not finish in time",
    "setup": "a setup problem, not the protocol",
    "no-control": "no positive control: the rightful caller was never shown to succeed",
    "no-check": "no check of it ran",
    "stopped": "the test stopped at another failure first",
}


@dataclass(frozen=True)
class Unverified:
    """Why a check did not conclude, and what the user can configure so that it does."""

    kind: str
    detail: str
    configure: str = ""

    def __str__(self) -> str:
        text = f"{self.kind}: {self.detail}"
        return f"{text} (to verify: {self.configure})" if self.configure else text


@dataclass
class Tally:
    """One invariant's checks within one test."""

    passes: int = 0  # checks that passed outright (a race with one winner, a shape, a round trip)
    rejections: int = 0  # rejections that held; they count only next to a control
    controls: int = 0  # the rightful caller succeeded
    unverified: list[Unverified] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # figures worth reporting (race bursts)
    routes: list[str] = field(default_factory=list)  # documented routes of the judged answers

    def executed(self, *, needs_rejection: bool, finished: bool = True) -> int:
        """How many checks of the invariant this test ran to a pass.

        ``needs_rejection``: the invariant is one that rejections check (somewhere in the run a
        rejection of it was recorded); then a control alone checks nothing. ``finished``: the
        test ran to its end; a success seen before a test stopped (not verified, say) is only
        the start of a check, never a positive check on its own.
        """
        count = self.passes
        if self.rejections and (self.controls or self.passes):
            count += self.rejections
        if finished and not needs_rejection and not self.rejections:
            count += self.controls
        return count

    def reasons(self, *, needs_rejection: bool) -> list[Unverified]:
        reasons = list(self.unverified)
        if self.rejections and not (self.controls or self.passes):
            reasons.append(
                Unverified("no-control", f"{self.rejections} rejection(s) seen, " + _NO_CONTROL)
            )
        elif needs_rejection and self.controls and not (self.rejections or self.passes):
            reasons.append(Unverified("no-check", "the rightful caller succeeded; no rejection"))
        return reasons

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Tally:
        return cls(
            passes=int(data.get("passes", 0)),
            rejections=int(data.get("rejections", 0)),
            controls=int(data.get("controls", 0)),
            unverified=[
                Unverified(
                    str(u.get("kind", "")), str(u.get("detail", "")), str(u.get("configure", ""))
                )
                for u in data.get("unverified", [])
                if isinstance(u, Mapping)
            ],
            notes=[str(n) for n in data.get("notes", [])],
            routes=[str(r) for r in data.get("routes", [])],
        )


_NO_CONTROL = "but the same test never showed the rightful caller succeeding on that resource"


class CheckLog:
    """The running test's tallies, by invariant id."""

    def __init__(self) -> None:
        self._tallies: dict[str, Tally] = {}

    def reset(self) -> None:
        self._tallies = {}

    def _tally(self, invariant: str) -> Tally:
        return self._tallies.setdefault(invariant, Tally())

    def passed(self, *invariants: str) -> None:
        """A check of each invariant ran and held."""
        for invariant in invariants:
            self._tally(invariant).passes += 1

    def rejected(self, invariant: str) -> None:
        """A request the invariant says must be rejected was rejected (needs a control)."""
        self._tally(invariant).rejections += 1

    def control(self, *invariants: str) -> None:
        """The rightful caller succeeded where the invariant's intruders are refused."""
        for invariant in invariants:
            self._tally(invariant).controls += 1

    def reached(self, invariant: str, route: str | None) -> None:
        """A check of the invariant judged an answer from ``route`` (a documented route)."""
        if route is not None and route not in (routes := self._tally(invariant).routes):
            routes.append(route)

    def unverified(self, invariants: Iterable[str], reason: Unverified) -> None:
        for invariant in invariants:
            tally = self._tally(invariant)
            if reason not in tally.unverified:
                tally.unverified.append(reason)

    def note(self, invariant: str, text: str) -> None:
        """A figure the report shows with the invariant (how many bursts were conclusive)."""
        self._tally(invariant).notes.append(text)

    def tallies(self) -> dict[str, Tally]:
        return dict(self._tallies)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """JSON-able, for the test's report (it crosses from xdist workers)."""
        return {iid: tally.to_json() for iid, tally in self._tallies.items()}


LOG = CheckLog()


class NotVerified(Skipped):
    """A check could not conclude; pytest shows the test as skipped with the reason."""


def not_verified(
    invariants: str | Iterable[str], kind: str, detail: str, configure: str = ""
) -> NoReturn:
    """Record that a check of ``invariants`` could not conclude, and stop the test.

    ``kind`` is one of NOT_VERIFIED_KINDS; ``configure`` says what the user can change (an
    option, a profile, the target's configuration) so that a later run verifies it.
    """
    if kind not in NOT_VERIFIED_KINDS:
        raise ValueError(f"unknown not-verified kind {kind!r}")
    ids = [invariants] if isinstance(invariants, str) else list(invariants)
    reason = Unverified(kind, detail, configure)
    LOG.unverified(ids, reason)
    raise NotVerified(f"not verified ({', '.join(ids)}): {reason}")


def not_verified_here(kind: str, detail: str, configure: str = "") -> NoReturn:
    """Stop a test whose checks cannot conclude, where the invariants are not known (a shared
    fixture): the reports read the reason from the skip message of every test it stops."""
    if kind not in NOT_VERIFIED_KINDS:
        raise ValueError(f"unknown not-verified kind {kind!r}")
    raise NotVerified(f"{SKIP_PREFIX}{Unverified(kind, detail, configure)}")


SKIP_PREFIX = "not verified: "


def reason_in_skip(message: str) -> Unverified | None:
    """The reason a ``not_verified_here`` skip message carries, if it is one."""
    if not message.startswith(SKIP_PREFIX):
        return None
    kind, _, rest = message.removeprefix(SKIP_PREFIX).partition(": ")
    if kind not in NOT_VERIFIED_KINDS:
        return None
    detail, _, configure = rest.partition(" (to verify: ")
    return Unverified(kind, detail, configure.removesuffix(")"))
