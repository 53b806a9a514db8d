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
import difflib
import os
import queue
import random
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_TEST_COMMAND",
    "OUTCOMES",
    "SECURITY_MODULES",
    "SWITCH_CALLS",
    "EngineCopy",
    "ModuleTally",
    "MutantResult",
    "SourceFacts",
    "Span",
    "format_report",
    "main",
    "resolve_modules",
    "run_test_command",
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
    "permits.py": ("suites/test_permits.py",),
    "forge_auth.py": ("suites/test_forge_tokens.py",),
    "tokens.py": (
        "suites/test_request_keys.py",
        "suites/test_launch_codes.py",
        "suites/test_permits.py",
    ),
    # tenancy: the task routes key progress, context and runs by tenant
    "routes_tasks.py": ("suites/test_tenancy.py", "suites/test_permits.py"),
}

# Stop at the first failure (a killed mutant needs one), fixed order, the smallest budgets,
# no report folders. Run in the repository root, against the bundled engine.
DEFAULT_TEST_COMMAND = (
    "{python} -m pytest {suites} -x -q -p no:randomly --profile smoke --report-dir none"
)

OUTCOMES = ("killed", "survived", "timeout", "incompetent")

# The engine's fault and variant switches (config.fault("name"), config.variant("name")): the
# runs start the clean engine, so code that only a switch turns on never runs there, and a
# survivor in it is likely equivalent (a hint for the reader, not a filter).
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
    detail: str = ""  # incompetent: why
    switched: bool = False  # in code that changes nothing while every switch is off


@dataclass
class ModuleTally:
    """Counts of one module's campaign; ``planned`` is every mutant cosmic-ray found."""

    module: str
    planned: int  # every mutant that can change behaviour (annotation mutants left out)
    equivalent: int = 0  # mutants inside annotations: never evaluated, so never run
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))

    @property
    def run(self) -> int:
        return sum(self.counts.values())

    @property
    def score(self) -> float | None:
        """Killed (timeouts included) over the mutants that ran; None when none could run."""
        judged = self.counts["killed"] + self.counts["timeout"] + self.counts["survived"]
        if judged == 0:
            return None
        return (self.counts["killed"] + self.counts["timeout"]) / judged


def tally(
    module: str, planned: int, results: Sequence[MutantResult], equivalent: int = 0
) -> ModuleTally:
    counted = ModuleTally(module, planned, equivalent)
    for result in results:
        counted.counts[result.outcome] += 1
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


def format_report(tallies: Sequence[ModuleTally], results: Sequence[MutantResult]) -> str:
    """The table per module, then every survivor with file:line, operator and changed line."""
    header = ("module", "mutants", "killed", "survived", "timeout", "incompetent", "score")
    rows: list[tuple[str, ...]] = [header]
    for counted in tallies:
        sampled = f"{counted.run}" + (
            "" if counted.run == counted.planned else f"/{counted.planned}"
        )
        score = "n/a" if counted.score is None else f"{counted.score:.0%}"
        rows.append((counted.module, sampled, *(str(counted.counts[o]) for o in OUTCOMES), score))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if any(c.run != c.planned for c in tallies):
        lines.append("mutants: run/found (a sample; --max-mutants 0 runs all)")
    lines.append("score: (killed + timeout) / (killed + timeout + survived)")
    lines.extend(
        f"{c.module}: {c.equivalent} more mutants inside annotations, not run (never evaluated:"
        " from __future__ import annotations)"
        for c in tallies
        if c.equivalent
    )
    survivors = [r for r in results if r.outcome == "survived"]
    lines.append("")
    lines.append(f"surviving mutants: {len(survivors)}")
    for result in sorted(survivors, key=lambda r: (r.module, r.line, r.operator)):
        lines.append(
            f"  {ENGINE_SOURCE.relative_to(REPO)}/{result.module}:{result.line}  {result.operator}"
        )
        lines.extend(f"      - {text}" for text in result.removed.splitlines())
        lines.extend(f"      + {text}" for text in result.added.splitlines())
        if result.switched:
            lines.append("      (only a fault or variant switch makes this code count: the mutant")
            lines.append("       may change only an engine these runs do not start)")
    incompetent = [r for r in results if r.outcome == "incompetent"]
    if incompetent:
        lines.append(f"incompetent (the test command could not judge them): {len(incompetent)}")
        lines.extend(f"  {r.module}:{r.line}  {r.operator}: {r.detail}" for r in incompetent)
    return "\n".join(lines)


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

    def in_annotation(self, line: int, column: int) -> bool:
        return any(start <= (line, column) < end for start, end in self.annotations)

    def is_switched(self, line: int, column: int) -> bool:
        return any(start <= (line, column) < end for start, end in self.switched)


