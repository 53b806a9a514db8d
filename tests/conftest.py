"""Self-test plumbing: print the fault matrix and the mutation score at the end of the run."""

from __future__ import annotations

import json

from _pytest.terminal import TerminalReporter


def pytest_terminal_summary(terminalreporter: TerminalReporter) -> None:
    rows = []
    for outcome in ("passed", "failed"):
        for report in terminalreporter.stats.get(outcome, []):
            for name, value in getattr(report, "user_properties", []):
                if name == "seecodes_matrix" and report.when == "call":
                    rows.append((outcome, json.loads(value)))
    if not rows:
        return
    write = terminalreporter.write_line
    terminalreporter.section("fault matrix")
    for outcome, row in sorted(rows, key=lambda r: r[1]["fault"]):
        caught = ", ".join(name.rsplit("::", 1)[-1] for name in row["caught_by"][:3]) or "-"
        mark = "caught" if outcome == "passed" else "MISSED"
        write(f"{mark:6} {row['fault']:34} {row['invariant']:28} {row['seconds']:6.1f}s  {caught}")
    caught_count = sum(1 for outcome, _ in rows if outcome == "passed")
    write(f"mutation score: {caught_count}/{len(rows)} = {100 * caught_count / len(rows):.0f}%")
