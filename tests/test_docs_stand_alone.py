"""The README and the guides stand alone in a clone: every file they name is in the repository."""

from __future__ import annotations

import re

import pytest

from suite_runner import ROOT

DOCUMENTS = ["README.md", "ARCHITECTURE.md", "CHANGELOG.md", "docs/certification-guide.md"]
# Paths under these top-level folders name files of the repository (reports/ holds run output).
REPOSITORY_FOLDERS = ("contract", "fixtures", "tests", "suites", "src", "docs", "examples",
                      "benchmarks", ".ci")  # fmt: skip
LINK = re.compile(r"\]\((?P<target>[^)#\s]+)(?:#[^)]*)?\)")
QUOTED_PATH = re.compile(r"`(?P<path>[A-Za-z_.][\w./-]*/[\w./-]*)`")


def _named_paths(text: str) -> set[str]:
    paths = {m["target"] for m in LINK.finditer(text) if "://" not in m["target"]}
    paths |= {
        m["path"].rstrip("/")
        for m in QUOTED_PATH.finditer(text)
        if m["path"].split("/", 1)[0] in REPOSITORY_FOLDERS
    }
    return paths


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_file_a_document_names_exists(document: str) -> None:
    path = ROOT / document
    assert path.is_file(), f"{document} is missing"
    missing = sorted(
        named
        for named in _named_paths(path.read_text(encoding="utf-8"))
        if not (path.parent / named).exists() and not (ROOT / named).exists()
    )
    assert not missing, f"{document} names files that are not in the repository: {missing}"


def test_the_checker_sees_a_missing_file() -> None:
    assert _named_paths("see [the guide](docs/nowhere.md) and `fixtures/forge/none.json`") == {
        "docs/nowhere.md",
        "fixtures/forge/none.json",
    }