def _is_switch_call(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    return name in SWITCH_CALLS


def _switch_turns_on(test: ast.expr) -> bool:
    """``fault(...)`` or ``x and fault(...)``: true only with the switch on."""
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):
        return any(_switch_turns_on(value) for value in test.values)
    return _is_switch_call(test)


def source_facts(source: str) -> SourceFacts:
    """Annotation spans (only where ``from __future__ import annotations`` keeps them strings)
    and the switched code: the body of ``if fault(...)`` (or ``if x and fault(...)``), and the
    other operands of ``x and fault(...)``, whose value is false with the switch off whatever
    ``x`` is. A mutant of the switch call itself (``not fault(...)`` -> ``fault(...)``) is not
    switched: it changes the clean engine."""
    tree = ast.parse(source)
    postponed = any(
        isinstance(node, ast.ImportFrom)
        and node.module == "__future__"
        and any(alias.name == "annotations" for alias in node.names)
        for node in tree.body
    )
    annotations: list[ast.expr] = []
    switched: list[Span] = []
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
            and any(_switch_turns_on(value) for value in node.values)
        ):
            switched += [_span(v) for v in node.values if not _switch_turns_on(v)]
        if isinstance(node, ast.If) and _switch_turns_on(node.test):
            switched += [_span(statement) for statement in node.body]
    spans = tuple(_span(a) for a in annotations)
    return SourceFacts(spans if postponed else (), tuple(switched))


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

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(self.root), env.get("PYTHONPATH", "")) if p
        )
        env["PYTHONDONTWRITEBYTECODE"] = "1"  # a mutant never hides behind a stale .pyc
        env[SLOT_MARKER] = str(self.root)
        return env


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


