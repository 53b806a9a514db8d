"""Waivers: invariants a team allows to fail for a while, each with a reason and an expiry date.

File format (YAML)::

    waivers:
      - invariant: RK-RACE
        reason: "double spend under load; fix tracked in ENG-123"
        expires: 2026-03-31        # the last day the waiver holds

A waived failure is reported as waived and does not fail the gate. An expired waiver fails the
gate, and so does a waiver whose invariant now passes (like a strict xfail): delete it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


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


def _date(value: Any, where: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise WaiverError(f"{where}: expires must be a date (YYYY-MM-DD), got {value!r}") from None


def parse_waivers(data: Any, source: str = "waivers") -> dict[str, Waiver]:
    entries = data.get("waivers") if isinstance(data, Mapping) else data
    if entries is None:
        return {}
    if not isinstance(entries, list):
        raise WaiverError(f"{source}: expected a list of waivers (or a mapping with 'waivers')")
    waivers: dict[str, Waiver] = {}
    for n, entry in enumerate(entries, 1):
        where = f"{source} entry {n}"
        if not isinstance(entry, Mapping):
            raise WaiverError(f"{where}: not a mapping")
        invariant, reason = entry.get("invariant"), entry.get("reason")
        if not isinstance(invariant, str) or not invariant.strip():
            raise WaiverError(f"{where}: 'invariant' (an invariant id) is required")
        if not isinstance(reason, str) or not reason.strip():
            raise WaiverError(f"{where} ({invariant}): a non-empty 'reason' is required")
        if "expires" not in entry:
            raise WaiverError(f"{where} ({invariant}): 'expires' (YYYY-MM-DD) is required")
        if invariant in waivers:
            raise WaiverError(f"{where}: {invariant} is waived twice")
        waivers[invariant] = Waiver(invariant, reason.strip(), _date(entry["expires"], where))
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
