"""The short summary at the end of the terminal output: the headline, failing invariants, the gate.

The headline states what the run decided: under ``--profile certify`` the certification verdict,
otherwise the CI gate's result (a gate run certifies nothing, so it never says NOT CERTIFIED).
Lines are cut to fit a terminal; in a CI log (output that is not a terminal) they are kept whole,
up to a bound that stops a runaway response body.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from seecodes_conformance.report.model import FAILED, NOT_VERIFIED, WAIVED, Result
from seecodes_conformance.target import version_claim

Line = tuple[str, dict[str, Any]]
WIDTH = 160  # on a terminal
LOG_WIDTH = 4000  # anywhere else (a CI log): whole lines, within reason
_NOT_CERTIFYING = "not a certification run"  # the verdict's reason on a gate run


def _is_terminal() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):  # replaced or closed stdout
        return False


def _short(text: str, width: int | None = WIDTH) -> str:
    """One line, cut at ``width`` characters (None: LOG_WIDTH)."""
    width = width or LOG_WIDTH
    line = " ".join(text.splitlines())
    return line if len(line) <= width else line[: width - 1] + "…"


def headline(result: Result) -> tuple[str, bool]:
    """(the banner, whether it is good news): the certification verdict under the certify
    profile, the CI gate's result under every other."""
    if result.run.profile.get("name") == "certify":
        return result.verdict.label, result.verdict.certified
    return ("CI GATE PASSED" if result.gate.passed else "CI GATE FAILED"), result.gate.passed


def headline_reasons(result: Result) -> list[str]:
    """What the banner rests on: the verdict's reasons, less the note that a gate run is not a
    certification (the banner says which kind of run it was)."""
    reasons = [r for r in result.verdict.reasons if not r.startswith(_NOT_CERTIFYING)]
    if result.verdict.conformant and not result.verdict.certified:
        reasons.insert(0, "every invariant passed")
    return reasons


def _first_line(text: str) -> str:
    return next((ln.strip() for ln in text.splitlines() if ln.strip()), "")


def _where(path: Path, cwd: Path) -> str:
    try:
        return os.path.relpath(path, cwd)
    except ValueError:
        return str(path)


def _not_verified_lines(result: Result, width: int | None) -> list[Line]:
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
            lines.append((_short(text, width and 600), {"yellow": True}))
        else:
            lines += [(_short(f"NOT VERIFIED {iid:24} {why}", width), {"yellow": True})
                      for iid in ids]  # fmt: skip
    return lines


def _route_coverage_line(result: Result, width: int | None) -> Line | None:
    """The sentence x route matrix of the invariants checked: how many of the (invariant, route)
    cells the catalog lists an executed check reached, and which it did not."""
    checked = [inv for inv in result.invariants if inv.checks and inv.routes]
    cells = sum(len(inv.routes) for inv in checked)
    if not cells:
        return None
    gaps = [f"{inv.id} {', '.join(inv.unchecked_routes)}" for inv in checked
            if inv.unchecked_routes]  # fmt: skip
    reached = cells - sum(len(inv.unchecked_routes) for inv in checked)
    text = f"routes checked: {reached}/{cells} (invariant, route) cells of the checked invariants"
    if gaps:
        text += "; no check reached: " + "; ".join(gaps)
    return _short(text, width and 600), {"yellow": bool(gaps)}


_EXPIRY_NOTES = ("pending until", "verified at production lifetime")  # flows/expiry.py


def _expiry_lines(result: Result, width: int | None) -> list[Line]:
    """Expiry checks deferred across runs: what is pending in the state file, and what a kept
    credential verified at production lifetime in this run (a passed invariant shows no reason,
    so these notes would otherwise be seen only in the reports)."""
    return [
        (_short(f"EXPIRY {inv.id:24} {note}", width), {})
        for inv in result.invariants
        for note in dict.fromkeys(inv.notes)
        if any(mark in note for mark in _EXPIRY_NOTES)
    ]


