"""The mutation benchmark's own plumbing, without a mutation campaign.

``benchmarks/mutation.py`` prints figures a developer acts on, so what it counts must be right:
its module list names real engine files and suites, its report counts each outcome where it
belongs and lists every survivor, a mutant put in its engine copy really reaches the engine the
suites start (a known mutant is killed, the unmutated copy is not), and a run past its timeout
takes the engine it started down with it. The campaign itself stays a benchmark.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "mutation.py"


def _load_benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mutation_benchmark", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


bench = _load_benchmark()


def test_help_names_the_modules_and_their_suites() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--help"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for option in ("--modules", "--test-command", "--timeout", "--max-mutants", "--jobs"):
        assert option in done.stdout
    for module, suites in bench.SECURITY_MODULES.items():
        assert f"{module}: {' '.join(suites)}" in done.stdout
    settings = done.stdout.split("module settings")[1]
    for module, setting in bench.MODULE_SETTINGS.items():
        assert f"{module}: {setting.describe()}" in settings
    assert "permits.py: then SEECODES_ENGINE_PERMIT_TTL=4 --invariant PERMIT-LIFETIME" in settings
    assert "launch.py: then --engine-variant production-lifetimes --invariant LC-LIFETIME-MAX" in (
        settings
    )


def test_default_modules_and_suites_exist() -> None:
    paths = bench.resolve_modules(list(bench.SECURITY_MODULES))
    assert [p.name for p in paths] == list(bench.SECURITY_MODULES)
    assert all(p.is_file() and p.parent == ROOT / "fixtures" / "reference_engine" for p in paths)
    for suites in bench.SECURITY_MODULES.values():
        assert all((ROOT / suite).is_file() for suite in suites), suites
    assert bench.resolve_modules(["permits"])[0].name == "permits.py"
    with pytest.raises(SystemExit, match="no engine module"):
        bench.resolve_modules(["no_such_module.py"])


def _result(
    outcome: str,
    line: int,
    removed: str = "a != b",
    added: str = "a == b",
    detail: str = "",
    unexecuted: bool = False,
) -> object:
    return bench.MutantResult(
        "request_keys.py", line, "core/Op", outcome, removed, added, detail,
        unexecuted=unexecuted,
    )  # fmt: skip


def test_report_counts_each_outcome_and_lists_every_survivor() -> None:
    results = [
        _result("killed", 10),
        _result("killed", 11),
        _result("timeout", 12),
        _result("survived", 40, 'if state != "current":', 'if state == "current":'),
        _result("survived", 7, "if x:", "if not x:", unexecuted=True),
        bench.MutantResult("request_keys.py", 50, "core/Op", "incompetent", detail="no start"),
        # listed, on a line the clean run never executes: an equivalent, not an unexecuted survivor
        _result(
            "equivalent",
            60,
            "a <= b",
            "a < b",
            detail="the boundary cannot be hit",
            unexecuted=True,
        ),
        _result("switched", 70),
        _result("switched", 71),
        _result("switched", 71),
    ]
    counted = bench.tally("request_keys.py", 115, results, equivalent=11)
    assert counted.counts == {
        "killed": 2, "survived": 2, "timeout": 1, "incompetent": 1,
        "equivalent": 1, "switched": 3,
    }  # fmt: skip
    assert counted.unexecuted == 1
    # equivalents and switched mutants are out of the score, not of the raw score
    assert counted.score == pytest.approx(3 / 5)
    assert counted.raw_score == pytest.approx(3 / 9)
    report = bench.format_report([counted], results)
    row = next(line for line in report.splitlines() if line.startswith("request_keys.py "))
    assert row.split() == [
        "request_keys.py", "10/115", "2", "2", "1", "1", "1", "3", "60%", "33%",
    ]  # fmt: skip
    assert "surviving mutants: 2" in report
    survivors = report.split("surviving mutants: 2", 1)[1].split("equivalent mutants", 1)[0]
    # sorted by line, each with file:line, operator and the changed line
    first = survivors.index("fixtures/reference_engine/request_keys.py:7  core/Op")
    second = survivors.index("fixtures/reference_engine/request_keys.py:40  core/Op")
    assert first < second
    assert '- if state != "current":' in survivors and '+ if state == "current":' in survivors
    assert survivors.count("not run: the clean run never executes this line") == 1
    assert "request_keys.py: 1 of the survivors not run" in report
    assert "request_keys.py: 11 more mutants inside annotations, not run" in report
    assert "request_keys.py:50  core/Op: no start" in report
    for killed_line in (":10 ", ":11 ", ":12 ", ":60 ", ":70 "):
        assert killed_line not in survivors
    listed = report.split("equivalent mutants (listed, with their reason): 1", 1)[1]
    assert "request_keys.py:60  core/Op" in listed and "why: the boundary cannot be hit" in listed
    assert "switched mutants (not run): 3" in report
    assert "request_keys.py: 3 at lines 70, 71 (x2)" in report
    assert "stale" not in report


def test_report_of_a_module_with_no_judged_mutant_has_no_score() -> None:
    counted = bench.tally("tokens.py", 0, [])
    assert counted.score is None and counted.raw_score is None
    report = bench.format_report([counted], [])
    assert "n/a" in report and "surviving mutants: 0" in report


def test_report_names_stale_equivalents_and_listed_mutants_that_were_killed() -> None:
    entry = bench.Equivalent("core/Op", "x < 1", "x <= 1", "why", "eq/request_keys.toml")
    killed = _result("killed", 9, detail="listed reason")  # run with --run-equivalents
    report = bench.format_report([bench.tally("request_keys.py", 1, [killed])], [killed], [entry])
    assert "listed as equivalent, yet killed (remove the entry): 1" in report
    stale = report.split("stale equivalents (match no mutant any more: remove or fix): 1")[1]
    assert "eq/request_keys.toml  core/Op" in stale and "- x < 1" in stale


def test_compact_lines() -> None:
    assert bench._lines_compact([]) == ""
    assert bench._lines_compact([5, 3, 4, 9, 9, 12]) == "3-5, 9 (x2), 12"
    assert bench._lines_compact([1, 2, 2, 3]) == "1, 2 (x2), 3"


EQUIVALENTS = """
[[equivalent]]
operator = "core/ReplaceComparisonOperator_LtE_Lt"
removed = "  if row['expires_at'] <= now():  "
added = "if row['expires_at'] < now():"
reason = "the one-second boundary cannot be hit"

