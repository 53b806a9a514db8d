"""How much of the engine's security code would the suites notice if it were wrong?

An independent measure of the suites, next to the hand-written faults of
``fixtures/reference_engine/faults.py``: cosmic-ray (the ``mutation`` extra) generates every
mutant of the engine's security modules (request keys, launch codes, permits, Forge
verification, credential formats, the tenant-scoped task routes), and each mutant is run
against the suites that claim to check that module. A mutant the suites fail on is *killed*; one
they pass on *survived*: either the suites miss a check there, or the mutant is equivalent (it
changes nothing the protocol says). The survivors are printed with file:line and the changed
line, so a developer can judge which it is and write the missing check.

Why not ``cosmic-ray exec``: it mutates the file in place and runs one mutant at a time. Here
every job mutates its own copy of the engine package, put first on the test command's
``PYTHONPATH`` (ahead of the editable install's finder), so the worktree is never changed and
``--jobs`` can run mutants side by side. Cosmic-ray still decides the mutants (its operators and
occurrences) and records them in one session database per module, readable with
``cr-report SESSION.sqlite``. A timed-out test run also kills the engine it started (the engine
runs in its own session; it is found by a marker in its environment).

Not a timed test: ``pip install -e '.[dev,mutation]'`` then
``python benchmarks/mutation.py [--modules request_keys.py] [--max-mutants 20] [--jobs 2]``.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import dataclasses
import difflib
import os
import queue
import random
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_TEST_COMMAND",
    "MODULE_INVARIANTS",
    "MODULE_LEVEL",
    "MODULE_SETTINGS",
    "NOT_RUN",
    "OUTCOMES",
    "SECURITY_MODULES",
    "SWITCH_CALLS",
    "EngineCopy",
    "Equivalent",
    "ExtraRun",
    "ModuleSettings",
    "ModuleTally",
    "MutantResult",
    "SourceFacts",
    "Span",
    "classify",
    "estimate",
    "executed_lines",
    "format_report",
    "load_equivalents",
    "main",
    "match_equivalents",
    "misnamed_functions",
    "order_items",
    "parse_equivalents",
    "resolve_modules",
    "run_test_command",
    "run_test_commands",
    "source_facts",
    "tally",
]

REPO = Path(__file__).resolve().parents[1]
ENGINE_SOURCE = REPO / "fixtures" / "reference_engine"
ENGINE_PACKAGE = "seecodes_reference_engine"  # the name the harness starts: python -m ...
SLOT_MARKER = "SEECODES_MUTATION_SLOT"  # in the environment of every process a test run starts

# module of the engine -> the suites that claim to check it (the test command's {suites})
SECURITY_MODULES: dict[str, tuple[str, ...]] = {
    "request_keys.py": ("suites/test_request_keys.py",),
    "launch.py": ("suites/test_launch_codes.py", "suites/test_launcher.py"),
    # LC-NOT-PERMIT: a launch code presented as a permit is refused by permits.verify
    "permits.py": ("suites/test_permits.py", "suites/test_launch_codes.py"),
    # FORGE-REQUIRED and PERMIT-NOT-FORGE are checked on every Jira-App route there
    "forge_auth.py": ("suites/test_forge_tokens.py", "suites/test_request_keys.py"),
    "tokens.py": (
        "suites/test_request_keys.py",
        "suites/test_launch_codes.py",
        "suites/test_permits.py",
    ),
    # tenancy: the task routes key progress, context and runs by tenant; the same module
    # carries the run lifecycle, progress, context and snapshots those suites check
    "routes_tasks.py": (
        "suites/test_tenancy.py",
        "suites/test_permits.py",
        "suites/test_runs.py",
        "suites/test_data.py",
        "suites/test_surface.py",
    ),
}

# module -> the invariants (contract/invariants.yaml) whose tests run against its mutants, in the
# order they run: the cheap checks that exercise most of the module first (a killed mutant stops
# at its first failure), the checks that wait for a credential to expire last. Tests of other
# invariants in the same suites cannot see the module and would only cost time.
MODULE_INVARIANTS: dict[str, tuple[str, ...]] = {
    "request_keys.py": (
        "RK-BOOTSTRAP", "RK-ROTATION", "RK-REPLAY", "RK-NO-NEXT-ON-REJECT", "RK-REQUIRED",
        "RK-TENANT-BINDING", "RK-SESSION-BINDING", "RK-RACE", "RK-EXPIRY",
    ),
    # the credential formats and the shape check every presented credential passes first
    "tokens.py": (
        "RK-BOOTSTRAP", "LC-EXCHANGE", "PERMIT-MINT", "RK-REQUIRED", "PERMIT-REQUIRED",
        "LC-MATCH", "LC-MINT",
    ),
    "launch.py": (
        "LC-MINT", "LC-EXCHANGE", "LC-MATCH", "LC-REPLAY", "LC-URL-BINDING",
        "LC-NO-PERMIT-IN-LINK", "LC-NOT-PERMIT", "LC-LIFETIME-MAX", "LAUNCHER-PAGE",
        "LAUNCHER-PARAMS", "LAUNCHER-ESCAPE", "LC-RACE", "LC-EXPIRY",
    ),
    "permits.py": (
        "PERMIT-MINT", "PERMIT-REQUIRED", "FORGE-NOT-PERMIT", "PERMIT-BINDING-CONTEXT",
        "PERMIT-BINDING-PROGRESS", "PERMIT-BINDING-PROGRESS-READ", "PERMIT-BINDING-RUN",
        "PERMIT-BINDING-SNAPSHOT", "PERMIT-BINDING-INDEX", "BODY-NO-REDIRECT", "LC-NOT-PERMIT",
        "PERMIT-LIFETIME",
    ),
    "forge_auth.py": (
        "FORGE-SIGNATURE", "FORGE-ALG-NONE", "FORGE-AUDIENCE", "FORGE-ISSUER",
        "FORGE-UNKNOWN-KID", "FORGE-EXPIRY", "FORGE-NOT-BEFORE", "FORGE-PROVISION",
        "INSTANCE-STATE", "FORGE-REQUIRED", "PERMIT-NOT-FORGE", "NO-SERVER-ERROR",
    ),
    "routes_tasks.py": (
        "RUN-INIT", "RUN-START", "RUN-STATUS", "RUN-ARTIFACTS", "PROGRESS-ROUNDTRIP",
        "CONTEXT-NOT-FOUND", "SNAPSHOT-STORED", "TENANT-ISOLATION", "PERMIT-BINDING-CONTEXT",
        "PERMIT-BINDING-PROGRESS", "PERMIT-BINDING-PROGRESS-READ", "PERMIT-BINDING-RUN",
        "PERMIT-BINDING-SNAPSHOT", "PERMIT-BINDING-INDEX", "BODY-NO-REDIRECT", "PERMIT-REQUIRED",
        "NO-SERVER-ERROR", "SHAPE-CONFORMANCE", "TEAM-COMPETITION", "RUN-MONOTONIC",
    ),
}  # fmt: skip


Env = tuple[tuple[str, str], ...]  # variables added to a test run's environment


@dataclass(frozen=True)
class ExtraRun:
    """One more run of a module's test command, after the first passed: only ``invariants``
    selected, ``args`` appended, ``env`` added to its environment (the bundled engine the
    harness starts inherits it). For a check that needs the engine started otherwise than the
    other checks can bear: short permits expire under the permits other tests hold, production
    lifetimes leave the expiry checks to a later run."""

    invariants: tuple[str, ...]
    args: tuple[str, ...] = ()
    env: Env = ()

    def describe(self) -> str:
        return " ".join(
            [*(f"{name}={value}" for name, value in self.env), *self.args]
            + [f"--invariant {i}" for i in self.invariants]
        )


@dataclass(frozen=True)
class ModuleSettings:
    """How a module's test runs differ from the default, and why: ``extra`` runs after the
    first; a mutant is killed when any of them fails."""

    why: str
    extra: tuple[ExtraRun, ...] = ()

    def describe(self) -> str:
        return "; ".join(f"then {run.describe()}" for run in self.extra)


# module -> its test runs' settings (see ModuleSettings). The suites' bundled engine mints
# 24-hour permits and caps launch codes at 8 s, so without these some checks of a module's
# code never run within a run, and its mutants there would survive unseen.
MODULE_SETTINGS: dict[str, ModuleSettings] = {
    "permits.py": ModuleSettings(
        "a second run of PERMIT-LIFETIME alone with 4-second permits, so its expiry check runs"
        " within the run (a 24-hour permit is only kept for a later run: not verified); alone,"
        " since the permits other checks mint early (runs settling side by side) would expire",
        extra=(ExtraRun(("PERMIT-LIFETIME",), env=(("SEECODES_ENGINE_PERMIT_TTL", "4"),)),),
    ),
    "launch.py": ModuleSettings(
        "the suites' 8 s launch-code lifetime caps every expirationDays clamp, so a wrong bound"
        " (MIN_DAYS, MAX_DAYS) shows only with production lifetimes, which leave LC-EXPIRY to a"
        " later run: a second run of LC-LIFETIME-MAX alone",
        extra=(ExtraRun(("LC-LIFETIME-MAX",), ("--engine-variant", "production-lifetimes")),),
    ),
}

# Stop at the first failure (a killed mutant needs one), fixed order, the smallest budgets,
# no report folders. Run in the repository root, against the bundled engine. {select}: the
# module's --invariant options and this file as a plugin that runs them in MODULE_INVARIANTS order.
DEFAULT_TEST_COMMAND = (
    "{python} -m pytest {suites} {select} -x -q -p no:randomly --profile smoke --report-dir none"
)

OUTCOMES = ("killed", "survived", "timeout", "incompetent")
# Not run, and out of the score: a listed equivalent (benchmarks/mutation_equivalents/) and a
# mutant in switched code (see SWITCH_CALLS).
NOT_RUN = ("equivalent", "switched")
EQUIVALENTS_DIR = REPO / "benchmarks" / "mutation_equivalents"
ORDER_OPTION = "--mutation-order"  # added to pytest by this file loaded as a plugin
RECORD_OPTION = "--mutation-record-passed"  # the unmutated run writes its passed tests here
MUST_PASS_OPTION = "--mutation-must-pass"  # a mutant run fails if one of these is not verified
LOST_MARKER = "mutation benchmark: verdict lost"
# "not verified" kinds that say something about the machine or the network, not the engine: a
# test that passed unmutated and ends so under a mutant proves nothing about the mutant.
ENVIRONMENT_KINDS = frozenset(
    {"throttled", "refused", "unsynchronized", "timeout", "setup", "stopped"}
)
TRACE_FILE = "SEECODES_MUTATION_TRACE"  # where the traced clean run appends executed lines

# The engine's fault and variant switches (config.fault("name"), config.variant("name")): the
# runs start the clean engine, so code that only a switch turns on never runs there: a mutant in
# it is equivalent for every run, and is counted apart (not run). A mutant of the switch
# condition itself is kept: it turns the fault on in the clean engine.
SWITCH_CALLS = frozenset({"fault", "variant"})


@dataclass(frozen=True)
class MutantResult:
    """One mutant and what the test command made of it."""

    module: str  # file name inside the engine package
    line: int
    operator: str  # cosmic-ray operator name
    outcome: str  # one of OUTCOMES
    removed: str = ""  # the original line(s), as the unified diff shows them
    added: str = ""  # the mutated line(s)
    detail: str = ""  # incompetent: why; equivalent: the listed reason; unexecuted survivor
    switched: bool = False  # in code that changes nothing while every switch is off
    unexecuted: bool = False  # survived without a run: the clean run never executes its line
    lost_verdict: bool = False  # killed: a test that passed unmutated ended "not verified"


@dataclass
class ModuleTally:
    """Counts of one module's campaign; ``planned`` is every mutant cosmic-ray found."""

    module: str
    planned: int  # every mutant that can change behaviour (annotation mutants left out)
    equivalent: int = 0  # mutants inside annotations: never evaluated, so never run
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES + NOT_RUN, 0))
    unexecuted: int = 0  # of the survivors: not run, the clean run never executes their line

    @property
    def run(self) -> int:
        """Mutants accounted for (run, or classified without a run)."""
        return sum(self.counts.values())

    @property
    def score(self) -> float | None:
        """Killed (timeouts included) over killed + timeout + survived: listed equivalents and
        switched mutants are out of it; None when no mutant was judged."""
        judged = self.counts["killed"] + self.counts["timeout"] + self.counts["survived"]
        if judged == 0:
            return None
        return (self.counts["killed"] + self.counts["timeout"]) / judged

    @property
    def raw_score(self) -> float | None:
        """Killed (timeouts included) over every mutant but the incompetent: what the score
        would be if listed equivalents and switched mutants were counted as the survivors
        they are."""
        judged = self.run - self.counts["incompetent"]
        if judged == 0:
            return None
        return (self.counts["killed"] + self.counts["timeout"]) / judged


