"""A vendor can ``pip install`` the harness and run it outside a checkout.

The wheel is built from a copy of this tree (so nothing a previous build left in ``build/`` can
hide a missing file), installed with its dependencies from the package index into a fresh
virtual environment, and its ``seecodes-conformance`` command is run from an empty folder
against the bundled engine (the default target). Nothing of the checkout is importable there.

One test does it all: building and installing take most of its time, and a second test in this
module could land on another xdist worker and build everything again. The run is the smoke
profile on a few invariants from several suites (a Forge-token, permit, run, launcher and
tenancy check, the fuzz and state-machine suites among them), which keeps it to a minute or two.
It needs the package index: without a network it is skipped, unless ``CI`` is set (CI has the
index, so there a failure to install is a failure).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import venv
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from suite_runner import ROOT

# Not part of the distribution, or output of earlier builds and runs.
_NOT_COPIED = shutil.ignore_patterns(
    ".git", ".venv", ".tox", "build", "dist", "reports", "*.egg-info", "__pycache__",
    ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis",
)  # fmt: skip
INVARIANTS = ("PERMIT-MINT", "RUN-START", "LAUNCHER-PAGE", "TENANT-ISOLATION")
INSTALL_TIMEOUT_S = 900  # dependencies from the index; the pip cache is reused when there is one
RUN_TIMEOUT_S = 600


def _index_reachable() -> bool:
    """Whether the package index answers at all (its host accepts a TCP connection)."""
    index = os.environ.get("PIP_INDEX_URL") or "https://pypi.org/simple"
    parts = urlsplit(index)
    if parts.scheme == "file":
        return True
    try:
        with socket.create_connection((parts.hostname or "pypi.org", parts.port or 443), timeout=5):
            return True
    except OSError:
        return False


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment without anything pointing at this checkout or configuring a run."""
    dropped = ("SEECODES_", "PYTEST_", "PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    return env | extra


def _run(command: list[str], cwd: Path, timeout: float, env: dict[str, str]) -> str:
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{' '.join(command)} -> exit {done.returncode}\n{output[-6000:]}"
    return output


def test_the_installed_wheel_runs_the_suites_from_any_folder(tmp_path: Path) -> None:
    if not os.environ.get("CI") and not _index_reachable():
        pytest.skip("no network to reach the package index for the wheel's dependencies (CI unset)")
    env = _clean_env()

    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=_NOT_COPIED)
    wheels = tmp_path / "wheels"
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(source)],
        tmp_path, INSTALL_TIMEOUT_S, env,
    )  # fmt: skip
    (wheel,) = wheels.glob("seecodes_conformance-*.whl")

    environment = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(environment)
    scripts = environment / ("Scripts" if os.name == "nt" else "bin")
    python = scripts / "python"
    _run([str(python), "-m", "pip", "install", "-q", str(wheel)], tmp_path,
         INSTALL_TIMEOUT_S, env)  # fmt: skip

    empty = tmp_path / "elsewhere"
    empty.mkdir()
    venv_env = _clean_env(PATH=f"{scripts}{os.pathsep}{os.environ.get('PATH', '')}")
    where = _run(
        [str(python), "-c", "from seecodes_conformance import cli; "
         "print(cli.installed(), cli.suites_dir())"],
        empty, 60, venv_env,
    )  # fmt: skip
    installed, suites = where.split()
    assert installed == "True" and Path(suites).is_relative_to(environment), where

    selection = [f"--invariant={invariant}" for invariant in INVARIANTS]
    output = _run(
        [str(scripts / "seecodes-conformance"), "--profile", "smoke", "-q", *selection],
        empty, RUN_TIMEOUT_S, venv_env,
    )  # fmt: skip

    counts = {word: int(n) for n, word in re.findall(r"(\d+) (passed|failed|error)", output)}
    assert counts.get("passed", 0) > 0 and not counts.get("failed"), output[-3000:]
    (report,) = [p for p in (empty / "reports").iterdir() if not p.is_symlink()]
    certification = json.loads((report / "certification.json").read_text(encoding="utf-8"))
    assert certification["run"]["profile"]["name"] == "smoke"
    assert certification["run"]["embedded_engine"] and certification["exit_status"] == 0
    tests = [test["id"] for test in certification["tests"]]
    assert tests and all(test.startswith("suites/") for test in tests), tests
