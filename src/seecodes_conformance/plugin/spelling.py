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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import pytest
from _pytest.config.findpaths import determine_setup

from seecodes_conformance.settings import OPTIONS

# Every harness option that takes a value (pytest-base-url's --base-url included).
VALUED = frozenset({"--base-url", *("--" + option.name for option in OPTIONS)})
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


def pytest_cmdline_main(config: pytest.Config) -> int | None:
    if config.getoption("help", default=False) or config.getoption("version", default=0):
        return None
    if hasattr(config, "workerinput"):  # the controller checked the command line already
        return None
    misread = misread_option(config)
    if misread is not None:
        raise pytest.UsageError(misread.message())
    return None