def tally(
    module: str, planned: int, results: Sequence[MutantResult], equivalent: int = 0
) -> ModuleTally:
    counted = ModuleTally(module, planned, equivalent)
    for result in results:
        counted.counts[result.outcome] += 1
        counted.unexecuted += result.unexecuted and result.outcome == "survived"
    return counted


def resolve_modules(names: Sequence[str]) -> list[Path]:
    """Engine modules by file name (``request_keys`` or ``request_keys.py``); unknown names stop."""
    paths = []
    for name in names:
        file_name = name if name.endswith(".py") else name + ".py"
        path = ENGINE_SOURCE / file_name
        if not path.is_file():
            raise SystemExit(f"no engine module {file_name!r} in {ENGINE_SOURCE}")
        paths.append(path)
    return paths


def _lines_compact(lines: Sequence[int]) -> str:
    """``[3, 4, 5, 9, 9]`` -> ``3-5, 9 (x2)``: where the mutants are, in one short line."""
    counts: dict[int, int] = {}
    for line in sorted(lines):
        counts[line] = counts.get(line, 0) + 1
    parts: list[str] = []
    run: list[int] = []
    for line in counts:
        if run and line == run[-1] + 1 and counts[line] == 1 and counts[run[-1]] == 1:
            run.append(line)
            continue
        if run:
            parts.append(_span_text(run, counts))
        run = [line]
    if run:
        parts.append(_span_text(run, counts))
    return ", ".join(parts)


