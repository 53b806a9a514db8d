"""Where the packaged data lives.

`contract/` and `fixtures/forge/` are mapped into the distribution as data-only sub-packages
(see pyproject.toml), so the same lookup works from a source checkout, an editable install and a
wheel installed elsewhere.
"""

from __future__ import annotations

import importlib
from pathlib import Path


def _package_dir(name: str) -> Path:
    module = importlib.import_module(name)
    return Path(next(iter(module.__path__)))


def contract_dir() -> Path:
    """The folder holding openapi.json, schemas/ and invariants.yaml."""
    return _package_dir("seecodes_conformance._contract")


def forge_dir() -> Path:
    """The folder holding the test issuer's keys (TEST ONLY)."""
    return _package_dir("seecodes_conformance._forge")
