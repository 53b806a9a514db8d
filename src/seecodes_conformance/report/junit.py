"""JUnit XML for CI systems, written from the same records as the other reports.

It agrees with the gate: a failure the gate tolerates (waived, or already failing in the
baseline) is written as skipped with the reason, its failure text kept in system-out; gate
problems that belong to no test (an expired or stale waiver, a missing target) are written as
failing test cases of class ``seecodes.gate``.
"""

from __future__ import annotations

import re
import socket
import xml.etree.ElementTree as ET
from pathlib import Path

from seecodes_conformance.report.model import Result, TestRecord
from seecodes_conformance.report.records import is_note

# Characters XML 1.0 cannot carry (response bodies may contain anything).
_ILLEGAL = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _clean(text: str) -> str:
    return _ILLEGAL.sub(lambda m: f"\\x{ord(m.group(0)):02x}", text)


def split_nodeid(nodeid: str) -> tuple[str, str]:
    """pytest's own JUnit naming: ('suites.test_x.Class', 'test_y[param]')."""
    parts = nodeid.split("::")
    module = parts[0].removesuffix(".py").replace("/", ".")
    classname = ".".join([module, *parts[1:-1]])
    return classname, parts[-1] if len(parts) > 1 else parts[0]


def _failure_text(record: TestRecord) -> str:
    text = record.longrepr or record.message
    exchanges = [ev for ev in record.evidence if not is_note(ev)]
    for note in (ev for ev in record.evidence if is_note(ev)):
        text += f"\n\n--- {note.text} ---"
    for n, ev in enumerate(exchanges, 1):
        text += f"\n\n--- exchange {n} ---\n{ev.text}\n--- reproduce ---\n{ev.curl}"
    return text


def _case(suite: ET.Element, record: TestRecord) -> None:
    classname, name = split_nodeid(record.nodeid)
    case = ET.SubElement(
        suite, "testcase", classname=classname, name=name, time=f"{record.duration:.3f}"
    )
    if record.invariants:
        props = ET.SubElement(case, "properties")
        for iid in record.invariants:
            ET.SubElement(props, "property", name="invariant", value=iid)
    message = _clean(record.message.splitlines()[0][:1000] if record.message else record.outcome)
    if record.failed and record.tolerated:
        ET.SubElement(case, "skipped", type="seecodes.tolerated",
                      message=_clean(f"tolerated by the gate: {record.tolerated}"))  # fmt: skip
        ET.SubElement(case, "system-out").text = _clean(_failure_text(record))
    elif record.failed:
        tag = "failure" if record.outcome == "failed" else "error"
        kind = record.violated or ",".join(record.invariants) or record.phase
        element = ET.SubElement(case, tag, message=message, type=kind)
        element.text = _clean(_failure_text(record))
    elif record.outcome in ("skipped", "xfailed"):
        ET.SubElement(case, "skipped", type=f"pytest.{record.outcome}", message=message)


def to_xml(result: Result) -> ET.ElementTree[ET.Element]:
    listed = [*result.tests, *(r for r in result.unattributed if r.phase in ("collect", "worker"))]
    cases: list[TestRecord] = []
    seen: set[str] = set()
    for record in listed:  # each test once, and counted as often as it is written
        if record.nodeid not in seen:
            seen.add(record.nodeid)
            cases.append(record)
    problems = [p for p in result.gate.problems if not _owned_by_test(p, result)]
    failures = sum(1 for r in cases if r.outcome == "failed" and not r.tolerated) + len(problems)
    errors = sum(1 for r in cases if r.outcome == "error" and not r.tolerated)
    skipped = sum(1 for r in cases if r.outcome in ("skipped", "xfailed") or r.tolerated)
    total = len(cases) + len(problems)
    attrs = {
        "name": "seecodes-conformance",
        "tests": str(total),
        "failures": str(failures),
        "errors": str(errors),
        "skipped": str(skipped),
        "time": f"{result.run.duration_s:.1f}",
        "timestamp": result.run.started_at,
        "hostname": socket.gethostname(),
    }
    root = ET.Element(
        "testsuites",
        {k: attrs[k] for k in ("name", "tests", "failures", "errors", "skipped", "time")},
    )
    suite = ET.SubElement(root, "testsuite", attrs)
    props = ET.SubElement(suite, "properties")
    for name, value in (
        ("target", result.run.target_url),
        ("profile", str(result.run.profile.get("name"))),
        ("verdict", result.verdict.label),
        ("gate", "pass" if result.gate.passed else "fail"),
        ("harness_version", result.run.harness_version),
        ("openapi_sha256", str(result.run.openapi.get("sha256", ""))),
        ("requests_sent", str(result.run.requests_sent)),
    ):
        ET.SubElement(props, "property", name=name, value=_clean(value))
    for record in cases:
        _case(suite, record)
    for n, problem in enumerate(problems, 1):
        case = ET.SubElement(suite, "testcase", classname="seecodes.gate", name=f"gate-{n}",
                             time="0")  # fmt: skip
        ET.SubElement(case, "failure", type="seecodes.gate", message=_clean(problem))
    ET.indent(root)
    return ET.ElementTree(root)


def _owned_by_test(problem: str, result: Result) -> bool:
    """Problems that repeat a failing test case (an invariant or a crash) are not doubled."""
    failing = {r.id for r in result.invariants if r.status == "failed"}
    if problem.split(" ", 1)[0] in failing:
        return True
    return any(problem.startswith(f"{r.nodeid}: ") for r in result.unattributed)


def write(result: Result, path: Path) -> None:
    to_xml(result).write(path, encoding="utf-8", xml_declaration=True)
