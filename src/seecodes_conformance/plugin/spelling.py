"""Checks of the command line made before anything starts.

An option value spelled with a space: pytest chooses its configuration (rootdir, ini file,
``testpaths``, ``addopts``) before plugins have added their options, so in
``pytest --signing-key /abs/key.pem`` it takes ``/abs/key.pem`` for a test path. The rootdir
becomes ``/abs``, the project's ini file is never read, and a plain ``pytest`` then runs whatever
lies under the invocation directory (the harness's own tests) instead of the suites. Once the
plugin's options are known the value itself is parsed right, but the configuration was chosen
by then, so the run stops here with the spelling that works (``--signing-key=/abs/key.pem``).
The check fires only when the value actually changed pytest's choice: ``--report-dir none`` or a
path inside the project is harmless and accepted.

Forge credentials given on the command line that cannot serve the run are refused here too,
before an engine starts or a test runs: static or command tokens under several xdist workers
(usage error, exit 4), and static tokens that are expired or will expire before the run can end
(exit 7, like any credentials the target would refuse).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import pytest
from _pytest.config.findpaths import determine_setup

from seecodes_conformance.credentials import parallel_problem, static_token_problem
from seecodes_conformance.plugin._stash import settings_of
from seecodes_conformance.plugin.xdist import session_needs_target
from seecodes_conformance.settings import OPTIONS, wants_invariant_list
from seecodes_conformance.target import EXIT_TARGET_UNAVAILABLE

# Every harness option that takes a value (pytest-base-url's --base-url included); a flag
# option (``--name`` alone means on) takes its value only with '='.
VALUED = frozenset(
    {"--base-url", *("--" + opt.name for opt in OPTIONS if not getattr(opt, "flag", False))}
)
SECRET_VALUED = {"--forge-token": "TENANT=TOKEN"}  # shown by its shape, never its value


def spaced_values(args: Sequence[str]) -> list[tuple[str, str]]:
    """(option, value) for each harness option written ``--name value`` rather than ``=``."""
    return [(opt, value) for opt, value in pairwise(args) if opt in VALUED and value[:1] != "-"]


@dataclass(frozen=True)
class Misread:
    """A spaced option whose value pytest took for a test path, and what it chose instead."""

    option: str
    value: str
    rootdir: Path  # what pytest chose
    inifile: Path | None
    meant_rootdir: Path  # what it would have chosen without the value
    meant_inifile: Path | None

    def message(self) -> str:
        shown = SECRET_VALUED.get(self.option, self.value)
        meant = self.meant_inifile or self.meant_rootdir
        return (
            f"write {self.option}={shown} (with '='): before pytest knows {self.option} it reads "
            f"{shown!r} as a test path, so it chose the rootdir {self.rootdir} "
            f"({self.inifile or 'no ini file'}) instead of {meant}, whose testpaths and addopts "
            "it would ignore"
        )


def misread_option(config: pytest.Config) -> Misread | None:
    """The spaced option whose value changed the rootdir or ini file pytest chose, if any."""
    params = config.invocation_params
    spaced = spaced_values([str(arg) for arg in params.args])
    if not spaced:
        return None
    option = config.option
    try:
        rootpath, inipath, *_ = determine_setup(
            inifile=option.inifilename,
            override_ini=option.override_ini,
            args=[str(arg) for arg in option.file_or_dir or []],
            rootdir_cmd_arg=option.rootdir or None,
            invocation_dir=params.dir,
        )
    except Exception:  # a later pytest changed its private API: say nothing rather than guess
        return None
    if (rootpath, inipath) == (config.rootpath, config.inipath):
        return None
    existing = [(opt, value) for opt, value in spaced if (Path(params.dir) / value).exists()]
    name, value = (existing or spaced)[0]
    return Misread(name, value, config.rootpath, config.inipath, rootpath, inipath)


def xdist_workers(config: pytest.Config) -> int:
    """How many xdist workers this run starts (1 without xdist). xdist's own command-line hook
    runs first and turns ``-n auto`` into a count and ``-n N`` into N ``--tx`` specs."""
    if not config.pluginmanager.hasplugin("xdist"):
        return 1
    count = config.getoption("numprocesses", default=None)
    if count in ("auto", "logical"):  # not resolved yet
        return os.cpu_count() or 1
    if config.getoption("dist", default="no") == "no" and not count:
        return 1
    total = 0
    for spec in config.getoption("tx", default=None) or []:
        times, star, _ = str(spec).partition("*")
        total += int(times) if star and times.isdigit() else 1
    return max(total, int(count or 0), 1)


def _uses_forge_credentials(config: pytest.Config) -> bool:
    """A run of the suites: not a listing, a collection or the harness's own tests."""
    if wants_invariant_list(config) or config.getoption("collectonly", default=False):
        return False
    return session_needs_target(config)


def pytest_cmdline_main(config: pytest.Config) -> int | None:
    if config.getoption("help", default=False) or config.getoption("version", default=0):
        return None
    if hasattr(config, "workerinput"):  # the controller checked the command line already
        return None
    misread = misread_option(config)
    if misread is not None:
        raise pytest.UsageError(misread.message())
    if not _uses_forge_credentials(config):
        return None
    settings = settings_of(config)
    problem = parallel_problem(settings.forge_source, xdist_workers(config))
    if problem:
        raise pytest.UsageError(problem)
    if settings.forge_source == "static":
        problem = static_token_problem(settings.forge_tokens, settings.profile.name)
        if problem:
            sys.stderr.write(f"seecodes: Forge credentials refused: {problem}\n")
            return EXIT_TARGET_UNAVAILABLE
    return None
