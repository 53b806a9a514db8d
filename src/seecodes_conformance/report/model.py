"""The data every report is rendered from: test records, invariant results, run facts, the gate."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from seecodes_conformance.outcomes import Tally

PASSED = "passed"
FAILED = "failed"
WAIVED = "waived"
ADVISORY = "advisory"  # the catalog level of robustness findings that do not gate by default
NOT_VERIFIED = "not_verified"  # nothing ran to a verdict; the reasons say why
STATUSES = (FAILED, WAIVED, PASSED, NOT_VERIFIED)


@dataclass(frozen=True)
class Evidence:
    """One exchange, redacted: its readable form and a curl command that repeats it."""

    text: str
    curl: str


@dataclass
class TestRecord:
    """One test, merged from its setup, call and teardown reports (all text already redacted)."""

    __test__ = False  # not a pytest test class, despite the name

    nodeid: str
    invariants: list[str] = field(default_factory=list)
    outcome: str = PASSED  # passed | failed | error | skipped | xfailed | xpassed
    phase: str = "call"  # the phase that decided the outcome
    message: str = ""  # one-line failure message or skip reason
    longrepr: str = ""  # the whole failure text
    violated: str | None = None  # the invariant an oracle.fail() named, if any
    evidence: list[Evidence] = field(default_factory=list)
    duration: float = 0.0
    tolerated: str | None = None  # set by the gate: why a failure does not fail it
    checks: dict[str, Tally] = field(default_factory=dict)  # what the test actually checked
    routes: list[str] = field(default_factory=list)  # documented routes it sent requests to

    @property
    def failed(self) -> bool:
        return self.outcome in ("failed", "error")

    def failed_invariants(self) -> list[str]:
        """The invariants this failure counts against.

        A failure that names one of the test's invariants (``oracle.fail``) counts against that
        one only; the test stopped there, so its other invariants are not concluded by it. Any
        other failure (a crash, a timeout, a plain assert) counts against all of them.
        """
        if not self.failed:
            return []
        return [self.violated] if self.violated else list(self.invariants)


@dataclass
class Failure:
    """Why an invariant failed: the test, its message, the exchanges and how to reproduce it."""

    test: str
    message: str
    evidence: list[Evidence]
    reproduce: str


@dataclass
class InvariantResult:
    id: str
    area: str
    level: str
    quote: str
    routes: list[str]
    rationale: str | None = None  # for a derived invariant: why it follows from the quote
    status: str = NOT_VERIFIED
    tests: list[str] = field(default_factory=list)  # the tests meant to check it (markers)
    checks: int = 0  # checks of it that actually ran to a pass
    # route -> tests whose check of it ran to a pass and sent requests to that route
    route_checks: dict[str, int] = field(default_factory=dict)
    # route -> the sentence its cell comes from, for a route not governed by quote
    route_sources: dict[str, str] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)  # why it was not verified, and how to
    notes: list[str] = field(default_factory=list)  # figures its checks reported
    failures: list[Failure] = field(default_factory=list)
    waiver: dict[str, str] | None = None
    baseline: str | None = None  # status in the baseline report
    change: str | None = None  # regression | progress | known-failure | new-failure | lost

    @property
    def unchecked_routes(self) -> list[str]:
        """Routes the catalog says it governs that no executed check of it reached."""
        return [route for route in self.routes if route not in self.route_checks]

    def source_of(self, route: str) -> str:
        """The protocol or profile sentence the (invariant, route) cell comes from."""
        return self.route_sources.get(route, self.quote)


@dataclass
class RunInfo:
    """Facts about the run that a certificate must state."""

    target_url: str
    embedded_engine: bool
    engine_faults: list[str]
    engine_variants: list[str]
    openapi: dict[str, Any]  # version, info_version, sha256, size (when it was fetched)
    harness_version: str
    protocol_version: str
    profile: dict[str, Any]
    seeds: dict[str, Any]
    run_prefix: str
    started_at: str
    finished_at: str
    duration_s: float
    requests_sent: int
    request_budget: int | None
    rate_limit: float | None
    workers: int
    command: str


@dataclass
class Gate:
    """The CI decision: pass or fail, and every reason for it."""

    passed: bool = True
    problems: list[str] = field(default_factory=list)
    waived: list[str] = field(default_factory=list)
    expired_waivers: list[str] = field(default_factory=list)
    stale_waivers: list[str] = field(default_factory=list)
    regressions: list[str] = field(default_factory=list)
    progress: list[str] = field(default_factory=list)
    known_failures: list[str] = field(default_factory=list)
    new_failures: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    advisories: list[str] = field(default_factory=list)  # advisory findings, not gating
    baseline: str | None = None
    waivers_file: str | None = None

    def fail(self, problem: str) -> None:
        self.passed = False
        self.problems.append(problem)


@dataclass
class Verdict:
    certified: bool  # every invariant passed in a complete run under the certify profile
    label: str
    reasons: list[str]
    conformant: bool = False  # every invariant passed (under any profile)


@dataclass
class Result:
    """Everything one run produced, ready to render."""

    run: RunInfo
    invariants: list[InvariantResult]
    tests: list[TestRecord]
    unattributed: list[TestRecord]  # failures that name no invariant (crashes, collection)
    gate: Gate
    verdict: Verdict
    exit_status: int
    notes: list[str] = field(default_factory=list)
    coverage: Any = None  # fuzz-coverage.json, when the fuzz suite wrote one

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATUSES, 0)
        for inv in self.invariants:
            counts[inv.status] += 1
        return counts
