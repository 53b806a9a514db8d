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
    outcome: str, line: int, removed: str = "a != b", added: str = "a == b", switched: bool = False
) -> object:
    return bench.MutantResult(
        "request_keys.py", line, "core/Op", outcome, removed, added, switched=switched
    )


def test_report_counts_each_outcome_and_lists_every_survivor() -> None:
    results = [
        _result("killed", 10),
        _result("killed", 11),
        _result("timeout", 12),
        _result("survived", 40, 'if state != "current":', 'if state == "current":'),
        _result("survived", 7, "if x and on:", "if not x and on:", switched=True),
        bench.MutantResult("request_keys.py", 50, "core/Op", "incompetent", detail="no start"),
    ]
    counted = bench.tally("request_keys.py", 115, results, equivalent=11)
    assert counted.counts == {"killed": 2, "survived": 2, "timeout": 1, "incompetent": 1}
    assert counted.score == pytest.approx(3 / 5)  # incompetent mutants are not judged
    report = bench.format_report([counted], results)
    row = next(line for line in report.splitlines() if line.startswith("request_keys.py "))
    assert row.split() == ["request_keys.py", "6/115", "2", "2", "1", "1", "60%"]
    assert "surviving mutants: 2" in report
    survivors = report.split("surviving mutants: 2", 1)[1]
    # sorted by line, each with file:line, operator and the changed line
    first = survivors.index("fixtures/reference_engine/request_keys.py:7  core/Op")
    second = survivors.index("fixtures/reference_engine/request_keys.py:40  core/Op")
    assert first < second
    assert '- if state != "current":' in survivors and '+ if state == "current":' in survivors
    assert survivors.count("fault or variant switch") == 1  # only the switched survivor
    assert "request_keys.py: 11 more mutants inside annotations, not run" in report
    assert "request_keys.py:50  core/Op: no start" in report
    for killed_line in (":10 ", ":11 ", ":12 "):
        assert killed_line not in survivors


def test_report_of_a_module_with_no_judged_mutant_has_no_score() -> None:
    counted = bench.tally("tokens.py", 0, [])
    assert counted.score is None
    report = bench.format_report([counted], [])
    assert "n/a" in report and "surviving mutants: 0" in report


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