def run_test_command(command: str, copy: EngineCopy, timeout: float) -> tuple[str, str]:
    """Run ``command`` in the repository root against ``copy``: (outcome, output tail).

    Exit 0 -> survived, any other exit -> killed, past ``timeout`` -> timeout (the run and every
    process it started, the engine included, are killed), cannot start -> incompetent.
    """
    try:
        proc = subprocess.Popen(
            shlex.split(command),
            cwd=REPO,
            env=copy.environment(),
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
    tail = "\n".join(output.decode(errors="replace").splitlines()[-5:])
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
    """The module's source with the mutant applied by cosmic-ray; None if it does not apply."""
    import cosmic_ray.plugins
    from cosmic_ray.mutating import mutate_code

    operator = cosmic_ray.plugins.get_operator(planned.operator)()
    mutated: str | None = mutate_code(original, operator, planned.occurrence)
    return mutated


def _run_mutant(
    planned: _Planned,
    module: str,
    original: str,
    mutated: str | None,
    command: str,
    slots: queue.Queue[EngineCopy],
    timeout: float,
    switched: bool,
) -> tuple[MutantResult, Any]:
    """Put one mutant in a free engine copy, run the test command, give the copy back."""
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome, WorkResult

    if mutated is None:
        detail = "cosmic-ray found no such occurrence to apply"
        result = MutantResult(module, planned.line, planned.operator, "incompetent", detail=detail)
        return result, WorkResult(worker_outcome=WorkerOutcome.NO_TEST, output=detail)
    removed, added = _changed_lines(original, mutated)
    copy = slots.get()
    try:
        with copy.mutated(module, mutated):
            outcome, output = run_test_command(command, copy, timeout)
    finally:
        slots.put(copy)
    detail = output if outcome == "incompetent" else ""
    result = MutantResult(
        module, planned.line, planned.operator, outcome, removed, added, detail, switched
    )
    test_outcome = {
        "killed": TestOutcome.KILLED,
        "timeout": TestOutcome.KILLED,  # cosmic-ray's convention: output "timeout"
        "survived": TestOutcome.SURVIVED,
        "incompetent": TestOutcome.INCOMPETENT,
    }[outcome]
    diff = "\n".join(
        difflib.unified_diff(
            original.splitlines(), mutated.splitlines(), module, module, lineterm=""
        )
    )
    return result, WorkResult(
        worker_outcome=WorkerOutcome.NORMAL,
        test_outcome=test_outcome,
        output="timeout" if outcome == "timeout" else output,
        diff=diff,
    )


def _campaign(
    module_path: Path,
    args: argparse.Namespace,
    slots: queue.Queue[EngineCopy],
    timeout: float,
    session_dir: Path,
) -> tuple[ModuleTally, list[MutantResult]]:
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    module = module_path.name
    session = session_dir / f"{module_path.stem}.sqlite"
    original = module_path.read_text(encoding="utf-8")
    facts = source_facts(original)
    found = _plan(module_path, session)
    planned = [p for p in found if not facts.in_annotation(p.line, p.column)]
    chosen = list(planned)
    if args.max_mutants and len(chosen) > args.max_mutants:
        chosen = random.Random(f"{args.seed}:{module}").sample(chosen, args.max_mutants)
    command = _command_for(args.test_command, module)
    print(f"{module}: {len(chosen)} of {len(planned)} mutants; test command: {command}", flush=True)
    results: list[MutantResult] = []
    with (
        ThreadPoolExecutor(max_workers=args.jobs) as pool,
        use_db(str(session), WorkDB.Mode.open) as db,
    ):
        futures = {
            pool.submit(
                _run_mutant,
                item,
                module,
                original,
                _mutant_source(item, original),
                command,
                slots,
                timeout,
                facts.is_switched(item.line, item.column),
            ): item
            for item in chosen
        }
        for done, future in enumerate(as_completed(futures), start=1):
            item = futures[future]
            result, work_result = future.result()
            db.set_result(item.job_id, work_result)
            results.append(result)
            print(
                f"  [{done}/{len(chosen)}] {module}:{result.line} {result.operator}: "
                f"{result.outcome}",
                flush=True,
            )
        skipped = {item.job_id for item in found} - {item.job_id for item in chosen}
        for job_id in skipped:  # visible in cr-report as skipped, not as pending
            db.set_result(job_id, WorkResult(worker_outcome=WorkerOutcome.SKIPPED))
    return tally(module, len(planned), results, len(found) - len(planned)), results


def _command_for(template: str, module: str) -> str:
    suites = " ".join(SECURITY_MODULES.get(module, ("suites",)))
    return template.format(python=shlex.quote(sys.executable), suites=suites)


def _baseline(args: argparse.Namespace, modules: Sequence[Path], copy: EngineCopy) -> float:
    """The unmutated engine must pass every test command; returns the slowest run's seconds."""
    slowest = 0.0
    for command in dict.fromkeys(_command_for(args.test_command, p.name) for p in modules):
        started = time.monotonic()
        outcome, output = run_test_command(command, copy, timeout=args.baseline_timeout)
        if outcome != "survived":
            raise SystemExit(
                f"the unmutated engine does not pass the test command ({outcome}), so no mutant"
                f" could be judged:\n  {command}\n{output}"
            )
        slowest = max(slowest, time.monotonic() - started)
    return slowest


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/mutation.py",
        description=__doc__.splitlines()[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="modules and the suites run against each:\n"
        + "\n".join(f"  {m}: {' '.join(s)}" for m, s in SECURITY_MODULES.items()),
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
        seconds = _baseline(args, modules, first)
        slots.put(first)
        timeout = args.timeout or 3 * seconds + 30
        print(
            f"unmutated engine passes (slowest run {seconds:.1f}s); timeout {timeout:.0f}s",
            flush=True,
        )
        tallies, results = [], []
        for module_path in modules:
            counted, module_results = _campaign(module_path, args, slots, timeout, session_dir)
            tallies.append(counted)
            results.extend(module_results)
        print()
        print(format_report(tallies, results))
        if args.session_dir:
            print(f"\ncosmic-ray sessions: {session_dir} (cr-report {session_dir}/NAME.sqlite)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