[[equivalent]]
operator = "core/NumberReplacer"
removed = "MAX = 4096"
added = "MAX = 4097"
reason = "no longer in the source"
"""


def test_equivalents_match_by_operator_and_stripped_lines_and_report_stale() -> None:
    entries = bench.parse_equivalents(EQUIVALENTS, "x.toml")
    assert [e.reason for e in entries] == [
        "the one-second boundary cannot be hit", "no longer in the source",
    ]  # fmt: skip
    mutants = [
        ("core/ReplaceComparisonOperator_LtE_Lt", "if row['expires_at'] <= now():",
         "  if row['expires_at'] < now():"),
        # same lines, another operator: not the listed mutant
        ("core/ReplaceComparisonOperator_LtE_Gt", "if row['expires_at'] <= now():",
         "if row['expires_at'] < now():"),
    ]  # fmt: skip
    matched, stale = bench.match_equivalents(mutants, entries)
    assert matched == [entries[0], None]
    assert stale == [entries[1]]


ENTRY = '[[equivalent]]\noperator = "o"\nremoved = "a"\nadded = "b"\nreason = "r"\n'


@pytest.mark.parametrize(
    "text",
    [
        '[[equivalent]]\noperator = "o"\nremoved = "a"\nadded = "b"\n',  # no reason
        '[[equivalent]]\noperator = "o"\nremoved = "a"\nadded = "b"\nreason = " "\n',
        '[[equivalent]]\noperator = "o"\nremoved = "a"\nadded = "b"\nreason = "r"\nline = 3\n',
        '[[equivalents]]\noperator = "o"\n',  # a misspelt table
        # a function that is no name, Class.method or <module>
        ENTRY + 'function = "f()"\n',
        ENTRY + 'function = ""\n',
        ENTRY + "function = 3\n",
    ],
)
def test_a_malformed_equivalents_entry_stops_the_benchmark(text: str) -> None:
    with pytest.raises(SystemExit):
        bench.parse_equivalents(text, "x.toml")


def test_every_equivalents_file_parses_and_names_an_engine_module() -> None:
    for path in sorted(bench.EQUIVALENTS_DIR.glob("*.toml")):
        assert (bench.ENGINE_SOURCE / f"{path.stem}.py").is_file(), path
        entries = bench.load_equivalents(f"{path.stem}.py")
        assert entries, f"{path}: no entries"
        assert all(e.operator.startswith("core/") for e in entries), path
        keys = [(e.key(), e.function) for e in entries]
        assert len(keys) == len(set(keys)), f"{path}: an entry is listed twice"
        source = (bench.ENGINE_SOURCE / f"{path.stem}.py").read_text(encoding="utf-8")
        names = bench.source_facts(source).function_names()
        assert bench.misnamed_functions(entries, names) == [], path


FUNCTIONS_SOURCE = """LIMIT = 3

