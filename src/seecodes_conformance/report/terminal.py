"""The short summary at the end of the terminal output: verdict, failing invariants, the gate."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from seecodes_conformance.report.model import FAILED, NOT_VERIFIED, WAIVED, Result

Line = tuple[str, dict[str, Any]]
WIDTH = 160


def _short(text: str, width: int = WIDTH) -> str:
    line = " ".join(text.splitlines())
    return line if len(line) <= width else line[: width - 1] + "…"


def _first_line(text: str) -> str:
    return next((ln.strip() for ln in text.splitlines() if ln.strip()), "")


def _where(path: Path, cwd: Path) -> str:
    try:
        return os.path.relpath(path, cwd)
    except ValueError:
        return str(path)


def _not_verified_lines(result: Result) -> list[Line]:
    """One line per invariant not verified, with its reason; invariants that share one reason
    (nothing selected checks them, say) share one line."""
    by_reason: dict[str, list[str]] = {}
    for inv in result.invariants:
        if inv.status == NOT_VERIFIED:
            why = "; ".join(inv.reasons[:2]) + (" …" if len(inv.reasons) > 2 else "")
            by_reason.setdefault(why, []).append(inv.id)
    lines: list[Line] = []
    for why, ids in by_reason.items():
        if len(ids) > 3:
            text = f"NOT VERIFIED {len(ids)} invariants: {why}: {', '.join(ids)}"
            lines.append((_short(text, 600), {"yellow": True}))
        else:
            lines += [(_short(f"NOT VERIFIED {iid:24} {why}"), {"yellow": True}) for iid in ids]
    return lines


def summary_lines(result: Result, written: Sequence[Path], cwd: Path) -> list[Line]:
    v, gate, run = result.verdict, result.gate, result.run
    lines: list[Line] = []
    head = f"{v.label} (profile {run.profile.get('name')})"
    # A stop (target unavailable) is stated once, on the gate line below.
    stops = {_first_line(p) for p in gate.problems}
    reasons = [r for r in v.reasons if r not in stops]
    if len(reasons) < len(v.reasons):
        reasons.insert(0, "the run stopped early")
    if reasons:
        head += ": " + "; ".join(reasons)
    lines.append((_short(head, 400), {"green" if v.conformant else "red": True, "bold": True}))
    lines += _not_verified_lines(result)
    for inv in result.invariants:
        if inv.status not in (FAILED, WAIVED):
            continue
        failure = inv.failures[0] if inv.failures else None
        detail = f"{failure.test}: {_first_line(failure.message)}" if failure else ""
        if inv.status == WAIVED and inv.waiver:
            detail = f"waived until {inv.waiver['expires']} ({inv.waiver['reason']}); {detail}"
        if inv.change:
            detail = f"[{inv.change}] {detail}"
        label = "FAILED" if inv.status == FAILED else "WAIVED"
        lines.append((_short(f"{label:6} {inv.id:24} {detail}"), {"red": inv.status == FAILED}))
    for record in result.unattributed:
        lines.append((_short(f"ERROR  {record.nodeid}: {_first_line(record.message)}"),
                      {"red": True}))  # fmt: skip
    if gate.progress:
        lines.append((_short("progress since the baseline: " + ", ".join(gate.progress)), {}))
    gate_word = "pass" if gate.passed else "FAIL"
    gate_line = f"CI gate: {gate_word} (exit {result.exit_status})"
    problems = [
        _first_line(p).removeprefix("seecodes: target unavailable: ")
        for p in gate.problems
        if not p.endswith((" failed", "regressed from passing"))
    ]
    if problems:
        gate_line += ": " + "; ".join(problems)
    lines.append((_short(gate_line, 600), {"green" if gate.passed else "red": True}))
    budget = f" (budget {run.request_budget})" if run.request_budget else ""
    lines.append((f"requests sent to the target: {run.requests_sent}{budget}", {}))
    if written:
        others = ", ".join(p.name for p in written[1:])
        lines.append((f"report: {_where(written[0], cwd)} (also {others})", {}))
    return lines
