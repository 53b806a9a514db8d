"""The HTML report a person reads first: one self-contained file, no scripts, no external assets.

Order: the verdict; the run facts; every invariant by area with its status; each failure with
the protocol sentence, the evidence and how to reproduce it; the sentence x route matrix (which
governed route an executed check reached, and from which sentence each cell comes); per-route
coverage; the gate.

The markup lives in ``templates/report.html`` (its stylesheet, ``report.css``, is inlined by the
template); this module only prepares the words. Jinja2 autoescapes every value, because most of
what the report shows (messages, bodies, test ids) was sent by the target under test.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from seecodes_conformance.report.coverage import coverage_by_route, route_order
from seecodes_conformance.report.model import (
    FAILED,
    NOT_VERIFIED,
    STATUSES,
    WAIVED,
    InvariantResult,
    Result,
)
from seecodes_conformance.report.terminal import headline, headline_reasons

LABELS = {"passed": "passed", "failed": "FAILED", "waived": "waived",
          "not_verified": "not verified"}  # fmt: skip
_NOTE_LIMIT = 220
_FUZZ_COLUMNS = 8


@dataclass(frozen=True)
class _Area:
    name: str
    worst: str
    invariants: list[InvariantResult]


@dataclass(frozen=True)
class _RouteBadge:
    status: str
    ids: list[str]


@dataclass(frozen=True)
class _RouteRow:
    route: str
    badges: list[_RouteBadge]
    fuzz: list[str]


@dataclass(frozen=True)
class _Cell:
    """One (invariant, route) cell: how many executed checks of the invariant reached it."""

    route: str
    checks: int


@dataclass(frozen=True)
class _SentenceRow:
    """The cells of one invariant that come from one sentence."""

    sentence: str
    cells: list[_Cell]


@dataclass(frozen=True)
class _MatrixRow:
    invariant: InvariantResult
    sentences: list[_SentenceRow]


@dataclass(frozen=True)
class _MatrixArea:
    name: str
    reached: int
    cells: int
    rows: list[_MatrixRow]


@cache
def _environment() -> Environment:
    """One environment per process: templates are read from the package, so a wheel works."""
    return Environment(
        loader=PackageLoader("seecodes_conformance.report", "templates"),
        autoescape=select_autoescape(("html",), default_for_string=True, default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def human(value: Any) -> str:
    """A value as a person reads it: yes/no, none, 180 (not 180.0), lists and mappings spelled
    out; never Python's or JSON's literals (True, None, null)."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list | tuple | set):
        return ", ".join(human(v) for v in value) or "none"
    if isinstance(value, dict):
        return "; ".join(f"{str(k).replace('_', ' ')} {human(v)}" for k, v in value.items())
    return str(value)


def _sub(result: Result) -> str:
    run = result.run
    gate = "passes" if result.gate.passed else "fails"
    return (f"{run.target_url} · profile {run.profile.get('name')} · protocol "
            f"{run.protocol_version} · CI gate {gate} (exit {result.exit_status})")  # fmt: skip


def _facts(result: Result) -> list[tuple[str, str]]:
    run = result.run
    openapi = run.openapi
    served = (
        f"OpenAPI {openapi.get('version') or '?'}, info.version "
        f"{openapi.get('info_version') or '?'}, sha256 {openapi.get('sha256') or '?'}"
    )
    if openapi.get("error"):
        served += f" ({openapi['error']})"
    profile = human({k: v for k, v in run.profile.items() if k != "name"})
    rows: list[tuple[str, str]] = [
        ("target", run.target_url + (" (bundled reference engine)" if run.embedded_engine else "")),
        ("served /openapi.json", served),
        ("profile", f"{run.profile.get('name')}: {profile}"),
        ("seeds", human(dict(sorted(run.seeds.items())))),
        ("started / finished", f"{run.started_at} / {run.finished_at} ({run.duration_s} s)"),
        ("requests to the target", f"{run.requests_sent} (budget {run.request_budget or 'none'}, "
                                   f"rate limit {run.rate_limit or 'none'}/s)"),
        ("harness", f"seecodes-conformance {run.harness_version}, run prefix {run.run_prefix}"),
        ("command", run.command),
    ]  # fmt: skip
    if run.engine_faults or run.engine_variants:
        rows.insert(
            1,
            (
                "engine switches",
                f"faults: {', '.join(run.engine_faults) or '-'}; "
                f"variants: {', '.join(run.engine_variants) or '-'}",
            ),
        )
    return rows