def burn(key):
    if not plausible(key):
        return

class Store:
    def check(self, key):
        def inner():
            if not plausible(key):
                return
        return inner

def consume(key):
    if not plausible(key):
        raise ValueError(key)
"""

GUARD = "if not plausible(key):"
GUARD_KEPT = "if  plausible(key):"


def test_source_facts_name_the_innermost_enclosing_function() -> None:
    facts = bench.source_facts(FUNCTIONS_SOURCE)
    assert facts.function_at(1, 8) == "<module>"
    assert facts.function_at(4, 8) == "burn"
    assert facts.function_at(8, 8) == "Store.check"
    assert facts.function_at(10, 12) == "Store.check.inner"
    assert facts.function_at(15, 4) == "consume"
    assert facts.function_names() == {"burn", "Store.check", "Store.check.inner", "consume"}


def test_an_entry_with_a_function_matches_only_inside_it() -> None:
    """Three mutants with the same lines: the entry naming burn lists only burn's, so the
    executed check in consume still runs; an entry without a function matches the rest."""
    text = (
        '[[equivalent]]\noperator = "core/Op"\nremoved = "if not plausible(key):"\n'
        'added = "if  plausible(key):"\nreason = "burn is only reached by a variant"\n'
        'function = "burn"\n'
    )
    only_burn = bench.parse_equivalents(text, "x.toml")
    assert only_burn[0].function == "burn"
    mutants = [("core/Op", GUARD, GUARD_KEPT)] * 3
    functions = ["burn", "Store.check.inner", "consume"]
    matched, stale = bench.match_equivalents(mutants, only_burn, functions)
    assert matched == [only_burn[0], None, None] and stale == []
    # without the mutants' functions, an entry naming one matches nothing: it is stale
    matched, stale = bench.match_equivalents(mutants, only_burn)
    assert matched == [None, None, None] and stale == only_burn
    # beside an entry without a function, the one naming the mutant's function wins
    anywhere = bench.Equivalent("core/Op", GUARD, GUARD_KEPT, "everywhere else")
    matched, stale = bench.match_equivalents(mutants, [anywhere, *only_burn], functions)
    assert matched == [only_burn[0], anywhere, anywhere] and stale == []


def test_classify_matches_by_the_mutants_enclosing_function() -> None:
    facts = bench.source_facts(FUNCTIONS_SOURCE)
    entry = bench.Equivalent("core/Op", GUARD, GUARD_KEPT, "why", function="burn")
    mutants = [_mutant(line, GUARD, GUARD_KEPT) for line in (4, 15)]
    for mutant in mutants:
        mutant.function = facts.function_at(mutant.planned.line, 4)
    assert bench.classify(mutants, [entry], None) == []
    assert [bench._decided(m) for m in mutants] == ["equivalent", None]


def test_an_entry_naming_no_function_of_the_module_is_reported() -> None:
    names = bench.source_facts(FUNCTIONS_SOURCE).function_names()
    renamed = bench.Equivalent("core/Op", GUARD, GUARD_KEPT, "why", "eq/x.toml", "burn_key")
    kept = [
        bench.Equivalent("core/Op", GUARD, GUARD_KEPT, "why", "eq/x.toml", "burn"),
        bench.Equivalent("core/Op", "LIMIT = 3", "LIMIT = 4", "why", "eq/x.toml", "<module>"),
        bench.Equivalent("core/Op", GUARD, GUARD_KEPT, "why", "eq/x.toml"),
    ]
    assert bench.misnamed_functions([*kept, renamed], names) == [renamed]
    report = bench.format_report([], [], [], misnamed=[renamed])
    section = report.split("equivalents naming no function of the module")[1]
    assert "eq/x.toml  core/Op  in burn_key" in section and f"- {GUARD}" in section
    assert "stale equivalents" not in report


def _mutant(line: int, removed: str, added: str, switched: bool = False) -> object:
    planned = bench._Planned("job", "core/Op", 0, line, 4)
    return bench._Mutant(planned, "source", removed, added, "diff", switched)


def test_classify_marks_listed_unexecuted_and_leaves_switched_apart() -> None:
    entries = [bench.Equivalent("core/Op", "a < b", "a <= b", "boundary")]
    mutants = [
        _mutant(3, "a < b", "a <= b"),  # listed
        _mutant(4, "c", "not c"),  # executed: runs
        _mutant(9, "d", "not d"),  # never executed: survives without a run
        _mutant(9, "e", "not e", switched=True),  # switched wins over unexecuted
    ]
    stale = bench.classify(mutants, entries, frozenset({3, 4}), frozenset({3, 4, 9}))
    assert stale == []
    assert [bench._decided(m) for m in mutants] == ["equivalent", None, "survived", "switched"]
    assert [m.unexecuted for m in mutants] == [False, False, True, False]
    assert bench._decided(mutants[0], run_equivalents=True) is None
    # a line without bytecode (a signature's continuation) is never presumed unreachable
    bench.classify(mutants, entries, frozenset({3, 4}), frozenset({3, 4}))
    assert not mutants[2].unexecuted
    # untraced (--no-trace): nothing is unexecuted
    bench.classify(mutants, [], None)
    assert [bench._decided(m) for m in mutants] == [None, None, None, "switched"]


SIGNATURE_SOURCE = """def consume(
    conn, key,
    *, guarded=False
):
    return key
