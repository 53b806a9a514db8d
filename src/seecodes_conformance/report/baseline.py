"""Baselines: compare this run with an earlier certification.json, invariant by invariant."""

from __future__ import annotations

import json
from pathlib import Path

from seecodes_conformance.report.model import FAILED, PASSED, WAIVED


class BaselineError(ValueError):
    """The baseline file is not a certification report this harness wrote."""


def load_baseline(path: str | Path) -> dict[str, str]:
    """Invariant id -> status in the earlier report."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise BaselineError(f"cannot read the baseline {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise BaselineError(f"the baseline {path} is not JSON: {exc}") from None
    invariants = data.get("invariants") if isinstance(data, dict) else None
    if not isinstance(invariants, list):
        raise BaselineError(f"the baseline {path} has no 'invariants' list (a certification.json)")
    statuses: dict[str, str] = {}
    for entry in invariants:
        if isinstance(entry, dict) and isinstance(entry.get("id"), str):
            statuses[entry["id"]] = str(entry.get("status", ""))
    return statuses


def change(before: str | None, now: str) -> str | None:
    """How an invariant moved since the baseline (None: no change worth reporting).

    regression: it passed and now fails. known-failure: it failed (or was waived) before too.
    new-failure: it fails now and was skipped, not run or absent before. progress: it passes now
    and did not before. lost: it passed before and is now skipped or not run.
    """
    failing_before = before in (FAILED, WAIVED)
    if now in (FAILED, WAIVED):
        if before == PASSED:
            return "regression"
        return "known-failure" if failing_before else "new-failure"
    if now == PASSED:
        return None if before == PASSED else "progress"
    return "lost" if before == PASSED else None
