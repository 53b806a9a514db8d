"""The fuzzing coverage table: cases sent, succeeded, rejected and throttled per route-method
combination, and what the checks of each combination concluded (``Evidence``).

Each fuzz test item attaches its combination's row to its report (``user_properties``, which
pytest-xdist carries from the workers to the controller). ``CoverageReport``, registered by the
plugin on the controller (or the single process), adds them up, prints the table in the terminal
summary and hands its data to the report plugin, which writes ``fuzz-coverage.json`` into the
run's report folder. No schemathesis import here: the plugin loads this module in every
session.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import pytest

from seecodes_conformance.contract import ROUTE_KEYS
from seecodes_conformance.redaction import REGISTRY

COMBINATIONS = ROUTE_KEYS
TELEMETRY = "POST /v1/jira/telemetry/events"
NOT_IMPLEMENTED = 501
USER_PROPERTY = "seecodes_fuzz"
PLUGIN_NAME = "seecodes-fuzz-coverage"
REDACT_PLUGIN_NAME = "seecodes-fuzz-redact"


@dataclass
class Row:
    """What one combination saw.

    A success is a positive case answered as documented (2xx; the disabled telemetry route's
    documented answer is a 4xx, or 501: see ``disabled_answer``). A rejection is a 4xx answer to
    a case that had to be refused: schema-violating data, missing or wrong credentials, a wrong
    method (on the telemetry route a 501 refuses too). A throttled answer (429, or 503 with
    Retry-After) is none of these: the target asked to be asked again later, so it is counted
    apart and no check judges it.
    """

    sent: int = 0
    succeeded: int = 0
    rejected: int = 0
    positive_refused: int = 0  # first-party cases answered 4xx (allowed; shown for the reader)
    bad_accepted: int = 0  # cases that had to be refused but were answered 2xx
    server_errors: int = 0
    other: int = 0  # 1xx/3xx, and 2xx to a lenient case
    throttled: int = 0  # 429, or 503 with Retry-After: neither a success nor a rejection

    def add(self, other: Row) -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)


def disabled_answer(combination: str, status: int) -> bool:
    """Whether ``status`` is how the disabled telemetry route says it takes nothing.

    The protocol documents an "authenticated-ingestion deprecation error", not a status: any 4xx
    is one, and so is 501 Not Implemented. This is the one route where a 5xx is an answer; a
    501 anywhere else, and any other 5xx here, is still a server error.
    """
    return combination == TELEMETRY and (400 <= status < 500 or status == NOT_IMPLEMENTED)


def record(row: Row, combination: str, kind: str, status: int, *, throttled: bool = False) -> None:
    """Count one answer (``throttled``: it was 429, or 503 with Retry-After).

    ``kind``:

    - positive: a first-party-shaped request with live credentials;
    - junk: valid only by the target's own (open) schema; a 2xx is a success, a 4xx is fine;
    - negative, wrong-method, probe (wrong credentials): must be refused;
    - lenient: malformed in a way the protocol does not require a target to refuse (a bogus
      Content-Type on a GET): a 4xx still counts as a rejection, a 2xx is not held against it.

    A throttled answer only counts as throttled, whatever the case was: a 429 is no rejection.
    """
    row.sent += 1
    if throttled:
        row.throttled += 1
        return
    disabled = disabled_answer(combination, status)
    if status >= 500 and not disabled:
        row.server_errors += 1
    elif 200 <= status < 300:
        if kind in ("positive", "junk"):
            row.succeeded += 1
        elif kind == "lenient":
            row.other += 1
        else:
            row.bad_accepted += 1
    elif 400 <= status < 500 or disabled:
        if kind in ("positive", "junk") and disabled:
            row.succeeded += 1  # the disabled route's documented answer
        elif kind == "positive":
            row.positive_refused += 1
        elif kind == "junk":
            row.other += 1
        else:
            row.rejected += 1
    else:
        row.other += 1


def tolerated(row: Row) -> None:
    """A negative case answered 2xx that the check let through (the violation does not survive
    serialisation, e.g. a query value generated as an array): not held against the target."""
    row.bad_accepted -= 1
    row.other += 1


def no_success_problem(row: Row) -> str:
    return (
        f"no positive case succeeded ({row.positive_refused} answered 4xx, "
        f"{row.server_errors} answered 5xx, {row.throttled} throttled, {row.sent} cases in all)"
    )


def no_rejection_problem(row: Row) -> str:
    return (
        f"no case that had to be refused was rejected with a 4xx ({row.bad_accepted} "
        f"were accepted, {row.throttled} throttled)"
    )


def coverage_problems(row: Row) -> list[str]:
    """Why a combination's coverage is not enough (empty when it saw a success and a rejection)."""
    problems = []
    if row.succeeded == 0:
        problems.append(no_success_problem(row))
    if row.rejected == 0:
        problems.append(no_rejection_problem(row))
    return problems


@dataclass
class Evidence:
    """What the checks of one combination concluded, by invariant id.

    The fuzz verdict turns it into the test's check log (``outcomes.LOG``): ``passes`` are checks
    that ran on an answer and held (no 5xx, the documented shape, ok: true, a rotated key, the
    documented media type); ``rejections`` are wrong-credential probes answered 4xx and
    ``controls`` the accepted request those probes repeated (the rightful caller's success, so
    a rejection proves something); ``throttled`` counts probes answered 429 or 503 with
    Retry-After, which prove nothing either way.
    """

    passes: Counter[str] = field(default_factory=Counter)
    rejections: Counter[str] = field(default_factory=Counter)
    controls: Counter[str] = field(default_factory=Counter)
    throttled: Counter[str] = field(default_factory=Counter)


