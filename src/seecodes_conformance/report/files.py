"""Lay out one run's report folder: JSON, JUnit, HTML, the served OpenAPI, coverage, manifest."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from seecodes_conformance.redaction import redact
from seecodes_conformance.report import coverage, html_report, json_report, junit, manifest
from seecodes_conformance.report.model import Result
from seecodes_conformance.settings import Settings

JSON_NAME = "certification.json"
HTML_NAME = "report.html"
JUNIT_NAME = "junit.xml"
OPENAPI_NAME = "served-openapi.json"
LATEST = "latest"


def write_all(
    result: Result,
    run_dir: Path,
    target: dict[str, Any] | None,
    settings: Settings,
    fuzz_coverage: dict[str, Any] | None = None,
) -> list[Path]:
    """Write every report; returns the paths written (HTML first: the one a person opens)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    written = [run_dir / HTML_NAME, run_dir / JSON_NAME, run_dir / JUNIT_NAME]
    result.coverage = fuzz_coverage
    if fuzz_coverage is not None:
        path = run_dir / coverage.FILENAME
        path.write_text(json.dumps(fuzz_coverage, indent=2) + "\n", encoding="utf-8")
        written.append(path)
        if fuzz_coverage.get("seeds"):
            result.run.seeds.setdefault("fuzz", fuzz_coverage["seeds"])
    html_report.write(result, written[0])
    json_report.write(result, written[1])
    junit.write(result, written[2])
    openapi_text = (target or {}).get("openapi_text")
    if isinstance(openapi_text, str):
        (run_dir / OPENAPI_NAME).write_text(openapi_text, encoding="utf-8")
    signing_key = settings.signing_key
    if settings.profile.name == "certify" or signing_key:
        facts = {
            "harness_version": result.run.harness_version,
            "protocol_version": result.run.protocol_version,
            "target": result.run.target_url,
            "served_openapi": {
                "url": result.run.target_url.rstrip("/") + "/openapi.json",
                "sha256": result.run.openapi.get("sha256"),
                "file": OPENAPI_NAME if isinstance(openapi_text, str) else None,
            },
            "verdict": result.verdict.label,
            "started_at": result.run.started_at,
            "finished_at": result.run.finished_at,
        }
        key = Path(signing_key) if signing_key else None
        written += manifest.write(run_dir, facts, key)
    _point_latest(run_dir)
    return written


def _point_latest(run_dir: Path) -> None:
    """reports/latest -> this run (CI jobs upload a fixed path); best effort."""
    link = run_dir.parent / LATEST
    with contextlib.suppress(OSError):
        if link.is_symlink() or link.exists():
            link.unlink()
        os.symlink(run_dir.name, link, target_is_directory=True)


def scrub_file(path: Path) -> None:
    """Redact a report another plugin wrote (pytest's own --junitxml) in place."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return
    cleaned = redact(text)
    if cleaned != text:
        path.write_text(cleaned, encoding="utf-8")