"""


def test_executable_lines_leave_out_a_signature_continuation() -> None:
    lines = bench.executable_lines(SIGNATURE_SOURCE)
    assert {1, 3, 5} <= lines  # the def, the default evaluated with it, the body
    assert 2 not in lines


def test_estimate_is_mutants_times_the_unmutated_run_over_jobs() -> None:
    table, total = bench.estimate([("request_keys.py", 60, 20.0), ("tokens.py", 10, 12.0)], 2)
    assert total == pytest.approx((60 * 20 + 10 * 12) / 2)
    assert (
        "request_keys.py: 60 mutants to run x 20.0s" in table and "total: at most 11.0 min" in table
    )


@dataclass(frozen=True)
class _Mark:
    args: tuple[str, ...]


class _Item:
    def __init__(self, name: str, *invariants: str) -> None:
        self.name = name
        self.invariants = invariants

    def iter_markers(self, name: str) -> list[_Mark]:
        assert name == "invariant"
        return [_Mark(self.invariants)] if self.invariants else []


def test_order_items_runs_likely_killers_first_and_keeps_order_otherwise() -> None:
    items = [
        _Item("expiry", "RK-EXPIRY"),
        _Item("replay", "RK-REPLAY", "RK-NO-NEXT-ON-REJECT"),
        _Item("unmarked"),
        _Item("boot1", "RK-BOOTSTRAP"),
        _Item("rotation", "RK-ROTATION", "RK-REPLAY"),
        _Item("boot2", "RK-BOOTSTRAP"),
    ]
    bench.order_items(items, ["RK-BOOTSTRAP", "RK-REPLAY", "RK-EXPIRY"])
    assert [i.name for i in items] == ["boot1", "boot2", "replay", "rotation", "expiry", "unmarked"]


def test_each_module_selects_catalogued_invariants_in_its_command() -> None:
    from seecodes_conformance.contract import load_catalog

    catalog = load_catalog()
    assert set(bench.MODULE_INVARIANTS) == set(bench.SECURITY_MODULES)
    for module, invariants in bench.MODULE_INVARIANTS.items():
        assert invariants and len(set(invariants)) == len(invariants), module
        assert set(invariants) <= set(catalog), module
        command = bench._command_for(bench.DEFAULT_TEST_COMMAND, module)
        assert f"-p mutation --mutation-order={','.join(invariants)}" in command
        assert all(f"--invariant {i}" in command for i in invariants)


def test_module_settings_reach_the_engine_and_select_catalogued_invariants(
    tmp_path: Path,
) -> None:
    """The settings name the variable the engine reads and a variant it knows; an extra run
    checks only invariants of its module, records its passed tests in a file of its own,
    appends its arguments and carries its environment, which reaches the engine copy's runs."""
    from seecodes_reference_engine.config import ENV_PERMIT_TTL
    from seecodes_reference_engine.faults import VARIANTS

    assert set(bench.MODULE_SETTINGS) <= set(bench.SECURITY_MODULES)
    (permit_run,) = bench.MODULE_SETTINGS["permits.py"].extra
    assert dict(permit_run.env) == {ENV_PERMIT_TTL: "4"}
    assert permit_run.invariants == ("PERMIT-LIFETIME",)
    for module, settings in bench.MODULE_SETTINGS.items():
        assert settings.why and settings.extra, module
        for extra in settings.extra:
            assert extra.invariants and set(extra.invariants) <= set(
                bench.MODULE_INVARIANTS[module]
            ), module
            if "--engine-variant" in extra.args:
                assert extra.args[extra.args.index("--engine-variant") + 1] in VARIANTS
    passed = tmp_path / "passed-launch.txt"
    (first, first_env), (second, second_env) = bench._commands_for(
        bench.DEFAULT_TEST_COMMAND, "launch.py", (bench.MUST_PASS_OPTION, passed)
    )
    assert f"{bench.MUST_PASS_OPTION}={passed}" in first and "--engine-variant" not in first
    assert second.endswith(" --engine-variant production-lifetimes")
    assert "--invariant LC-LIFETIME-MAX" in second and "--invariant LC-EXPIRY" not in second
    assert f"{bench.MUST_PASS_OPTION}={tmp_path / 'passed-launch-1.txt'}" in second
    assert first_env == second_env == ()
    (_, env), (lifetime, short) = bench._commands_for(bench.DEFAULT_TEST_COMMAND, "permits.py")
    assert env == () and short == ((ENV_PERMIT_TTL, "4"),)
    assert "--invariant PERMIT-LIFETIME" in lifetime and "--invariant PERMIT-MINT" not in lifetime
    assert bench._commands_for(bench.DEFAULT_TEST_COMMAND, "tokens.py") == [
        (bench._command_for(bench.DEFAULT_TEST_COMMAND, "tokens.py"), ())
    ]
    copy = bench.EngineCopy(tmp_path / "job-0")
    assert copy.environment(extra=short)[ENV_PERMIT_TTL] == "4"