def table(rows: Mapping[str, Row], missing: Iterable[str] = ()) -> list[str]:
    """The coverage table as text lines, one per combination in protocol order."""
    absent = set(missing)
    head = (
        f"{'combination':46} {'sent':>5} {'ok':>4} {'rejected':>8} "
        f"{'pos-4xx':>7} {'bad-2xx':>7} {'5xx':>4} {'throttled':>9}"
    )
    lines = [head, "-" * len(head)]
    for combination in COMBINATIONS:
        row = rows.get(combination)
        if row is None:
            lines.append(f"{combination:46}  (not run)")
            continue
        note = ""
        if combination in absent:
            note = "  not in the target's /openapi.json"
        elif coverage_problems(row):
            note = "  <- incomplete"
        lines.append(
            f"{combination:46} {row.sent:5} {row.succeeded:4} {row.rejected:8} "
            f"{row.positive_refused:7} {row.bad_accepted:7} {row.server_errors:4} "
            f"{row.throttled:9}{note}"
        )
    return lines


LEGEND = (
    "ok: positive cases answered as documented; rejected: cases that had to be refused "
    "(bad data, missing or wrong credentials, wrong method) answered 4xx",
    "pos-4xx: first-party cases refused (allowed); bad-2xx: cases that had to be refused but "
    "were accepted; 5xx: server errors",
    "throttled: answers 429, or 503 with Retry-After (the target asked to be asked again "
    "later): neither a success nor a rejection, judged by no check; a check that only "
    "throttled answers could have made is reported not verified",
)


def report_property(
    combination: str, row: Row, *, seed: int, missing: bool, extra: Iterable[str]
) -> tuple[str, str]:
    """The ``user_properties`` entry one fuzz test item attaches to its report."""
    data = {
        "combination": combination,
        "row": asdict(row),
        "seed": seed,
        "missing": missing,
        "extra": sorted(extra),
    }
    return USER_PROPERTY, json.dumps(data)


class CoverageReport:
    """Adds up the rows of every fuzz test report and prints the table.

    The report plugin asks for ``data()`` when it writes the run's folder, so the file lands
    straight in the run's report folder beside the certification it belongs to.
    """

    def __init__(self) -> None:
        self.rows: dict[str, Row] = {}
        self.missing: set[str] = set()
        self.extra: set[str] = set()
        self.seeds: set[int] = set()
        self._seen: set[str] = set()

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for name, value in getattr(report, "user_properties", ()):
            if name != USER_PROPERTY or report.nodeid in self._seen:
                continue
            self._seen.add(report.nodeid)  # subtest reports repeat the item's properties
            data = json.loads(value)
            self.rows.setdefault(data["combination"], Row()).add(Row(**data["row"]))
            if data.get("missing"):
                self.missing.add(data["combination"])
            self.extra.update(data.get("extra", ()))
            self.seeds.add(int(data["seed"]))

    @pytest.hookimpl
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.rows:
            return
        write = terminalreporter.write_line
        terminalreporter.section("schema fuzzing: cases per route-method combination")
        for line in table(self.rows, self.missing):
            write(line)
        for line in LEGEND:
            write(line)
        if self.extra:
            write(
                "operations outside the protocol (allowed, not fuzzed): "
                + ", ".join(sorted(self.extra))
            )
        write("fuzz seed: " + ", ".join(str(s) for s in sorted(self.seeds)))

    def data(self) -> dict[str, Any] | None:
        """The content of ``fuzz-coverage.json``; None when no fuzz test ran."""
        if not self.rows:
            return None
        return {
            "seeds": sorted(self.seeds),
            "combinations": {
                c: {**asdict(self.rows[c]), "documented": c not in self.missing}
                for c in COMBINATIONS
                if c in self.rows
            },
            "extra_operations": sorted(self.extra),
        }


class RedactRewrittenReports:
    """Schemathesis' pytest plugin rewrites a failing report's ``longrepr`` in
    ``pytest_exception_interact``, after the harness's ``pytest_runtest_makereport`` redacted it,
    and its text shows response bodies (a bootstrap's request key, an exchange's permit). The
    terminal summary prints that rewritten text, so it goes through the registry once more."""

    @pytest.hookimpl(trylast=True)
    def pytest_exception_interact(self, node: Any, call: Any, report: pytest.TestReport) -> None:
        if report.longrepr is None:
            return
        text = str(report.longrepr)
        redacted = REGISTRY.redact(text)
        if redacted != text:
            report.longrepr = redacted


def install(config: pytest.Config, *, is_worker: bool) -> CoverageReport | None:
    """Register the plugins; the table is added up on the controller (or the only process)
    and returned there, while workers just send their rows."""
    if not config.pluginmanager.has_plugin(REDACT_PLUGIN_NAME):
        config.pluginmanager.register(RedactRewrittenReports(), REDACT_PLUGIN_NAME)
    if is_worker:
        return None
    report = CoverageReport()
    config.pluginmanager.register(report, PLUGIN_NAME)
    return report