def _tolerated_line(result: Result) -> Line | None:
    """pytest's own summary counts a failure the gate tolerates; say why the exit is still 0."""
    tolerated = [r for r in result.tests if r.failed and r.tolerated]
    if not tolerated or result.exit_status != 0:
        return None
    failed = sum(1 for r in tolerated if r.outcome == "failed")
    errors = len(tolerated) - failed
    counts = [f"{failed} failed"] if failed else []
    counts += [f"{errors} error{'s' if errors > 1 else ''}"] if errors else []
    gate = result.gate
    why = [f"waived: {', '.join(gate.waived)}"] if gate.waived else []
    known = gate.known_failures + gate.new_failures
    why += [f"not passing in the baseline either: {', '.join(known)}"] if known else []
    why += [f"advisory findings: {', '.join(gate.advisories)}"] if gate.advisories else []
    counted = " and ".join(counts)
    reasons = "; ".join(why) or "waivers and baseline"
    return f'pytest\'s "{counted}" below is tolerated by the gate ({reasons}), hence exit 0', {}


def summary_lines(
    result: Result, written: Sequence[Path], cwd: Path, *, terminal: bool | None = None
) -> list[Line]:
    """``terminal``: cut lines to fit one (default: whether stdout is one)."""
    width = WIDTH if (_is_terminal() if terminal is None else terminal) else None
    gate, run = result.gate, result.run
    lines: list[Line] = []
    label, good = headline(result)
    head = f"{label} (profile {run.profile.get('name')})"
    # A stop (target unavailable) is stated once, on the gate line below.
    stops = {_first_line(p) for p in gate.problems}
    given = headline_reasons(result)
    reasons = [r for r in given if r not in stops]
    if len(reasons) < len(given):
        reasons.insert(0, "the run stopped early")
    if reasons:
        head += ": " + "; ".join(reasons)
    lines.append((_short(head, width and 400), {"green" if good else "red": True, "bold": True}))
    claim = (
        version_claim(run.openapi.get("info_version"), run.protocol_version)
        if "info_version" in run.openapi
        else None
    )
    if claim and claim not in reasons:
        lines.append((_short(f"PROTOCOL {claim}", width and 400), {"yellow": True}))
    executed = [f"{inv.id} {inv.checks}" for inv in result.invariants if inv.checks]
    if executed:
        lines.append((_short("executed checks: " + ", ".join(executed), width), {}))
    coverage = _route_coverage_line(result, width)
    if coverage:
        lines.append(coverage)
    lines += _not_verified_lines(result, width)
    lines += _expiry_lines(result, width)
    for inv in result.invariants:
        if inv.status not in (FAILED, WAIVED):
            continue
        failure = inv.failures[0] if inv.failures else None
        detail = f"{failure.test}: {_first_line(failure.message)}" if failure else ""
        if inv.status == WAIVED and inv.waiver:
            detail = f"waived until {inv.waiver['expires']} ({inv.waiver['reason']}); {detail}"
        if inv.change:
            detail = f"[{inv.change}] {detail}"
        advisory = inv.id in gate.advisories  # reported, not gating (no --strict-robustness)
        word = "ADVISORY" if advisory else "FAILED" if inv.status == FAILED else "WAIVED"
        red = inv.status == FAILED and not advisory
        lines.append((_short(f"{word:6} {inv.id:24} {detail}", width), {"red": red}))
    for record in result.unattributed:
        lines.append((_short(f"ERROR  {record.nodeid}: {_first_line(record.message)}", width),
                      {"red": True}))  # fmt: skip
    if gate.progress:
        lines.append((_short("progress since the baseline: " + ", ".join(gate.progress), width),
                      {}))  # fmt: skip
    gate_word = "pass" if gate.passed else "FAIL"
    gate_line = f"CI gate: {gate_word} (exit {result.exit_status})"
    problems = [
        _first_line(p).removeprefix("seecodes: target unavailable: ")
        for p in gate.problems
        if not p.endswith((" failed", "regressed from passing"))
    ]
    if problems:
        gate_line += ": " + "; ".join(problems)
    lines.append((_short(gate_line, width and 600), {"green" if gate.passed else "red": True}))
    tolerated = _tolerated_line(result)
    if tolerated:
        lines.append(tolerated)
    budget = f" (budget {run.request_budget})" if run.request_budget else ""
    lines.append((f"requests sent to the target: {run.requests_sent}{budget}", {}))
    if written:
        others = ", ".join(p.name for p in written[1:])
        lines.append((f"report: {_where(written[0], cwd)} (also {others})", {}))
    return lines