def _span_text(run: list[int], counts: dict[int, int]) -> str:
    if len(run) > 1:
        return f"{run[0]}-{run[-1]}"
    return f"{run[0]}" + (f" (x{counts[run[0]]})" if counts[run[0]] > 1 else "")


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def _mutant_lines(result: MutantResult, where: Path, label: str = "") -> list[str]:
    """One mutant as the report lists it: where, operator, then the changed lines as a diff."""
    return [
        f"  {where}/{result.module}:{result.line}  {result.operator}{label}",
        *(f"      - {text}" for text in result.removed.splitlines()),
        *(f"      + {text}" for text in result.added.splitlines()),
    ]


def format_report(
    tallies: Sequence[ModuleTally],
    results: Sequence[MutantResult],
    stale: Sequence[Equivalent] = (),
    equivalents_ran: bool = False,
    misnamed: Sequence[Equivalent] = (),
) -> str:
    """The table per module, then every survivor with file:line, operator and changed line,
    the listed equivalents with their reasons, the switched mutants in compact form and the
    stale entries of the equivalents lists."""
    header = ("module", "mutants", *OUTCOMES, *NOT_RUN, "score", "raw")
    rows: list[tuple[str, ...]] = [header]
    for counted in tallies:
        sampled = f"{counted.run}" + (
            "" if counted.run == counted.planned else f"/{counted.planned}"
        )
        rows.append(
            (
                counted.module,
                sampled,
                *(str(counted.counts[o]) for o in OUTCOMES + NOT_RUN),
                _percent(counted.score),
                _percent(counted.raw_score),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if any(c.run != c.planned for c in tallies):
        lines.append("mutants: run/found (a sample; --max-mutants 0 runs all)")
    lines.append(
        "score: (killed + timeout) / (killed + timeout + survived); equivalent and switched"
        " are out of it"
    )
    lines.append("raw: (killed + timeout) / every mutant but the incompetent")
    lines.append(
        "switched: in code only a fault or variant switch turns on; the suites run the clean"
        " engine, so they are equivalent there and not run"
    )
    lines.append(
        "equivalent: listed in benchmarks/mutation_equivalents/MODULE.toml with a reason; "
        + (
            "run anyway (--run-equivalents): a listed mutant that is killed is reported"
            if equivalents_ran
            else "not run (--run-equivalents runs them)"
        )
    )
    lines.extend(
        f"{c.module}: {c.unexecuted} of the survivors not run: the clean run never executes"
        " their line (measured by tracing the unmutated run)"
        for c in tallies
        if c.unexecuted
    )
    lines.extend(
        f"{c.module}: {c.equivalent} more mutants inside annotations, not run (never evaluated:"
        " from __future__ import annotations)"
        for c in tallies
        if c.equivalent
    )
    where = ENGINE_SOURCE.relative_to(REPO)
    survivors = [r for r in results if r.outcome == "survived"]
    lines.append("")
    lines.append(f"surviving mutants: {len(survivors)}")
    for result in sorted(survivors, key=lambda r: (r.module, r.line, r.operator)):
        label = "  (not run: the clean run never executes this line)" if result.unexecuted else ""
        lines.extend(_mutant_lines(result, where, label))
    listed_killed = [r for r in results if r.outcome in ("killed", "timeout") and r.detail]
    if listed_killed:
        lines.append("")
        lines.append(f"listed as equivalent, yet killed (remove the entry): {len(listed_killed)}")
        for result in sorted(listed_killed, key=lambda r: (r.module, r.line, r.operator)):
            lines.extend(_mutant_lines(result, where))
    lost = [r for r in results if r.lost_verdict]
    if lost:
        lines.append("")
        lines.append(
            f"killed by a lost verdict (a test that passed unmutated ended not verified, for a"
            f" reason about the engine): {len(lost)}"
        )
        lines.extend(
            f"  {where}/{r.module}:{r.line}  {r.operator}"
            for r in sorted(lost, key=lambda r: (r.module, r.line, r.operator))
        )
    equivalent = [r for r in results if r.outcome == "equivalent"]
    if equivalent:
        lines.append("")
        lines.append(f"equivalent mutants (listed, with their reason): {len(equivalent)}")
        for result in sorted(equivalent, key=lambda r: (r.module, r.line, r.operator)):
            lines.extend(_mutant_lines(result, where))
            lines.append(f"      why: {result.detail}")
    switched: dict[str, list[int]] = {}
    for result in results:
        if result.outcome == "switched":
            switched.setdefault(result.module, []).append(result.line)
    if switched:
        lines.append("")
        lines.append(f"switched mutants (not run): {sum(map(len, switched.values()))}")
        lines.extend(
            f"  {module}: {len(found)} at lines {_lines_compact(found)}"
            for module, found in sorted(switched.items())
        )
    for entries, title in (
        (stale, "stale equivalents (match no mutant any more: remove or fix)"),
        (misnamed, "equivalents naming no function of the module (renamed or misspelt: fix)"),
    ):
        if not entries:
            continue
        lines.append("")
        lines.append(f"{title}: {len(entries)}")
        for entry in entries:
            lines.append(f"  {entry.where()}")
            lines.append(f"      - {entry.removed}")
            lines.append(f"      + {entry.added}")
    incompetent = [r for r in results if r.outcome == "incompetent"]
    if incompetent:
        lines.append(f"incompetent (the test command could not judge them): {len(incompetent)}")
        lines.extend(f"  {r.module}:{r.line}  {r.operator}: {r.detail}" for r in incompetent)
    return "\n".join(lines)


@dataclass(frozen=True)
class Equivalent:
    """One entry of ``benchmarks/mutation_equivalents/<module stem>.toml``: a mutant the
    protocol cannot see, matched by operator and changed lines (not by line number: lines
    drift), whitespace stripped. ``function`` narrows the match to mutants inside one function
    (``name``, ``Class.method`` or ``<module>``): a line of unreachable code can read exactly
    like a live line elsewhere in the module, and an entry without it would hide both."""

    operator: str
    removed: str
    added: str
    reason: str
    source: str = ""  # file name, for the stale report
    function: str = ""  # the enclosing function; "" matches wherever the lines are

    def key(self) -> tuple[str, str, str]:
        return _match_key(self.operator, self.removed, self.added)

    def where(self) -> str:
        """How the report names the entry: its file, operator and, if any, its function."""
        return f"{self.source}  {self.operator}" + (
            f"  in {self.function}" if self.function else ""
        )


MODULE_LEVEL = "<module>"  # the function of a mutant outside every def
_FUNCTION_NAME = re.compile(r"<module>|[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


def _match_key(operator: str, removed: str, added: str) -> tuple[str, str, str]:
    def norm(text: str) -> str:
        return "\n".join(line.strip() for line in text.strip().splitlines())

    return operator.strip(), norm(removed), norm(added)


def parse_equivalents(text: str, source: str = "") -> list[Equivalent]:
    """The entries of one equivalents file; a malformed entry stops the benchmark (a list that
    is read wrong would hide survivors)."""
    import tomllib

    data = tomllib.loads(text)
    unknown = set(data) - {"equivalent"}
    if unknown:
        raise SystemExit(f"{source}: unknown tables {sorted(unknown)} (only [[equivalent]])")
    entries = []
    for index, entry in enumerate(data.get("equivalent", []), start=1):
        fields = ("operator", "removed", "added", "reason")
        keys = set(entry) - {"function"}
        if keys != set(fields) or not all(isinstance(v, str) for v in entry.values()):
            raise SystemExit(
                f"{source}: entry {index} needs exactly the string keys {', '.join(fields)}"
                " (and optionally function)"
            )
        if not entry["reason"].strip():
            raise SystemExit(f"{source}: entry {index} has no reason")
        function = entry.get("function", "").strip()
        if "function" in entry and not _FUNCTION_NAME.fullmatch(function):
            raise SystemExit(
                f"{source}: entry {index}: function {entry['function']!r} is not a name,"
                f" Class.method or {MODULE_LEVEL}"
            )
        entries.append(
            Equivalent(
                entry["operator"], entry["removed"], entry["added"], entry["reason"], source,
                function,
            )
        )  # fmt: skip
    return entries


def load_equivalents(module: str, directory: Path = EQUIVALENTS_DIR) -> list[Equivalent]:
    """The listed equivalents of engine module ``module`` (``request_keys.py``); none if the
    file does not exist."""
    path = directory / (Path(module).stem + ".toml")
    if not path.is_file():
        return []
    return parse_equivalents(path.read_text(encoding="utf-8"), str(path.relative_to(REPO)))


def match_equivalents(
    mutants: Sequence[tuple[str, str, str]],
    entries: Sequence[Equivalent],
    functions: Sequence[str] | None = None,
) -> tuple[list[Equivalent | None], list[Equivalent]]:
    """For each (operator, removed, added), inside ``functions[i]`` (its enclosing function):
    its entry or None; then the stale entries, which match no mutant. An entry that names the
    mutant's function wins over one that names none; an entry naming a function matches
    nothing when the functions are not given."""
    anywhere = {entry.key(): entry for entry in entries if not entry.function}
    inside = {(entry.key(), entry.function): entry for entry in entries if entry.function}
    matched: list[Equivalent | None] = []
    for index, mutant in enumerate(mutants):
        key = _match_key(*mutant)
        function = functions[index] if functions is not None else None
        matched.append(inside.get((key, function or "")) or anywhere.get(key))
    used = {id(entry) for entry in matched if entry is not None}
    return matched, [entry for entry in entries if id(entry) not in used]


def misnamed_functions(entries: Sequence[Equivalent], names: frozenset[str]) -> list[Equivalent]:
    """The entries whose function is none of the module's ``names`` (renamed, or misspelt):
    they can never match, and say so apart from the merely stale."""
    return [e for e in entries if e.function and e.function not in names | {MODULE_LEVEL}]


Span = tuple[tuple[int, int], tuple[int, int]]  # (line, column) start, exclusive end


def _span(node: ast.AST) -> Span:
    line, column = getattr(node, "lineno", 0), getattr(node, "col_offset", 0)
    return (line, column), (getattr(node, "end_lineno", None) or line,
                            getattr(node, "end_col_offset", None) or column)  # fmt: skip


@dataclass(frozen=True)
class SourceFacts:
    """What the source says about a mutant's position, read with ``ast`` (1-based lines)."""

    annotations: tuple[Span, ...]
    switched: tuple[Span, ...]  # code that changes nothing while every switch is off
    # every def (``name``, ``Class.method``, ``outer.inner``) and its span, outermost first
    functions: tuple[tuple[str, Span], ...] = ()

    def in_annotation(self, line: int, column: int) -> bool:
        return any(start <= (line, column) < end for start, end in self.annotations)

    def is_switched(self, line: int, column: int) -> bool:
        return any(start <= (line, column) < end for start, end in self.switched)

    def function_at(self, line: int, column: int) -> str:
        """The innermost function enclosing the position, or ``<module>``."""
        inside = [name for name, (start, end) in self.functions if start <= (line, column) < end]
        return inside[-1] if inside else MODULE_LEVEL

    def function_names(self) -> frozenset[str]:
        return frozenset(name for name, _ in self.functions)


def _functions(tree: ast.AST, prefix: str = "") -> list[tuple[str, Span]]:
    """Every def under ``tree`` by its dotted name (classes name their methods), outermost
    first, so the last one containing a position is the innermost."""
    found: list[tuple[str, Span]] = []
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            name = prefix + node.name
            if not isinstance(node, ast.ClassDef):
                found.append((name, _span(node)))
            found += _functions(node, name + ".")
        else:
            found += _functions(node, prefix)
    return found


def _is_switch_call(node: ast.AST, names: frozenset[str] = SWITCH_CALLS) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    return name in names


def _switch_turns_on(test: ast.expr, names: frozenset[str] = SWITCH_CALLS) -> bool:
    """``fault(...)``, ``x and fault(...)``, ``fault(a) or (x and fault(b))``: true only with a
    switch on."""
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):
        return any(_switch_turns_on(value, names) for value in test.values)
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.Or):
        return all(_switch_turns_on(value, names) for value in test.values)
    return _is_switch_call(test, names)


def _switch_helpers(tree: ast.Module) -> frozenset[str]:
    """Module functions whose whole body is ``return <switch>`` (``_in_memory(engine)``,
    ``_alt(config)``): a call of one is a switch too."""
    names = set(SWITCH_CALLS)
    for node in tree.body:
        if (
            isinstance(node, ast.FunctionDef)
            and len(node.body) == 1
            and isinstance(node.body[0], ast.Return)
            and node.body[0].value is not None
            and _switch_turns_on(node.body[0].value)
        ):
            names.add(node.name)
    return frozenset(names)


def source_facts(source: str) -> SourceFacts:
    """Annotation spans (only where ``from __future__ import annotations`` keeps them strings)
    and the switched code: the body of ``if fault(...)`` (or ``if x and fault(...)``, or ``if
    fault(a) or fault(b)``), the ``a`` of ``a if fault(...) else b``, and the other operands of
    ``x and fault(...)``, whose value is false with the switch off whatever ``x`` is. A module
    function that only returns a switch (``_alt(config)``) is a switch. A mutant of the switch
    call itself (``not fault(...)`` -> ``fault(...)``) is not switched:
    it changes the clean engine."""
    tree = ast.parse(source)
    postponed = any(
        isinstance(node, ast.ImportFrom)
        and node.module == "__future__"
        and any(alias.name == "annotations" for alias in node.names)
        for node in tree.body
    )
    annotations: list[ast.expr] = []
    switched: list[Span] = []
    names = _switch_helpers(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            arguments = node.args
            every = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
            every += [a for a in (arguments.vararg, arguments.kwarg) if a is not None]
            annotations += [a.annotation for a in every if a.annotation is not None]
            if node.returns is not None:
                annotations.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            annotations.append(node.annotation)
        elif (
            isinstance(node, ast.BoolOp)
            and isinstance(node.op, ast.And)
            and any(_switch_turns_on(value, names) for value in node.values)
        ):
            switched += [_span(v) for v in node.values if not _switch_turns_on(v, names)]
        if isinstance(node, ast.If) and _switch_turns_on(node.test, names):
            switched += [_span(statement) for statement in node.body]
        if isinstance(node, ast.IfExp) and _switch_turns_on(node.test, names):
            switched.append(_span(node.body))
    spans = tuple(_span(a) for a in annotations)
    return SourceFacts(spans if postponed else (), tuple(switched), tuple(_functions(tree)))


class EngineCopy:
    """A private copy of the engine package that test runs import instead of the worktree's.

    The editable install's finder comes after ``sys.path`` in ``sys.meta_path``, so a
    ``seecodes_reference_engine`` folder first on ``PYTHONPATH`` wins, in the harness and in the
    engine subprocess it starts (which inherits the environment).
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.package = root / ENGINE_PACKAGE
        shutil.copytree(
            ENGINE_SOURCE, self.package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
        (root / "sitecustomize.py").write_text(TRACER, encoding="utf-8")

    @contextlib.contextmanager
    def mutated(self, module: str, source: str) -> Iterator[Path]:
        """``module`` of the copy holds ``source`` for the duration of the block."""
        path = self.package / module
        original = path.read_text(encoding="utf-8")
        path.write_text(source, encoding="utf-8")
        try:
            yield path
        finally:
            path.write_text(original, encoding="utf-8")

    def environment(self, trace: tuple[Path, str] | None = None, extra: Env = ()) -> dict[str, str]:
        """``trace``: (file, module) makes every process of the run append the lines of
        ``module`` of this copy it executes to ``file`` (the sitecustomize TRACER); ``extra``:
        an extra run's variables (MODULE_SETTINGS), which the engine the run starts inherits."""
        env = dict(os.environ)
        env.update(extra)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(self.root), str(REPO / "benchmarks"), env.get("PYTHONPATH", "")) if p
        )
        env["PYTHONDONTWRITEBYTECODE"] = "1"  # a mutant never hides behind a stale .pyc
        env[SLOT_MARKER] = str(self.root)
        env.pop(TRACE_FILE, None)
        if trace is not None:
            env[TRACE_FILE] = f"{trace[0]}{os.pathsep}{self.package / trace[1]}"
        return env