def test_permits_selection_runs_the_launch_code_presented_as_a_permit() -> None:
    """LC-NOT-PERMIT's test presents a launch code where a permit goes: permits.verify refuses
    it, so it belongs to permits.py's selection (its suite and its invariant)."""
    command = bench._command_for(bench.DEFAULT_TEST_COMMAND, "permits.py")
    assert "suites/test_launch_codes.py" in command and "--invariant LC-NOT-PERMIT" in command


def test_a_module_s_runs_stop_at_the_first_that_fails_within_one_timeout(
    tmp_path: Path,
) -> None:
    copy = bench.EngineCopy(tmp_path / "job-0")
    marker = tmp_path / "ran.txt"
    ok = f"{sys.executable} -c pass"
    fail = f"{sys.executable} -c 'raise SystemExit(1)'"
    note = f'{sys.executable} -c \'open({str(marker)!r}, "a").write("x")\''
    run = bench.run_test_commands
    assert run([(ok, ()), (ok, ())], copy, 60)[0] == "survived"
    assert run([(ok, ()), (fail, ()), (note, ())], copy, 60)[0] == "killed"
    assert not marker.exists(), "a run after the killing one"
    # each run gets its own environment, and only its own
    show = f'{sys.executable} -c \'import os, sys; sys.exit(os.environ.get("X_SETTING") != "4")\''
    assert run([(show, (("X_SETTING", "4"),))], copy, 60)[0] == "survived"
    assert run([(show, (("X_SETTING", "4"),)), (show, ())], copy, 60)[0] == "killed"
    slow = f"{sys.executable} -c 'import time; time.sleep(30)'"
    assert run([(ok, ()), (slow, ())], copy, 3)[0] == "timeout"


