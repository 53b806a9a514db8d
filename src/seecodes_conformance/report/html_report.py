"""The HTML report a person reads first: one self-contained file, no scripts, no external assets.

Order: the verdict; the run facts; every invariant by area with its status; each failure with
the protocol sentence, the evidence and how to reproduce it; per-route coverage; the gate.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from html import escape
from pathlib import Path

from seecodes_conformance.report.coverage import coverage_by_route, route_order
from seecodes_conformance.report.model import (
    FAILED,
    NOT_RUN,
    STATUSES,
    WAIVED,
    Failure,
    InvariantResult,
    Result,
)

LABELS = {"passed": "passed", "failed": "FAILED", "waived": "waived", "skipped": "skipped",
          "not_run": "not run"}  # fmt: skip

CSS = """
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2330;
background:#f4f5f7}
main{max-width:1240px;margin:0 auto;padding:0 20px 40px}
h2{font-size:18px;margin:28px 0 10px;border-bottom:1px solid #d8dce3;padding-bottom:4px}
h3{font-size:15px;margin:0 0 6px}
code,pre{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
pre{background:#1e2230;color:#e8eaf0;padding:8px 10px;border-radius:4px;overflow-x:auto;
white-space:pre-wrap;word-break:break-all;margin:4px 0 8px}
.verdict{padding:22px 20px 18px;color:#fff}
.verdict .inner{max-width:1240px;margin:0 auto}
.verdict.ok{background:#17794a}.verdict.bad{background:#b3261e}
.verdict .label{font-size:32px;font-weight:700;letter-spacing:.5px}
.verdict .sub{opacity:.92;margin-top:2px}
.verdict ul{margin:8px 0 0;padding-left:20px}
.tiles{display:flex;flex-wrap:wrap;gap:10px;margin:16px 0}
.tile{background:#fff;border:1px solid #d8dce3;border-radius:6px;padding:8px 14px;min-width:110px}
.tile b{display:block;font-size:22px}
.facts{background:#fff;border:1px solid #d8dce3;border-radius:6px;padding:10px 14px;
display:grid;grid-template-columns:190px 1fr;gap:3px 14px}
.facts dt{color:#5b6475}.facts dd{margin:0;word-break:break-all}
.areas{display:grid;grid-template-columns:repeat(auto-fill,minmax(540px,1fr));gap:12px}
.card{background:#fff;border:1px solid #d8dce3;border-radius:6px;padding:8px 10px;overflow-x:auto}
td.id{white-space:nowrap}td.note{overflow-wrap:anywhere}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:3px 6px;border-bottom:1px solid #eceef2;vertical-align:top}
th{font-size:12px;color:#5b6475;font-weight:600}
.b{display:inline-block;border-radius:3px;padding:0 6px;font-size:12px;font-weight:600;
white-space:nowrap}
.b.passed{background:#d5f0e0;color:#0f5c36}.b.failed{background:#b3261e;color:#fff}
.b.waived{background:#f7d9a8;color:#6b4100}.b.skipped{background:#e4e7ec;color:#3d4554}
.b.not_run{background:#fff;color:#5b6475;border:1px dashed #9aa2b1}
.failure{background:#fff;border:1px solid #d8dce3;border-left:5px solid #b3261e;
border-radius:6px;padding:10px 14px;margin:0 0 12px}
.failure.waived{border-left-color:#d08a1a}
blockquote{margin:6px 0 10px;padding:6px 12px;border-left:3px solid #9aa2b1;background:#f7f8fa;
font-style:italic}
.muted{color:#5b6475}.small{font-size:12px}
details{margin:4px 0}summary{cursor:pointer;color:#2d4f9e}
ul.plain{margin:4px 0;padding-left:18px}
"""


def _badge(status: str) -> str:
    return f'<span class="b {escape(status)}">{escape(LABELS.get(status, status))}</span>'


def _pre(text: str) -> str:
    return f"<pre>{escape(text)}</pre>"


def _list(items: Iterable[str], cls: str = "plain") -> str:
    rows = "".join(f"<li>{escape(i)}</li>" for i in items)
    return f'<ul class="{cls}">{rows}</ul>' if rows else ""


def _header(result: Result) -> str:
    v, run = result.verdict, result.run
    cls = "ok" if v.conformant else "bad"
    gate = "passes" if result.gate.passed else "fails"
    sub = (f"{run.target_url} · profile {run.profile.get('name')} · protocol "
           f"{run.protocol_version} · CI gate {gate} (exit {result.exit_status})")  # fmt: skip
    return (f'<header class="verdict {cls}"><div class="inner"><div class="label">'
            f"{escape(v.label)}</div><div class=\"sub\">{escape(sub)}</div>"
            f"{_list(v.reasons)}</div></header>")  # fmt: skip


def _tiles(result: Result) -> str:
    counts = result.counts()
    tiles = [f'<div class="tile">{_badge(s)}<b>{counts[s]}</b></div>' for s in STATUSES]
    tiles.append(f'<div class="tile">requests sent<b>{result.run.requests_sent}</b></div>')
    tiles.append(f'<div class="tile">tests<b>{len(result.tests)}</b></div>')
    return f'<div class="tiles">{"".join(tiles)}</div>'


def _facts(result: Result) -> str:
    run = result.run
    openapi = run.openapi
    served = (
        f"OpenAPI {openapi.get('version') or '?'}, info.version "
        f"{openapi.get('info_version') or '?'}, sha256 {openapi.get('sha256') or '?'}"
    )
    if openapi.get("error"):
        served += f" ({openapi['error']})"
    profile = ", ".join(f"{k} {v}" for k, v in run.profile.items() if k != "name")
    rows: list[tuple[str, str]] = [
        ("target", run.target_url + (" (bundled reference engine)" if run.embedded_engine else "")),
        ("served /openapi.json", served),
        ("profile", f"{run.profile.get('name')}: {profile}"),
        ("seeds", json.dumps(run.seeds, sort_keys=True)),
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
    body = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in rows)
    return f'<dl class="facts">{body}</dl>'


def _note(inv: InvariantResult) -> str:
    if inv.status in (FAILED, WAIVED) and inv.failures:
        note = inv.failures[0].message.splitlines()[0]
    elif inv.reasons:
        note = "; ".join(inv.reasons)
    else:
        note = ""
    if inv.waiver:
        note = f"waiver {inv.waiver.get('state')} (until {inv.waiver.get('expires')}). {note}"
    if inv.change:
        note = f"[{inv.change}] {note}"
    return escape(note[:220] + ("…" if len(note) > 220 else ""))


def _id_link(inv: InvariantResult) -> str:
    """Failures link to their details further down; other ids are plain."""
    code = f"<code>{escape(inv.id)}</code>"
    return f'<a href="#{escape(inv.id)}">{code}</a>' if inv.status in (FAILED, WAIVED) else code


def _areas(result: Result) -> str:
    areas: dict[str, list[InvariantResult]] = {}
    for inv in result.invariants:
        areas.setdefault(inv.area, []).append(inv)
    cards = []
    for area, invs in areas.items():
        rows = "".join(
            f'<tr><td class="id" title="{escape(i.quote)}">{_id_link(i)}</td>'
            f"<td>{_badge(i.status)}</td><td>{len(i.tests)}</td>"
            f'<td class="note small muted">{_note(i)}</td></tr>'
            for i in invs
        )
        worst = next((s for s in STATUSES if any(i.status == s for i in invs)), NOT_RUN)
        cards.append(
            f'<div class="card"><h3>{escape(area)} {_badge(worst)}</h3><table><tr><th>invariant'
            f"</th><th>status</th><th>tests</th><th>note</th></tr>{rows}</table></div>"
        )
    return f'<div class="areas">{"".join(cards)}</div>'


def _failure_block(failure: Failure, *, open_evidence: bool) -> str:
    parts = [f"<p><b>test</b> <code>{escape(failure.test)}</code></p>", _pre(failure.message)]
    if failure.evidence:
        exchanges = "".join(
            f'<p class="small muted">exchange {n}</p>{_pre(e.text)}'
            f'<p class="small muted">repeat it</p>{_pre(e.curl)}'
            for n, e in enumerate(failure.evidence, 1)
        )
        parts.append(
            f"<details{' open' if open_evidence else ''}><summary>requests and responses of "
            f"this test ({len(failure.evidence)})</summary>{exchanges}</details>"
        )
    parts.append(f'<p class="small muted">reproduce</p>{_pre(failure.reproduce)}')
    return "".join(parts)


def _failures(result: Result) -> str:
    blocks = []
    for inv in result.invariants:
        if inv.status not in (FAILED, WAIVED):
            continue
        parts = [f'<div class="failure {inv.status}" id="{escape(inv.id)}"><h3>'
                 f"{escape(inv.id)} {_badge(inv.status)} <span class=\"muted small\">"
                 f"{escape(inv.area)} · {escape(inv.level)}</span></h3>"
                 f"<blockquote>{escape(inv.quote)}</blockquote>"]  # fmt: skip
        if inv.rationale:
            parts.append(f'<p class="small muted">derived: {escape(inv.rationale)}</p>')
        if inv.waiver:
            parts.append(f"<p>Waived until {escape(inv.waiver['expires'])}: "
                         f"{escape(inv.waiver['reason'])}</p>")  # fmt: skip
        if inv.failures:
            parts.append(_failure_block(inv.failures[0], open_evidence=True))
        more = inv.failures[1:]
        if more:
            rest = "".join(_failure_block(f, open_evidence=False) for f in more)
            parts.append(
                f"<details><summary>{len(more)} more failing test(s) of {escape(inv.id)}"
                f"</summary>{rest}</details>"
            )
        parts.append("</div>")
        blocks.append("".join(parts))
    if not blocks:
        return ""
    return "<h2>Failures</h2>" + "".join(blocks)


def _route_cell(invs: list[InvariantResult]) -> str:
    """Counts by status; the ids of failures spelled out, every id in the tooltip."""
    if not invs:
        return '<span class="muted">none</span>'
    parts = []
    for status in STATUSES:
        ids = [i.id for i in invs if i.status == status]
        if not ids:
            continue
        named = f": {', '.join(ids)}" if status in (FAILED, WAIVED) else ""
        parts.append(
            f'<span class="b {status}" title="{escape(", ".join(ids))}">'
            f"{escape(LABELS[status])} {len(ids)}{escape(named)}</span>"
        )
    return " ".join(parts)


def _routes(result: Result) -> str:
    coverage = coverage_by_route(result.coverage)
    routes = route_order(result.invariants, coverage)
    if not routes:
        return ""
    fuzz_cols = list(dict.fromkeys(k for stats in coverage.values() for k in stats))[:8]
    head = "".join(f"<th>fuzz: {escape(c.replace('_', ' '))}</th>" for c in fuzz_cols)
    rows = []
    for route in routes:
        cell = _route_cell([i for i in result.invariants if route in i.routes])
        stats = coverage.get(route, {})
        cells = "".join(f"<td>{escape(str(stats.get(c, '')))}</td>" for c in fuzz_cols)
        rows.append(
            f'<tr><td class="id"><code>{escape(route)}</code></td><td>{cell}</td>{cells}</tr>'
        )
    note = "" if coverage else '<p class="muted small">No fuzz coverage file in this run.</p>'
    return (
        f'<h2>Coverage by route</h2>{note}<div class="card"><table><tr><th>route</th>'
        f"<th>invariants checked there</th>{head}</tr>{''.join(rows)}</table></div>"
    )


def _gate(result: Result) -> str:
    g = result.gate
    parts = [f"<h2>CI gate: {'pass' if g.passed else 'FAIL'} (exit {result.exit_status})</h2>"]
    if g.problems:
        parts.append("<p>Problems:</p>" + _list(g.problems))
    groups: Mapping[str, list[str]] = {
        "waived failures": g.waived, "expired waivers": g.expired_waivers,
        "stale waivers (invariant passes now)": g.stale_waivers,
        "regressions since the baseline": g.regressions, "progress since the baseline": g.progress,
        "known failures (failing in the baseline too)": g.known_failures,
        "new failures (not run in the baseline)": g.new_failures,
        "lost coverage (passed in the baseline, not now)": g.lost,
    }  # fmt: skip
    for title, ids in groups.items():
        if ids:
            parts.append(f"<p><b>{escape(title)}</b>: {escape(', '.join(ids))}</p>")
    if g.waivers_file or g.baseline:
        parts.append(f'<p class="muted small">waivers: {escape(str(g.waivers_file or "-"))}; '
                     f"baseline: {escape(str(g.baseline or '-'))}</p>")  # fmt: skip
    return "".join(parts)


def _unattributed(result: Result) -> str:
    if not result.unattributed:
        return ""
    items = "".join(
        f"<p><code>{escape(r.nodeid)}</code> ({escape(r.outcome)} in {escape(r.phase)})</p>"
        f"{_pre(r.longrepr or r.message)}"
        for r in result.unattributed
    )
    return f"<h2>Failures outside any invariant</h2>{items}"


def _tests(result: Result) -> str:
    rows = "".join(
        f"<tr><td><code>{escape(r.nodeid)}</code></td><td>{escape(r.outcome)}</td>"
        f"<td>{escape(', '.join(r.invariants))}</td><td>{r.duration:.2f}</td></tr>"
        for r in result.tests
    )
    return (f"<h2>Tests</h2><details><summary>all {len(result.tests)} tests</summary>"
            f'<div class="card"><table><tr><th>test</th><th>outcome</th><th>invariants</th>'
            f"<th>s</th></tr>{rows}</table></div></details>")  # fmt: skip


def render(result: Result) -> str:
    notes = _list(result.notes) if result.notes else ""
    body = "".join([
        _header(result), "<main>", _tiles(result), _facts(result), notes,
        "<h2>Invariants by area</h2>", _areas(result), _failures(result), _unattributed(result),
        _routes(result), _gate(result), _tests(result),
        f'<p class="muted small">seecodes-conformance {escape(result.run.harness_version)} · '
        f"report generated {escape(result.run.finished_at)}</p></main>",
    ])  # fmt: skip
    title = f"{result.verdict.label} · SeeCodes conformance · {result.run.target_url}"
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>{body}</body></html>\n"
    )


def write(result: Result, path: Path) -> None:
    path.write_text(render(result), encoding="utf-8")