def _note(inv: InvariantResult) -> str:
    """The one line the invariant table shows next to a status."""
    if inv.status in (FAILED, WAIVED) and inv.failures:
        note = next(iter(inv.failures[0].message.splitlines()), "")
    else:
        note = "; ".join([*inv.reasons, *inv.notes])
    if inv.waiver:
        note = f"waiver {inv.waiver.get('state')} (until {inv.waiver.get('expires')}). {note}"
    if inv.change:
        note = f"[{inv.change}] {note}"
    return note[:_NOTE_LIMIT] + ("…" if len(note) > _NOTE_LIMIT else "")


def _areas(result: Result) -> list[_Area]:
    grouped: dict[str, list[InvariantResult]] = {}
    for inv in result.invariants:
        grouped.setdefault(inv.area, []).append(inv)
    return [
        _Area(
            area,
            next((s for s in STATUSES if any(i.status == s for i in invs)), NOT_VERIFIED),
            invs,
        )
        for area, invs in grouped.items()
    ]


def _route_badges(invs: list[InvariantResult]) -> list[_RouteBadge]:
    """Counts by status; the template spells out the ids of failures, every id in the tooltip."""
    badges = []
    for status in STATUSES:
        ids = [i.id for i in invs if i.status == status]
        if ids:
            badges.append(_RouteBadge(status, ids))
    return badges


def _routes(
    result: Result, coverage: dict[str, dict[str, Any]]
) -> tuple[list[str], list[_RouteRow]]:
    """(fuzz figure columns, one row per route); no rows when nothing names a route."""
    columns = list(dict.fromkeys(k for stats in coverage.values() for k in stats))[:_FUZZ_COLUMNS]
    rows = []
    for route in route_order(result.invariants, coverage):
        stats = coverage.get(route, {})
        rows.append(
            _RouteRow(
                route,
                _route_badges([i for i in result.invariants if route in i.routes]),
                [human(stats[c]) if c in stats else "" for c in columns],
            )
        )
    return columns, rows


def _matrix(result: Result) -> list[_MatrixArea]:
    """The sentence x route matrix by area: per invariant, its governed routes grouped by the
    sentence each cell comes from (the quote's cells first), with the checks that reached it.
    A cell no executed check reached shows 0, which the template highlights."""
    areas = []
    for area in _areas(result):
        rows = []
        for inv in area.invariants:
            by_sentence: dict[str, list[_Cell]] = {}
            if any(inv.source_of(route) == inv.quote for route in inv.routes):
                by_sentence[inv.quote] = []
            for route in inv.routes:
                cell = _Cell(route, inv.route_checks.get(route, 0))
                by_sentence.setdefault(inv.source_of(route), []).append(cell)
            rows.append(_MatrixRow(inv, [_SentenceRow(s, c) for s, c in by_sentence.items()]))
        cells = [cell for row in rows for group in row.sentences for cell in group.cells]
        reached = sum(1 for cell in cells if cell.checks)
        areas.append(_MatrixArea(area.name, reached, len(cells), rows))
    return areas


def _gate_groups(result: Result) -> list[tuple[str, list[str]]]:
    g = result.gate
    groups = {
        "waived failures": g.waived, "expired waivers": g.expired_waivers,
        "stale waivers (invariant passes now)": g.stale_waivers,
        "regressions since the baseline": g.regressions, "progress since the baseline": g.progress,
        "known failures (failing in the baseline too)": g.known_failures,
        "new failures (not run in the baseline)": g.new_failures,
        "lost coverage (passed in the baseline, not now)": g.lost,
    }  # fmt: skip
    return [(title, ids) for title, ids in groups.items() if ids]


def render(result: Result) -> str:
    coverage = coverage_by_route(result.coverage)
    fuzz_columns, route_rows = _routes(result, coverage)
    template = _environment().get_template("report.html")
    label, good = headline(result)
    return template.render(
        result=result,
        headline=label,
        headline_good=good,
        headline_reasons=headline_reasons(result),
        run=result.run,
        labels=LABELS,
        statuses=STATUSES,
        linked=(FAILED, WAIVED),
        title=f"{label} · SeeCodes conformance · {result.run.target_url}",
        sub=_sub(result),
        counts=result.counts(),
        facts=_facts(result),
        areas=_areas(result),
        note=_note,
        has_coverage=bool(coverage),
        fuzz_columns=fuzz_columns,
        route_rows=route_rows,
        matrix=_matrix(result),
        gate_groups=_gate_groups(result),
    )


def write(result: Result, path: Path) -> None:
    path.write_text(render(result), encoding="utf-8")
