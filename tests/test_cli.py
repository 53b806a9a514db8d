"""The ``seecodes-conformance`` command runs the suites as a checkout's plain ``pytest`` does.

Here against the editable install (fast); tests/test_wheel_install.py proves the same from a
wheel installed in a fresh virtual environment.
"""

from __future__ import annotations

import configparser
import os
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from seecodes_conformance import cli, replay
from seecodes_conformance.profiles import PROFILES
from seecodes_conformance.settings import Settings
from suite_runner import ROOT

HOSTILE_CONFTEST = 'raise RuntimeError("the working directory\'s conftest.py was loaded")\n'
HOSTILE_INI = "[pytest]\naddopts = --an-option-nobody-defines\n"


def test_the_packaged_ini_says_what_pyproject_says() -> None:
    """suites.ini is the checkout's [tool.pytest.ini_options] minus testpaths (the command names
    the suites itself): an option added to one and not the other would make an installed run
    differ from a checkout's."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    checkout = dict(pyproject["tool"]["pytest"]["ini_options"])
    checkout.pop("testpaths")
    ini = configparser.ConfigParser()
    ini.read(cli.ini_file(), encoding="utf-8")
    packaged = dict(ini["pytest"])

    assert set(packaged) == set(checkout)
    for key, value in checkout.items():
        if isinstance(value, list):
            assert shlex.split(packaged[key]) == value, key
        elif isinstance(value, bool):
            assert packaged[key] == str(value).lower(), key
        else:
            assert packaged[key] == str(value), key


def test_the_suites_are_the_checkouts_under_an_editable_install() -> None:
    assert cli.suites_dir() == ROOT / "suites"
    assert not cli.installed()


def test_arguments_pass_through_and_the_suites_are_the_test_path() -> None:
    args = cli.pytest_args(["--base-url", "https://staging.example", "--profile", "nightly"])

    assert args[:4] == ["-c", str(cli.ini_file()), f"--rootdir={ROOT}", f"--confcutdir={ROOT}"]
    assert args[4:] == [
        "--base-url", "https://staging.example", "--profile", "nightly", str(ROOT / "suites"),
    ]  # fmt: skip


def test_a_selection_names_the_suites_as_in_a_checkout() -> None:
    """``suites/...`` is resolved against the suites the command runs, wherever it is started;
    a node id given to --deselect, or a -k expression, is compared as written, so it stays."""
    args = cli.pytest_args(
        ["suites/test_runs.py::test_x[a]", "--deselect", "suites/test_data.py", "-k", "suites"]
    )

    assert args[4:] == [
        str(ROOT / "suites/test_runs.py::test_x[a]"), "--deselect", "suites/test_data.py",
        "-k", "suites",
    ]  # fmt: skip


def _settings(**fields: object) -> Settings:
    defaults = {
        "profile": PROFILES["ci"],
        "base_url": None,
        "engine_faults": (),
        "engine_variants": (),
        "forge_source": "test-issuer",
    }
    return cast(Settings, SimpleNamespace(**(defaults | fields)))


def test_the_replay_command_names_the_program_that_runs_the_suites(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    selection = "suites/test_runs.py::test_x"

    in_checkout = replay.replay_command(_settings(), selection)
    monkeypatch.setattr(replay, "installed", lambda: True)
    from_wheel = replay.replay_command(_settings(base_url="https://s.example"), selection)

    assert in_checkout == f"pytest {selection} --profile=ci"
    assert (
        from_wheel == f"seecodes-conformance {selection} --profile=ci --base-url=https://s.example"
    )


def test_the_command_ignores_the_working_directorys_configuration(tmp_path: Path) -> None:
    """A vendor's project folder with its own conftest.py and pytest.ini: neither is read, the
    node ids are the checkout's, and nothing is written outside ./reports."""
    (tmp_path / "conftest.py").write_text(HOSTILE_CONFTEST, encoding="utf-8")
    (tmp_path / "pytest.ini").write_text(HOSTILE_INI, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SEECODES_", "PYTEST_"))}

    done = subprocess.run(
        [sys.executable, "-m", "seecodes_conformance", "--collect-only", "-q", "--profile",
         "smoke", "suites/test_surface.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=180, check=False, env=env,
    )  # fmt: skip

    assert done.returncode == 0, done.stdout + done.stderr
    collected = [line for line in done.stdout.splitlines() if "::" in line]
    assert collected and all(line.startswith("suites/test_surface.py::") for line in collected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["conftest.py", "pytest.ini"]


def test_help_says_what_the_command_runs_before_pytests_help(
    capfd: pytest.CaptureFixture[str],
) -> None:
    status = cli.main(["--help"])

    out = capfd.readouterr().out
    assert status == 0
    assert out.startswith("seecodes-conformance [options] [suites/...]: ")
    assert "--base-url" in out and "SeeCodes conformance" in out