# Written as sitecustomize.py next to the engine copy, so it runs first in every Python process
# of a test run (the harness and the engine it starts). Only with SEECODES_MUTATION_TRACE set:
# then it records which lines of one module execute, appending each new line number to a file
# at once (an engine stopped by a signal loses nothing). Used on the unmutated run only, to find
# mutants no test can reach; without coverage.py, which the project does not depend on.
TRACER = f"""import os, sys, threading

_setting = os.environ.get({TRACE_FILE!r}, "")
if _setting:
    _out, _, _target = _setting.partition(os.pathsep)
    _seen = set()

    def _line(frame, event, arg):
        if frame.f_lineno not in _seen:
            _seen.add(frame.f_lineno)
            with open(_out, "a", encoding="ascii") as handle:
                handle.write(f"{{frame.f_lineno}}\\n")
        return _line

    def _call(frame, event, arg):
        if frame.f_code.co_filename == _target:
            return _line(frame, event, arg)
        return None

    sys.settrace(_call)
    threading.settrace(_call)
"""


def executed_lines(text: str) -> frozenset[int]:
    """The line numbers a TRACER file recorded."""
    return frozenset(int(line) for line in text.split() if line.isdigit())


def executable_lines(source: str) -> frozenset[int]:
    """The lines that carry bytecode, so that a tracer can see them run. Not the continuation
    lines of a signature (``*, guarded: bool``): a mutant there changes how the function is
    compiled, never seen as a line executing, so it is run, not presumed unreachable."""
    found: set[int] = set()
    pending = [compile(source, "<module>", "exec")]
    while pending:
        code = pending.pop()
        found.update(line for _, _, line in code.co_lines() if line is not None)
        pending.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
    return frozenset(found)


