"""The changelog and the package agree on the harness version and the protocol it checks."""

from __future__ import annotations

import re
import tomllib

from seecodes_conformance import PROTOCOL_VERSION, __version__
from suite_runner import ROOT

RELEASE = re.compile(r"^## \[(?P<version>\d+\.\d+\.\d+)\] \(protocol (?P<protocol>[\d.]+)\)$")
UNRELEASED = re.compile(r"^## \[Unreleased\] \(protocol (?P<protocol>[\d.]+)\)$")


def _headings() -> list[str]:
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line.startswith("## ")]


def test_every_changelog_entry_names_its_protocol_version() -> None:
    headings = _headings()
    assert headings, "CHANGELOG.md has no entries"
    for heading in headings:
        assert RELEASE.match(heading) or UNRELEASED.match(heading), heading


def test_the_newest_release_is_the_package_version_and_checks_this_protocol() -> None:
    releases = [m for m in map(RELEASE.match, _headings()) if m]
    assert releases, "CHANGELOG.md names no release"
    newest = releases[0]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert newest["version"] == __version__ == project["version"]
    assert newest["protocol"] == PROTOCOL_VERSION


def test_unreleased_changes_name_the_protocol_they_check() -> None:
    unreleased = [m for m in map(UNRELEASED.match, _headings()) if m]
    assert all(m["protocol"] == PROTOCOL_VERSION for m in unreleased)
