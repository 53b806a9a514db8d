"""The CI examples in examples/ci/ name only options the harness has.

Every ``seecodes-conformance`` or ``pytest`` command line in them (in a job's script or in a
comment showing an alternative) is checked against the option list of ``settings.py``, so a
renamed or removed option breaks this test rather than a vendor's nightly job.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from seecodes_conformance.settings import OPTIONS
from suite_runner import ROOT

EXAMPLES = sorted((ROOT / "examples" / "ci").glob("*.yml"))
PROGRAMS = ("seecodes-conformance", "pytest")
# Registered by the plugin beside the Option list (--base-url may be pytest-base-url's).
OTHER_HARNESS_OPTIONS = {"--base-url", "--list-invariants"}
KNOWN = {"--" + option.name for option in OPTIONS} | OTHER_HARNESS_OPTIONS
# Options docs/certification-guide.md documents whose Option is still being added: expected
# missing only while the real option list lacks them (xfail, never a silent pass).
LANDING = {"--state-file"}


SCRIPT_KEYS = {"run", "script", "before_script", "after_script"}  # GitHub Actions, GitLab CI


def _scripts(node: object, in_script: bool = False) -> Iterator[str]:
    """The shell scripts of a workflow: the strings under its run/script keys."""
    if isinstance(node, str) and in_script:
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _scripts(value, in_script or key in SCRIPT_KEYS)
    elif isinstance(node, list):
        for item in node:
            yield from _scripts(item, in_script)


def command_lines(text: str) -> list[list[str]]:
    """The words of every harness command line in a YAML file: in its scripts, and in its
    comments (``#   seecodes-conformance ...`` shows an alternative), continuations joined."""
    comments = [line.strip()[1:] for line in text.splitlines() if line.strip().startswith("#")]
    commands = []
    for source in [*_scripts(yaml.safe_load(text)), "\n".join(comments)]:
        for line in source.replace("\\\n", " ").splitlines():
            try:
                words = shlex.split(line)
            except ValueError:  # prose in a comment, an apostrophe
                continue
            if words and words[0] in PROGRAMS:
                commands.append(words)
    return commands


def long_options(words: list[str]) -> list[str]:
    return [word.split("=", 1)[0] for word in words[1:] if word.startswith("--")]


def test_there_are_examples_for_both_ci_systems() -> None:
    assert [path.name for path in EXAMPLES] == [
        "github-actions-nightly.yml",
        "gitlab-ci-nightly.yml",
    ]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name)
def test_every_option_an_example_names_exists(example: Path) -> None:
    commands = command_lines(example.read_text(encoding="utf-8"))

    assert commands, f"{example.name} runs no seecodes-conformance command"
    unknown = {opt for words in commands for opt in long_options(words)} - KNOWN
    assert not unknown - LANDING, f"{example.name} names options the harness does not have: " + (
        ", ".join(sorted(unknown - LANDING))
    )
    if unknown:
        pytest.xfail(f"not in settings.OPTIONS yet (documented, being added): {sorted(unknown)}")


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name)
def test_the_nightly_job_keeps_its_state_file_and_runs_nightly(example: Path) -> None:
    """What the certification guide says of the examples: the state file of the deferred
    expiry checks is kept in the CI cache between runs, under the nightly profile."""
    text = example.read_text(encoding="utf-8")
    scripts = [words for words in command_lines(text) if words[0] == "seecodes-conformance"]

    assert all("--profile=nightly" in words for words in scripts)
    assert all("--state-file=.seecodes/state.json" in words for words in scripts)
    assert ".seecodes" in text and "cache" in text


def test_the_checker_sees_a_misspelled_option() -> None:
    text = "job:\n  script:\n    - seecodes-conformance --profile=nightly --proflie nightly\n"
    (words,) = command_lines(text)

    assert set(long_options(words)) - KNOWN == {"--proflie"}


def test_the_jobs_keep_the_reports_and_tell_an_outage_from_a_regression() -> None:
    """Reports are uploaded whatever the verdict; exit 7 (target unavailable) is flagged apart
    from exit 1 (the gate failed), which fails the job."""
    github = yaml.safe_load((ROOT / "examples/ci/github-actions-nightly.yml").read_text("utf-8"))
    steps = {step.get("name"): step for step in github["jobs"]["conformance"]["steps"]}
    upload = steps["Upload the reports"]
    assert upload["if"] == "always()" and "reports/" in upload["with"]["path"]
    gate = steps["Gate"]["run"]
    assert "1) " in gate and "7) " in gate and "exit 1" in gate

    gitlab = yaml.safe_load((ROOT / "examples/ci/gitlab-ci-nightly.yml").read_text("utf-8"))
    job = gitlab["seecodes-nightly"]
    assert job["artifacts"]["when"] == "always" and "reports/" in job["artifacts"]["paths"]
    assert job["allow_failure"] == {"exit_codes": [7]}
    assert any(cache["paths"] == [".seecodes/"] and cache["when"] == "always"
               for cache in job["cache"])  # fmt: skip