def _processes_marked(marker: str) -> list[int]:
    """Pids of live processes whose environment carries ``SLOT_MARKER=marker`` (Linux /proc)."""
    wanted = f"{SLOT_MARKER}={marker}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if wanted in environ.split(b"\0"):
            pids.append(int(entry.name))
    return pids


def run_test_commands(
    commands: Sequence[tuple[str, Env]],
    copy: EngineCopy,
    timeout: float,
    trace: tuple[Path, str] | None = None,
) -> tuple[str, str]:
    """Run a module's (command, environment) pairs in turn (its first run, then its extra
    runs) within one ``timeout``: the first that does not pass decides the outcome; survived
    when all pass."""
    deadline = time.monotonic() + timeout
    outcome, output = "survived", ""
    for command, env in commands:
        left = deadline - time.monotonic()
        if left <= 0:
            return "timeout", f"no verdict after {timeout:.0f}s"
        outcome, output = run_test_command(command, copy, left, trace, env)
        if outcome != "survived":
            break
    return outcome, output


def run_test_command(
    command: str,
    copy: EngineCopy,
    timeout: float,
    trace: tuple[Path, str] | None = None,
    env: Env = (),
) -> tuple[str, str]:
    """Run ``command`` in the repository root against ``copy``: (outcome, output tail).

    Exit 0 -> survived, any other exit -> killed, past ``timeout`` -> timeout (the run and every
    process it started, the engine included, are killed), cannot start -> incompetent.
    """
    try:
        proc = subprocess.Popen(
            shlex.split(command),
            cwd=REPO,
            env=copy.environment(trace, env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        return "incompetent", f"test command did not start: {exc}"
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        # before reading to the end: a survivor holding the output pipe would block that read
        for pid in _processes_marked(str(copy.root)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.communicate()
        return "timeout", f"no verdict after {timeout:.0f}s"
    text = output.decode(errors="replace").splitlines()
    tail = "\n".join(text[-5:])
    if any(line.startswith(LOST_MARKER) for line in text):  # printed before pytest's summary
        tail = f"{LOST_MARKER}\n{tail}"
    return ("survived" if proc.returncode == 0 else "killed"), tail


def _changed_lines(original: str, mutated: str) -> tuple[str, str]:
    removed, added = [], []
    for line in difflib.unified_diff(original.splitlines(), mutated.splitlines(), lineterm=""):
        if line.startswith("-") and not line.startswith("---"):
            removed.append(line[1:].strip())
        elif line.startswith("+") and not line.startswith("+++"):
            added.append(line[1:].strip())
    return "\n".join(removed), "\n".join(added)


@dataclass(frozen=True)
class _Planned:
    job_id: str
    operator: str
    occurrence: int
    line: int
    column: int


def _plan(module_path: Path, session: Path) -> list[_Planned]:
    """Every mutant cosmic-ray finds in ``module_path``, recorded in a new session database."""
    from cosmic_ray.commands import init
    from cosmic_ray.work_db import WorkDB, use_db

    with use_db(str(session), WorkDB.Mode.create) as db:
        init([module_path], db, {})
        return [
            _Planned(item.job_id, spec.operator_name, spec.occurrence, *spec.start_pos)
            for item in db.work_items
            for spec in item.mutations
        ]


def _mutant_source(planned: _Planned, original: str) -> str | None:
    """The module's source with the mutant applied by cosmic-ray; None if it does not apply.

    cosmic-ray 8.x's ExceptionReplacer plans mutants it then fails to apply (``except (A, B)``
    raises AttributeError): such a mutant is incompetent, not the end of the campaign."""
    import cosmic_ray.plugins
    from cosmic_ray.mutating import mutate_code

    operator = cosmic_ray.plugins.get_operator(planned.operator)()
    try:
        mutated: str | None = mutate_code(original, operator, planned.occurrence)
    except Exception:  # any failure of cosmic-ray to apply it
        return None
    return mutated


def _work_result(outcome: str, output: str, diff: str) -> Any:
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome, WorkResult

    if outcome in NOT_RUN:  # visible in cr-report as skipped, with the reason
        return WorkResult(worker_outcome=WorkerOutcome.SKIPPED, output=output, diff=diff)
    if outcome == "incompetent" and not diff:
        return WorkResult(worker_outcome=WorkerOutcome.NO_TEST, output=output)
    test_outcome = {
        "killed": TestOutcome.KILLED,
        "timeout": TestOutcome.KILLED,  # cosmic-ray's convention: output "timeout"
        "survived": TestOutcome.SURVIVED,
        "incompetent": TestOutcome.INCOMPETENT,
    }[outcome]
    return WorkResult(
        worker_outcome=WorkerOutcome.NORMAL,
        test_outcome=test_outcome,
        output="timeout" if outcome == "timeout" else output,
        diff=diff,
    )


@dataclass
class _Mutant:
    """A planned mutant with its source and what was decided about it before any run."""

    planned: _Planned
    mutated: str | None
    removed: str
    added: str
    diff: str
    switched: bool
    listed: Equivalent | None = None
    unexecuted: bool = False
    function: str = MODULE_LEVEL  # the enclosing function (an equivalents entry may name it)

    def result(self, module: str, outcome: str, detail: str = "") -> MutantResult:
        p = self.planned
        return MutantResult(
            module, p.line, p.operator, outcome, self.removed, self.added, detail,
            self.switched, self.unexecuted,
        )  # fmt: skip


def _run_mutant(
    mutant: _Mutant,
    module: str,
    commands: Sequence[tuple[str, Env]],
    slots: queue.Queue[EngineCopy],
    timeout: float,
) -> tuple[MutantResult, Any, float]:
    """Put one mutant in a free engine copy, run the test commands, give the copy back."""
    assert mutant.mutated is not None
    copy = slots.get()
    started = time.monotonic()
    try:
        with copy.mutated(module, mutant.mutated):
            outcome, output = run_test_commands(commands, copy, timeout)
    finally:
        slots.put(copy)
    seconds = time.monotonic() - started
    lost = outcome == "killed" and LOST_MARKER in output
    detail = output if outcome == "incompetent" else ""
    if mutant.listed is not None and outcome != "survived":
        detail = mutant.listed.reason  # run with --run-equivalents, and not a survivor
    elif mutant.listed is not None:
        outcome, detail = "equivalent", mutant.listed.reason
    result = dataclasses.replace(mutant.result(module, outcome, detail), lost_verdict=lost)
    return result, _work_result(outcome, output, mutant.diff), seconds


@dataclass
class _Prepared:
    """One module, ready to run: its mutants, classified, and its measured clean run."""

    path: Path
    session: Path
    found: list[_Planned]
    planned: list[_Planned]
    mutants: list[_Mutant]
    stale: list[Equivalent]  # entries that match no mutant (the misnamed apart)
    commands: list[tuple[str, Env]]  # the first run, then the extra runs (MODULE_SETTINGS)
    baseline: float  # seconds of the unmutated run
    executed: frozenset[int] | None  # lines the unmutated run executes; None: not traced
    misnamed: list[Equivalent] = field(default_factory=list)  # name no function of the module

    def to_run(self, run_equivalents: bool = False) -> list[_Mutant]:
        return [m for m in self.mutants if _decided(m, run_equivalents) is None]


def _decided(mutant: _Mutant, run_equivalents: bool = False) -> str | None:
    """The outcome a mutant gets without a run, or None when it must run."""
    if mutant.mutated is None:
        return "incompetent"
    if mutant.switched:
        return "switched"
    if mutant.listed is not None and not run_equivalents:
        return "equivalent"
    if mutant.unexecuted:
        return "survived"
    return None


def classify(
    mutants: Sequence[_Mutant],
    entries: Sequence[Equivalent],
    executed: frozenset[int] | None,
    executable: frozenset[int] = frozenset(),
) -> list[Equivalent]:
    """Marks each mutant listed (its equivalents entry) and unexecuted (its line carries
    bytecode, ``executable``, and never ran in the clean run); returns the stale entries. A
    switched mutant is not unexecuted: it is counted apart whatever the trace says."""
    keys = [(m.planned.operator, m.removed, m.added) for m in mutants]
    matched, stale = match_equivalents(keys, entries, [m.function for m in mutants])
    for mutant, entry in zip(mutants, matched, strict=True):
        mutant.listed = entry
        mutant.unexecuted = (
            executed is not None
            and mutant.mutated is not None
            and not mutant.switched
            and mutant.planned.line in executable
            and mutant.planned.line not in executed
        )
    return stale


def _prepare(
    module_path: Path, args: argparse.Namespace, copy: EngineCopy, session_dir: Path
) -> _Prepared:
    """Plan the module's mutants, measure its unmutated run (and trace it), classify."""
    module = module_path.name
    session = session_dir / f"{module_path.stem}.sqlite"
    original = module_path.read_text(encoding="utf-8")
    facts = source_facts(original)
    found = _plan(module_path, session)
    planned = [p for p in found if not facts.in_annotation(p.line, p.column)]
    chosen = list(planned)
    if args.max_mutants and len(chosen) > args.max_mutants:
        chosen = random.Random(f"{args.seed}:{module}").sample(chosen, args.max_mutants)
    mutants = []
    for item in chosen:
        mutated = _mutant_source(item, original)
        removed, added = _changed_lines(original, mutated) if mutated else ("", "")
        diff = (
            "\n".join(
                difflib.unified_diff(
                    original.splitlines(), mutated.splitlines(), module, module, lineterm=""
                )
            )
            if mutated
            else ""
        )
        switched = facts.is_switched(item.line, item.column)
        function = facts.function_at(item.line, item.column)
        mutants.append(_Mutant(item, mutated, removed, added, diff, switched, function=function))
    passed = copy.root.parent / f"passed-{module_path.stem}.txt"
    recording = _commands_for(args.test_command, module, (RECORD_OPTION, passed))
    seconds = _baseline(recording, copy, args.baseline_timeout)
    commands = _commands_for(args.test_command, module, (MUST_PASS_OPTION, passed))
    executed = None
    if not args.no_trace:
        trace = copy.root.parent / f"trace-{module_path.stem}.txt"
        trace.write_text("", encoding="ascii")
        outcome, output = run_test_commands(commands, copy, args.baseline_timeout, (trace, module))
        if outcome != "survived":
            raise SystemExit(f"the traced unmutated run did not pass ({outcome}):\n{output}")
        executed = executed_lines(trace.read_text(encoding="ascii"))
        if not executed:
            raise SystemExit(f"the traced unmutated run recorded no line of {module}")
    entries = load_equivalents(module)
    stale = classify(mutants, entries, executed, executable_lines(original))
    # an entry naming no function of the module is reported whatever was sampled
    misnamed = misnamed_functions(entries, facts.function_names())
    stale = [e for e in stale if e not in misnamed]
    # listed equivalents of mutants left out of a sample are not stale
    sampled_out = [p for p in planned if p not in chosen]
    if sampled_out:
        stale = []
    return _Prepared(
        module_path, session, found, planned, mutants, stale, commands, seconds, executed,
        misnamed,
    )  # fmt: skip


def _campaign(
    prepared: _Prepared,
    args: argparse.Namespace,
    slots: queue.Queue[EngineCopy],
) -> tuple[ModuleTally, list[MutantResult], float]:
    """Run the module's mutants that need a run; returns its tally, results and wall time."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    module = prepared.path.name
    timeout = args.timeout or 3 * prepared.baseline + 30
    results: list[MutantResult] = []
    started = time.monotonic()
    with (
        ThreadPoolExecutor(max_workers=args.jobs) as pool,
        use_db(str(prepared.session), WorkDB.Mode.open) as db,
    ):
        futures = {}
        for mutant in prepared.mutants:
            decided = _decided(mutant, args.run_equivalents)
            if decided is None:
                future = pool.submit(_run_mutant, mutant, module, prepared.commands, slots, timeout)
                futures[future] = mutant
                continue
            detail = {
                "incompetent": "cosmic-ray could not apply this occurrence",
                "switched": "not run: only a fault or variant switch turns this code on",
                "equivalent": mutant.listed.reason if mutant.listed else "",
                "survived": "not run: the clean run never executes this line",
            }[decided]
            result = mutant.result(module, decided, detail if decided != "survived" else "")
            results.append(result)
            db.set_result(mutant.planned.job_id, _work_result(decided, detail, mutant.diff))
        for done, future in enumerate(as_completed(futures), start=1):
            mutant = futures[future]
            result, work_result, seconds = future.result()
            db.set_result(mutant.planned.job_id, work_result)
            results.append(result)
            print(
                f"  [{done}/{len(futures)}] {module}:{result.line} {result.operator}: "
                f"{result.outcome} ({seconds:.1f}s)",
                flush=True,
            )
        chosen = {m.planned.job_id for m in prepared.mutants}
        for item in prepared.found:  # visible in cr-report as skipped, not as pending
            if item.job_id not in chosen:
                db.set_result(item.job_id, WorkResult(worker_outcome=WorkerOutcome.SKIPPED))
    counted = tally(
        module, len(prepared.planned), results, len(prepared.found) - len(prepared.planned)
    )
    return counted, results, time.monotonic() - started


def _command_for(
    template: str,
    module: str,
    passed: tuple[str, Path] | None = None,
    extra: ExtraRun | None = None,
) -> str:
    """The module's test command; ``passed``: (RECORD_OPTION or MUST_PASS_OPTION, file);
    ``extra``: one of its extra runs (its invariants, its arguments appended)."""
    suites = " ".join(SECURITY_MODULES.get(module, ("suites",)))
    invariants = MODULE_INVARIANTS.get(module, ()) if extra is None else extra.invariants
    select = " ".join(f"--invariant {i}" for i in invariants)
    if invariants:
        select = f"-p mutation {ORDER_OPTION}={','.join(invariants)} {select}"
        if passed is not None:
            select += f" {passed[0]}={shlex.quote(str(passed[1]))}"
    command = template.format(python=shlex.quote(sys.executable), suites=suites, select=select)
    return command if extra is None else f"{command} {shlex.join(extra.args)}"


def _commands_for(
    template: str, module: str, passed: tuple[str, Path] | None = None
) -> list[tuple[str, Env]]:
    """The module's first test command, then one per extra run (MODULE_SETTINGS) with its
    environment, each recording or checking its passed tests in a file of its own."""
    settings = MODULE_SETTINGS.get(module)
    commands: list[tuple[str, Env]] = [(_command_for(template, module, passed), ())]
    for index, extra in enumerate(settings.extra if settings else (), start=1):
        own = None
        if passed is not None:
            own = (passed[0], passed[1].with_name(f"{passed[1].stem}-{index}{passed[1].suffix}"))
        commands.append((_command_for(template, module, own, extra), extra.env))
    return commands


def _shown(commands: Sequence[tuple[str, Env]]) -> str:
    """The runs as the benchmark prints them: environment first, one after the other."""
    return " ; then ".join(
        " ".join([*(f"{name}={value}" for name, value in env), command])
        for command, env in commands
    )


def _baseline(commands: Sequence[tuple[str, Env]], copy: EngineCopy, timeout: float) -> float:
    """The unmutated engine must pass the test commands; returns the runs' seconds."""
    started = time.monotonic()
    outcome, output = run_test_commands(commands, copy, timeout)
    if outcome != "survived":
        raise SystemExit(
            f"the unmutated engine does not pass the test command ({outcome}), so no mutant"
            f" could be judged:\n  {_shown(commands)}\n{output}"
        )
    return time.monotonic() - started


def estimate(prepared: Sequence[tuple[str, int, float]], jobs: int) -> tuple[str, float]:
    """(module, mutants to run, seconds of its unmutated run) -> a table and the total seconds.

    An upper bound: a mutant that is killed stops at its first failure, so it takes less than
    the unmutated run; a survivor takes about as long; a timeout takes longer (rare)."""
    lines = []
    total = 0.0
    for module, count, seconds in prepared:
        module_total = count * seconds / jobs
        total += module_total
        lines.append(
            f"  {module}: {count} mutants to run x {seconds:.1f}s (unmutated run)"
            f" / {jobs} job(s) = at most {module_total / 60:.1f} min"
        )
    lines.append(f"  total: at most {total / 60:.1f} min (killed mutants stop early)")
    return "\n".join(lines), total


# -- the plugin half: `pytest -p mutation --mutation-order=A,B` (benchmarks/ on the PYTHONPATH)


def pytest_addoption(parser: Any) -> None:
    parser.addoption(
        ORDER_OPTION,
        default="",
        help="(mutation benchmark) run the tests of these invariant ids first, in this order",
    )
    parser.addoption(RECORD_OPTION, default="", help="(mutation benchmark) write passed tests")
    parser.addoption(
        MUST_PASS_OPTION,
        default="",
        help="(mutation benchmark) fail when one of these tests ends not verified",
    )


def order_items(items: list[Any], order: Sequence[str]) -> None:
    """Stable sort by the earliest position of any of a test's invariants in ``order``; tests of
    no listed invariant go last. Likely killers first: -x then stops a killed mutant early."""
    rank = {invariant: index for index, invariant in enumerate(order)}

    def position(item: Any) -> int:
        marked = [i for m in item.iter_markers("invariant") for i in m.args]
        return min((rank[i] for i in marked if i in rank), default=len(order))

    items.sort(key=position)


def _collection_modifyitems(session: Any, config: Any, items: list[Any]) -> None:
    order = [i for i in config.getoption(ORDER_OPTION).split(",") if i]
    if order:
        order_items(items, order)


def lost_verdict_kind(message: str) -> str | None:
    """The not-verified kind of a skip message (``not verified (RK-EXPIRY): lifetime: ...``
    or ``not verified: lifetime: ...``, after whatever prefix pytest gives the exception's
    name) when it is about the engine; None for any other skip
    and for the kinds that are about the machine or the network (ENVIRONMENT_KINDS)."""
    found = re.search(r"not verified(?: \([^)]*\))?: ([a-z-]+): ", message)
    if found is None or found.group(1) in ENVIRONMENT_KINDS:
        return None
    return found.group(1)


class _Verdicts:
    """The plugin's state: the tests that passed (recorded on the unmutated run) and, under a
    mutant, those of them that ended "not verified" for a reason about the engine. Such a
    mutant is killed: the suites can no longer conclude what they concluded without it (a key
    that never expires leaves RK-EXPIRY unverified forever)."""

    def __init__(self) -> None:
        self.active = False  # loaded by a test command (not imported by the benchmark)
        self.passed: list[str] = []
        self.must_pass: frozenset[str] = frozenset()
        self.lost: list[str] = []


_VERDICTS = _Verdicts()


def pytest_runtest_logreport(report: Any) -> None:
    if not _VERDICTS.active:
        return
    if report.when == "call" and report.passed:
        _VERDICTS.passed.append(report.nodeid)
    if report.skipped and report.nodeid in _VERDICTS.must_pass:
        message = report.longrepr[2] if isinstance(report.longrepr, tuple) else ""
        kind = lost_verdict_kind(str(message))
        if kind is not None:
            _VERDICTS.lost.append(f"{report.nodeid} ({kind})")


def pytest_configure(config: Any) -> None:
    if config.getoption(MUST_PASS_OPTION, None):
        path = Path(config.getoption(MUST_PASS_OPTION))
        _VERDICTS.must_pass = frozenset(path.read_text(encoding="utf-8").split())
    _VERDICTS.active = True


def _sessionfinish(session: Any, exitstatus: int) -> Iterator[None]:
    """Wraps every other session end: the harness's report sets the exit status from its gate
    there, and a lost verdict must have the last word."""
    yield
    config = session.config
    record = config.getoption(RECORD_OPTION, None)
    if record:
        Path(record).write_text("\n".join(_VERDICTS.passed) + "\n", encoding="utf-8")
    if _VERDICTS.lost:
        print(f"\n{LOST_MARKER}: passed unmutated, now not verified:", *_VERDICTS.lost, sep="\n  ")
        session.exitstatus = 1


try:
    import pytest as _pytest
except ImportError:  # pragma: no cover - the benchmark itself does not need pytest
    pass
else:
    # after the harness's own hook has selected by --invariant
    pytest_collection_modifyitems = _pytest.hookimpl(trylast=True)(_collection_modifyitems)
    # around the harness's own session end (its gate sets the exit status there)
    pytest_sessionfinish = _pytest.hookimpl(hookwrapper=True, tryfirst=True)(_sessionfinish)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/mutation.py",
        description=__doc__.splitlines()[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="modules and the suites run against each:\n"
        + "\n".join(f"  {m}: {' '.join(s)}" for m, s in SECURITY_MODULES.items())
        + "\n\nmodule settings (extra runs after the first: their environment, the arguments"
        " appended to the test command, the invariants selected):\n"
        + "\n".join(
            f"  {m}: {settings.describe()}\n      why: {settings.why}"
            for m, settings in MODULE_SETTINGS.items()
        ),
    )
    parser.add_argument(
        "--modules",
        nargs="+",
        default=list(SECURITY_MODULES),
        help="engine modules to mutate (default: the security modules)",
    )
    parser.add_argument(
        "--test-command",
        default=DEFAULT_TEST_COMMAND,
        help="run in the repository root; exit 0 = the mutant survived."
        " {suites}: the module's suites, {python}: this interpreter"
        " (default: %(default)s)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="seconds per mutant before it counts as timeout (default: 3 x the unmutated run + 30)",
    )
    parser.add_argument("--baseline-timeout", type=float, default=600.0, help=argparse.SUPPRESS)
    parser.add_argument(
        "--max-mutants",
        type=int,
        default=0,
        help="run a random sample of N mutants per module (default 0: all)",
    )
    parser.add_argument("--seed", type=int, default=0, help="the sample's seed")
    parser.add_argument(
        "--run-equivalents",
        action="store_true",
        help="run the listed equivalents too (default: shown with their reason, not run)",
    )
    parser.add_argument(
        "--no-trace",
        action="store_true",
        help="run every mutant, also those whose line the unmutated run never executes",
    )
    parser.add_argument(
        "--jobs", type=int, default=1, help="mutants run side by side, each in its own engine copy"
    )
    parser.add_argument(
        "--session-dir",
        type=Path,
        default=None,
        help="keep the cosmic-ray session databases here (cr-report reads them)",
    )
    return parser


def _stop_runs_on_signal(scratch: str) -> None:
    """Ctrl-C or SIGTERM ends the test runs and their engines too: each runs in a session of
    its own, out of reach of the terminal's signal, so they are found by their marker."""

    def stop(signum: int, _frame: object) -> None:
        for job_root in Path(scratch).glob("job-*"):
            for pid in _processes_marked(str(job_root)):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    modules = resolve_modules(args.modules)
    if args.jobs < 1 or args.max_mutants < 0:
        raise SystemExit("--jobs must be at least 1 and --max-mutants at least 0")
    try:
        import cosmic_ray  # noqa: F401
    except ImportError:
        raise SystemExit("cosmic-ray is missing: pip install -e '.[dev,mutation]'") from None
    with tempfile.TemporaryDirectory(prefix="seecodes-mutation-") as scratch:
        session_dir = args.session_dir or Path(scratch) / "sessions"
        session_dir.mkdir(parents=True, exist_ok=True)
        slots: queue.Queue[EngineCopy] = queue.Queue()
        for job in range(args.jobs):
            slots.put(EngineCopy(Path(scratch) / f"job-{job}"))
        _stop_runs_on_signal(scratch)
        first = slots.get()
        prepared = []
        for module_path in modules:
            ready = _prepare(module_path, args, first, session_dir)
            prepared.append(ready)
            settings = MODULE_SETTINGS.get(module_path.name)
            print(
                f"{module_path.name}: {len(ready.mutants)} of {len(ready.planned)} mutants;"
                f" unmutated run {ready.baseline:.1f}s;"
                f" {len(ready.to_run(args.run_equivalents))} to run"
                f" (the rest decided without a run); test command: {_shown(ready.commands)}"
                + (f" (why: {settings.why})" if settings else ""),
                flush=True,
            )
        slots.put(first)
        counts = [
            sum(_decided(m, args.run_equivalents) is None for m in p.mutants) for p in prepared
        ]
        table, _ = estimate(
            [(p.path.name, n, p.baseline) for p, n in zip(prepared, counts, strict=True)], args.jobs
        )
        print(f"estimate before starting:\n{table}", flush=True)
        tallies, results, stale, misnamed, measured = [], [], [], [], []
        for ready, ran in zip(prepared, counts, strict=True):
            counted, module_results, wall = _campaign(ready, args, slots)
            tallies.append(counted)
            results.extend(module_results)
            stale.extend(ready.stale)
            misnamed.extend(ready.misnamed)
            mean = wall * args.jobs / ran if ran else 0.0
            measured.append(
                f"  {ready.path.name}: {ran} mutants run in {wall / 60:.1f} min"
                f" (mean {mean:.1f}s per mutant per job; unmutated run {ready.baseline:.1f}s)"
            )
        print()
        print(format_report(tallies, results, stale, args.run_equivalents, misnamed))
        print("\nmeasured:")
        print("\n".join(measured))
        if args.session_dir:
            print(f"\ncosmic-ray sessions: {session_dir} (cr-report {session_dir}/NAME.sqlite)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
