"""The ``seecodes-conformance`` command: the installed suites, configured as in a checkout.

A vendor who ``pip install``-s the harness has no repository root, so neither its
pyproject.toml (``addopts``, ``xfail_strict``) nor its ``suites/`` folder. This command runs
pytest on the suites shipped in the package (``seecodes_conformance.suites``) with the packaged
``suites.ini``, which says what pyproject.toml's ``[tool.pytest.ini_options]`` says in a checkout.
The ini file and the rootdir are given explicitly, so whatever the working directory holds (a
pytest.ini, a pyproject.toml, a conftest.py of the vendor's own project) changes nothing; the
reports still go to ``./reports`` of the working directory, as ``--report-dir`` says.

Every other argument goes to pytest unchanged, options included
(``seecodes-conformance --base-url=https://staging.example --profile nightly``). A test
selection is written as in a checkout, ``suites/test_runs.py::test_x``: node ids are relative to
the folder holding ``suites/``, so the ids in reports and replay commands are the same whether
the harness runs from a checkout or from an installed copy.

pytest runs in a child process: started in this one, it would find the harness already imported
(this module) and warn that it cannot rewrite its assertions.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["PROGRAM", "SUITES", "ini_file", "installed", "main", "pytest_args", "suites_dir"]

PROGRAM = "seecodes-conformance"
SUITES = "suites"  # how a selection names the suites folder, in a checkout and here alike
_SUITES_PACKAGE = "seecodes_conformance.suites"
_INI = "suites.ini"
_HELP_HEADER = (
    f"{PROGRAM} [options] [suites/...]: the conformance suites installed with the harness, run "
    "by pytest with the checkout's configuration. pytest's help follows (its usage line names "
    "pytest); the harness's options are under 'SeeCodes conformance'.\n"
)
# Options whose value is compared as written (a node id prefix, an expression), never a path.
_VERBATIM_VALUE_OPTIONS = frozenset({"--deselect", "-k", "-m"})


def suites_dir() -> Path:
    """The folder of the conformance suites: inside the installed package, or the checkout's
    ``suites/`` under an editable install."""
    package = importlib.import_module(_SUITES_PACKAGE)
    return Path(next(iter(package.__path__)))


def ini_file() -> Path:
    """The packaged pytest configuration (pyproject.toml's ``[tool.pytest.ini_options]``)."""
    return Path(__file__).with_name(_INI)


def installed() -> bool:
    """The suites are a copy installed with the package (a wheel), not a checkout's folder: then
    only this command runs them, and a plain ``pytest`` does not know where they are."""
    return suites_dir().parent == Path(__file__).parent


def _names_suites(arg: str) -> bool:
    path = arg.split("::", 1)[0].replace("\\", "/")
    return path.rstrip("/") == SUITES or path.startswith(SUITES + "/")


def pytest_args(argv: Sequence[str]) -> list[str]:
    """pytest's command line for ``seecodes-conformance ARGV``: the packaged ini file, the
    rootdir above the suites, every argument passed through, and the suites as the test path
    unless ARGV selects some of them (``suites/...``, resolved against the installed suites)."""
    suites = suites_dir()
    root = suites.parent
    args = ["-c", str(ini_file()), f"--rootdir={root}", f"--confcutdir={root}"]
    selected = False
    previous = ""
    for arg in argv:
        if _names_suites(arg) and previous not in _VERBATIM_VALUE_OPTIONS:
            args.append(str(root / arg))
            selected = True
        else:
            args.append(arg)
        previous = arg
    if not selected:
        args.append(str(suites))
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the suites; pytest's exit status is the command's (1 failed, 7 target unavailable)."""
    given = sys.argv[1:] if argv is None else list(argv)
    if "-h" in given or "--help" in given:
        sys.stdout.write(_HELP_HEADER)
        sys.stdout.flush()
    args = pytest_args(given)
    child = subprocess.Popen([sys.executable, "-m", "pytest", *args])
    while True:
        try:
            return child.wait()
        except KeyboardInterrupt:  # the child got it too: let it finish its reports and say how
            continue
