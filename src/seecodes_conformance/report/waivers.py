"""Waivers: invariants a team allows to fail for a while, each with a reason and an expiry date.

File format (YAML)::

    waivers:
      - invariant: RK-RACE
        reason: "double spend under load; fix tracked in ENG-123"
        expires: 2026-03-31        # the last day the waiver holds

A waived failure is reported as waived and does not fail the gate. An expired waiver fails the
gate, and so does a waiver whose invariant now passes (like a strict xfail): delete it.

The format is stated in waivers.schema.json (next to this module), so tools can check a waiver
file too; only an invariant waived twice is caught here, and the gate judges ids and expiry.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from seecodes_conformance.contract import explain


class WaiverError(ValueError):
    """The waiver file is malformed; the message names the entry."""


@dataclass(frozen=True)
class Waiver:
    invariant: str
    reason: str
    expires: dt.date

    def expired(self, today: dt.date) -> bool:
        return today > self.expires

    def as_dict(self) -> dict[str, str]:
        return {"reason": self.reason, "expires": self.expires.isoformat()}


@cache
def _validator() -> Draft202012Validator:
    """The file format, stated in waivers.schema.json next to this module."""
    schema = resources.files("seecodes_conformance.report").joinpath("waivers.schema.json")
    return Draft202012Validator(
        json.loads(schema.read_text("utf-8")), format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def _plain(data: Any) -> Any:
    """The data with YAML's dates as the YYYY-MM-DD strings the schema describes."""
    if isinstance(data, dt.datetime):
        return data.date().isoformat()
    if isinstance(data, dt.date):
        return data.isoformat()
    if isinstance(data, Mapping):
        return {key: _plain(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_plain(item) for item in data]
    return data


def _entries(data: Any) -> list[Any]:
    """The waiver list of a file: the list itself, or the mapping's 'waivers' (none if absent)."""
    entries = data.get("waivers") if isinstance(data, Mapping) else data
    return entries or []


def _place(data: Any, path: list[Any], source: str) -> tuple[str, int]:
    """Which entry an error's instance path is in, as the message names it."""
    index = 1 if isinstance(data, Mapping) else 0  # the path starts "waivers", n or n
    if len(path) <= index:
        return source, len(path)
    n = path[index]
    entry = _entries(data)[n]
    invariant = entry.get("invariant") if isinstance(entry, Mapping) else None
    label = f" ({invariant})" if isinstance(invariant, str) and invariant.strip() else ""
    return f"{source} entry {n + 1}{label}", index + 1


def parse_waivers(data: Any, source: str = "waivers") -> dict[str, Waiver]:
    data = _plain(data)
    error = best_match(_validator().iter_errors(data))
    if error is not None:
        where, covered = _place(data, list(error.absolute_path), source)
        raise WaiverError(f"{where}: {explain(error, covered)}")
    waivers: dict[str, Waiver] = {}
    for n, entry in enumerate(_entries(data), 1):
        invariant = entry["invariant"]
        if invariant in waivers:
            raise WaiverError(f"{source} entry {n}: {invariant} is waived twice")
        expires = dt.date.fromisoformat(entry["expires"])
        waivers[invariant] = Waiver(invariant, entry["reason"].strip(), expires)
    return waivers


def load_waivers(path: str | Path) -> dict[str, Waiver]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise WaiverError(f"cannot read the waiver file {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise WaiverError(f"{path}: not valid YAML: {exc}") from None
    return parse_waivers(data, str(path))