def test_the_tracer_records_the_lines_a_process_executes(tmp_path: Path) -> None:
    copy = bench.EngineCopy(tmp_path / "job-0")
    trace = tmp_path / "trace.txt"
    program = (
        "from seecodes_reference_engine import tokens; tokens.plausible_credential('x')\n"
        "assert tokens.__file__.startswith(" + repr(str(copy.root)) + ")\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], env=copy.environment((trace, "tokens.py")),
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    source = (bench.ENGINE_SOURCE / "tokens.py").read_text(encoding="utf-8").splitlines()
    executed = bench.executed_lines(trace.read_text(encoding="ascii"))
    shape_check = next(i for i, t in enumerate(source, 1) if "return 0 < len(value)" in t)
    permit_body = next(i for i, t in enumerate(source, 1) if "return uuid.uuid4().hex + " in t)
    assert shape_check in executed
    assert permit_body not in executed  # never called
    assert bench.executed_lines("3\n4\nx\n") == frozenset({3, 4})
    # without a trace the environment turns the tracer off
    assert bench.TRACE_FILE not in copy.environment()


FACTS_SOURCE = """from __future__ import annotations

def check(engine: Engine, token: str | None) -> int | None:
    if token is None or engine.config.fault("skip"):
        return None
    if engine.config.variant("loose") and token:
        token = token.strip()
        return len(token)
    limit: int = 3 | 4
    return limit
"""


def test_source_facts_find_annotations_and_switched_lines() -> None:
    facts = bench.source_facts(FACTS_SOURCE)
    lines = FACTS_SOURCE.splitlines()
    signature = lines[2]
    assert facts.in_annotation(3, signature.index("str | None") + 4)  # the | of str | None
    assert facts.in_annotation(3, signature.index("int | None") + 4)  # the return annotation
    assert not facts.in_annotation(4, lines[3].index("is None"))  # code, not an annotation
    assert facts.in_annotation(9, lines[8].index("int"))  # AnnAssign annotation ...
    assert not facts.in_annotation(9, lines[8].index("|"))  # ... but its value is code
    # `token is None or fault(...)`: the or makes neither operand switched (line 4, 5)
    assert not any(facts.is_switched(4, col) for col in range(len(lines[3])))
    assert not facts.is_switched(5, lines[4].index("None"))
    # `variant(...) and token`: token is switched, the switch call itself is not
    assert facts.is_switched(6, lines[5].index("token:"))
    assert not facts.is_switched(6, lines[5].index("engine"))
    # the body runs only with the variant on; what follows it runs without
    assert facts.is_switched(7, lines[6].index("token"))
    assert facts.is_switched(8, lines[7].index("return"))
    assert not facts.is_switched(9, lines[8].index("3"))
    # without postponed annotations they are evaluated at definition time: real mutants
    evaluated = bench.source_facts(FACTS_SOURCE.replace("from __future__ import annotations", ""))
    assert not evaluated.in_annotation(3, signature.index("str | None") + 4)


HELPER_SOURCE = """def _alt(config):
    return config.variant("alt")

def key(config, reading):
    if fault("race") or (reading and fault("race-reads")):
        sleep(0)
    if fault("race") or reading:
        sleep(1)
    return uuid4().hex if _alt(config) else "sc_" + token()
"""


def test_source_facts_follow_switch_helpers_or_and_conditional_expressions() -> None:
    facts = bench.source_facts(HELPER_SOURCE)
    lines = HELPER_SOURCE.splitlines()
    assert facts.is_switched(6, lines[5].index("0"))  # both operands of the or need a switch
    assert not facts.is_switched(8, lines[7].index("1"))  # `or reading`: on without a switch
    assert not facts.is_switched(5, lines[4].index("fault"))  # the condition itself
    last = lines[8]
    assert facts.is_switched(9, last.index("uuid4"))  # _alt only returns a switch
    assert not facts.is_switched(9, last.index('"sc_"'))  # the else branch runs
    assert not facts.is_switched(9, last.index("_alt"))


# The replay check of request keys: a consumed key is refused.
REPLAY_CHECK = 'if state != "current" and not'
FLIPPED = 'if state == "current" and not'
ONE_TEST = (
    "{python} -m pytest suites/test_request_keys.py -x -q -p no:randomly --profile smoke"
    " --report-dir none -k test_bootstrapped_key_works_on_the_next_call"
)


def test_a_known_mutant_in_the_copy_is_killed_and_the_clean_copy_is_not(tmp_path: Path) -> None:
    """The engine the suites start imports the copy, not the worktree (the editable install)."""
    copy = bench.EngineCopy(tmp_path / "job-0")
    module = "request_keys.py"
    worktree_source = (bench.ENGINE_SOURCE / module).read_text(encoding="utf-8")
    assert worktree_source.count(REPLAY_CHECK) == 1, "the known mutant's line moved: update it"
    command = ONE_TEST.format(python=sys.executable)

    clean, output = bench.run_test_command(command, copy, timeout=300)
    assert clean == "survived", output

    with copy.mutated(module, worktree_source.replace(REPLAY_CHECK, FLIPPED)) as path:
        assert FLIPPED in path.read_text(encoding="utf-8")
        outcome, output = bench.run_test_command(command, copy, timeout=300)
    assert outcome == "killed", output
    assert (copy.package / module).read_text(encoding="utf-8") == worktree_source  # restored
    assert (bench.ENGINE_SOURCE / module).read_text(encoding="utf-8") == worktree_source


SLEEPER = """
import pathlib, subprocess, sys, time
# like the bundled engine: a child in a session of its own, out of reach of the group kill,
# here also holding the output pipe
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"],
                         start_new_session=True)
pathlib.Path(sys.argv[1]).write_text(str(child.pid))
time.sleep(300)
"""


def test_a_run_past_its_timeout_counts_as_timeout_and_leaves_no_process(tmp_path: Path) -> None:
    copy = bench.EngineCopy(tmp_path / "job-0")
    script, pid_file = tmp_path / "sleeper.py", tmp_path / "child.pid"
    script.write_text(SLEEPER, encoding="utf-8")
    started = time.monotonic()
    # 15 s: time enough for the child to start on a busy machine, far below its 300 s sleep
    outcome, _ = bench.run_test_command(f"{sys.executable} {script} {pid_file}", copy, timeout=15)
    assert outcome == "timeout"
    assert time.monotonic() - started < 120, "the timeout waited for the child's pipe"
    assert pid_file.is_file(), "the child never started: the test proved nothing"
    deadline = time.monotonic() + 30
    while bench._processes_marked(str(copy.root)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert bench._processes_marked(str(copy.root)) == []


def test_a_command_that_cannot_start_is_incompetent(tmp_path: Path) -> None:
    copy = bench.EngineCopy(tmp_path / "job-0")
    outcome, detail = bench.run_test_command(str(tmp_path / "no-such-exe"), copy, timeout=10)
    assert (outcome, detail.startswith("test command did not start")) == ("incompetent", True)


def test_cosmic_ray_plans_and_applies_mutants_of_an_engine_module(tmp_path: Path) -> None:
    pytest.importorskip("cosmic_ray", reason="the mutation extra: pip install -e '.[mutation]'")
    module_path = bench.ENGINE_SOURCE / "tokens.py"
    source = module_path.read_text(encoding="utf-8")
    planned = bench._plan(module_path, tmp_path / "tokens.sqlite")
    assert planned and all(1 <= p.line <= len(source.splitlines()) for p in planned)
    applied = [bench._mutant_source(p, source) for p in planned[:5]]
    assert all(mutated is not None and mutated != source for mutated in applied)


def test_a_lost_verdict_is_a_not_verified_skip_about_the_engine() -> None:
    kind = bench.lost_verdict_kind
    lifetime = "Skipped: not verified (RK-EXPIRY): lifetime: request keys live 9e9 s here"
    assert kind(lifetime) == "lifetime"
    assert kind("not verified: capability: the target offers no restart") == "capability"
    # as pytest reports it: the exception's qualified name first
    raised = "seecodes_conformance.outcomes.NotVerified: not verified (RK-EXPIRY): lifetime: 9e9 s"
    assert kind(raised) == "lifetime"
    # the machine or the network, not the mutant: never a kill
    assert kind("Skipped: not verified (RK-RACE): unsynchronized: 0 of 2 bursts") is None
    assert kind("not verified (RK-EXPIRY): throttled: 429 while bootstrapping") is None
    assert kind("Skipped: no state file") is None


def test_the_command_records_passed_tests_on_the_clean_run_and_checks_them_after(
    tmp_path: Path,
) -> None:
    passed = tmp_path / "passed.txt"
    record = bench._command_for(
        bench.DEFAULT_TEST_COMMAND, "tokens.py", (bench.RECORD_OPTION, passed)
    )
    check = bench._command_for(
        bench.DEFAULT_TEST_COMMAND, "tokens.py", (bench.MUST_PASS_OPTION, passed)
    )
    assert f"{bench.RECORD_OPTION}={passed}" in record
    assert f"{bench.MUST_PASS_OPTION}={passed}" in check
