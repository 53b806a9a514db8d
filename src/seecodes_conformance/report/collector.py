"""The report plugin: gathers test records, decides the gate, writes the report folder.

Registered by the plugin's configure hook in every process. Workers (xdist) only annotate their
reports (capture.py) and hand their request counts to the controller through ``workeroutput``;
the controller (or the single process of a run without xdist) writes every report file.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shlex
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from seecodes_conformance import PROTOCOL_VERSION, __version__
from seecodes_conformance.fuzz.coverage import CoverageReport
from seecodes_conformance.http.traffic import TRAFFIC
from seecodes_conformance.redaction import REGISTRY, redact
from seecodes_conformance.replay import replay_command
from seecodes_conformance.report import files
from seecodes_conformance.report.aggregate import invariant_results
from seecodes_conformance.report.baseline import BaselineError, load_baseline
from seecodes_conformance.report.capture import Capture
from seecodes_conformance.report.gate import decide, verdict
from seecodes_conformance.report.manifest import SigningKeyError, check_key
from seecodes_conformance.report.model import (
    NOT_VERIFIED,
    InvariantResult,
    Result,
    RunInfo,
    TestRecord,
)
from seecodes_conformance.report.records import RecordBook, report_data
from seecodes_conformance.report.terminal import summary_lines
from seecodes_conformance.report.waivers import Waiver, WaiverError, load_waivers
from seecodes_conformance.settings import Settings
from seecodes_conformance.target import EXIT_TARGET_UNAVAILABLE, version_claim

SEED_PROPERTY = "seecodes_seed:"  # record_property("seecodes_seed:<name>", value) names a seed


def _utc(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).isoformat(timespec="seconds")


def _safe_args(args: list[str]) -> list[str]:
    """The command line without static Forge tokens (--forge-token TENANT=TOKEN)."""
    out: list[str] = []
    hide_next = False
    for arg in args:
        if hide_next:
            out.append(arg.partition("=")[0] + "=[forge-token]")
            hide_next = False
        elif arg == "--forge-token":
            out.append(arg)
            hide_next = True
        elif arg.startswith("--forge-token="):
            tenant = arg.removeprefix("--forge-token=").partition("=")[0]
            out.append(f"--forge-token={tenant}=[forge-token]")
        else:
            out.append(arg)
    return out


class ReportCollector:
    """Everything it needs is handed to it: the settings, the run prefix, the fuzz table."""

    def __init__(
        self,
        config: pytest.Config,
        settings: Settings,
        run_prefix: str,
        fuzz_coverage: CoverageReport | None = None,
    ) -> None:
        self.config = config
        self.settings = settings
        self.run_prefix = run_prefix
        self.fuzz_coverage = fuzz_coverage
        self.is_worker = settings.is_worker
        self.sent_before = TRAFFIC.sent
        self.capture = Capture(self.settings)
        config.pluginmanager.register(self.capture, "seecodes-report-capture")
        self.started = time.time()
        self.book = RecordBook()
        self.target: dict[str, Any] | None = None
        self.seeds: dict[str, Any] = {}
        self.worker_outputs: list[dict[str, Any]] = []
        self.stop_reason: str | None = None
        self.budget_exhausted = False
        self.result: Result | None = None
        self._summarised = False
        self.written: list[Path] = []
        self.run_dir: Path | None = None
        self.waivers: dict[str, Waiver] = {}
        self.baseline: dict[str, str] | None = None
        if not self.is_worker:
            self._load_gate_inputs()
            self.run_dir = self._run_dir()

    # -- set-up ------------------------------------------------------------------------------
    def _load_gate_inputs(self) -> None:
        s = self.settings
        try:
            if s.waivers:
                self.waivers = load_waivers(s.waivers)
            if s.baseline:
                self.baseline = load_baseline(s.baseline)
            if s.signing_key:
                check_key(Path(s.signing_key))
        except (WaiverError, BaselineError, SigningKeyError) as exc:
            raise pytest.UsageError(str(exc)) from None

    def _run_dir(self) -> Path | None:
        root = self.settings.report_root
        if root is None:
            return None
        stamp = dt.datetime.fromtimestamp(self.started, dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        return root / f"{stamp}-{self.run_prefix}"

    # -- xdist ---------------------------------------------------------------------------------
    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        output = getattr(node, "workeroutput", {}) or {}
        mine = output.get("seecodes")
        if isinstance(mine, dict):
            self.worker_outputs.append(mine)
            if mine.get("stop_reason") and not self.stop_reason:
                self.stop_reason = str(mine["stop_reason"])
        if output.get("exitstatus") == EXIT_TARGET_UNAVAILABLE and not self.stop_reason:
            self.stop_reason = "the target is unavailable or does not speak the protocol"
        if error:
            self.book.collection_errors.append(
                TestRecord(
                    nodeid=f"(worker {getattr(node, 'gateway', node)})",
                    outcome="error",
                    phase="worker",
                    message=redact(str(error)),
                )
            )

    # -- collecting ----------------------------------------------------------------------------
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.is_worker:
            return
        self.book.add(report)
        data = report_data(report)
        if isinstance(data.get("target"), dict) and self.target is None:
            self.target = data["target"]
        if data.get("budget_exhausted"):
            self.budget_exhausted = True
        for name, value in report.user_properties:
            if isinstance(name, str) and name.startswith(SEED_PROPERTY):
                self.seeds[name.removeprefix(SEED_PROPERTY)] = value

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if not self.is_worker:
            self.book.add_collection(report)

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        exc = excinfo.value
        if getattr(exc, "returncode", None) == EXIT_TARGET_UNAVAILABLE:
            self.stop_reason = redact(str(getattr(exc, "msg", exc)))

    # -- the end -------------------------------------------------------------------------------
    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.is_worker:
            workeroutput = getattr(self.config, "workeroutput", {})
            workeroutput["seecodes"] = {
                "requests": TRAFFIC.sent - self.sent_before,
                "refused": TRAFFIC.refused,
                "stop_reason": self.stop_reason,
            }
            return
        status = int(session.exitstatus)
        if not self._worth_reporting(status):
            return  # not a conformance run (the harness's own tests): leave everything be
        if status == EXIT_TARGET_UNAVAILABLE and not self.stop_reason:
            self.stop_reason = "the target is unavailable or does not speak the protocol"
        self.result = self._build(status)
        session.exitstatus = self.result.exit_status
        if self.run_dir is not None:
            self.written = files.write_all(
                self.result, self.run_dir, self.target, self.settings,
                fuzz_coverage=self.fuzz_coverage.data() if self.fuzz_coverage else None,
            )  # fmt: skip
        if self.result.exit_status == EXIT_TARGET_UNAVAILABLE:
            # pytest shows no terminal summary for this exit status (and, under xdist, only an
            # INTERNALERROR), so say it here.
            self.pytest_terminal_summary(self.config.pluginmanager.get_plugin("terminalreporter"))

    def _worth_reporting(self, status: int) -> bool:
        """A run of the conformance suites (or one that could not reach its target)."""
        if self.stop_reason or status == EXIT_TARGET_UNAVAILABLE:
            return True
        return any(r.invariants for r in self.book.all())

    def _build(self, pytest_status: int) -> Result:
        from seecodes_conformance.contract import load_catalog

        notes: list[str] = []
        try:
            catalog: dict[str, Any] = dict(load_catalog())
        except Exception as exc:  # a broken catalog is reported, not hidden
            catalog = {}
            notes.append(f"the invariant catalog could not be loaded: {exc}")
        records = self.book.all()
        results = invariant_results(catalog, records, self._reproduce)
        unattributed = [r for r in records if r.failed and not r.failed_invariants()]
        unattributed += self.book.collection_errors
        stop = self.stop_reason
        if self.budget_exhausted and not stop:
            stop = "the request budget ran out (--request-budget); the run is incomplete"
        gate = decide(
            results, records, unattributed, waivers=self.waivers, baseline=self.baseline,
            today=dt.datetime.now(dt.UTC).date(), stop_reason=stop,
            strict_robustness=self.settings.strict_robustness,
        )  # fmt: skip
        gate.baseline = self.settings.baseline
        gate.waivers_file = self.settings.waivers
        if self.stop_reason or pytest_status == EXIT_TARGET_UNAVAILABLE:
            exit_status = EXIT_TARGET_UNAVAILABLE
        elif pytest_status in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
            exit_status = 0 if gate.passed else 1
            if records and results and all(r.status == NOT_VERIFIED for r in results):
                # Nothing concluded: a gate that "passes" on no evidence would be a lie.
                exit_status = EXIT_TARGET_UNAVAILABLE
                gate.fail("nothing could be verified: " + _reason_kinds(results))
        else:
            exit_status = pytest_status
            gate.fail(
                f"pytest ended with exit status {pytest_status} ({_exit_name(pytest_status)})"
            )
        run = self._run_info()
        claim = version_claim(run.openapi.get("info_version"), PROTOCOL_VERSION)
        return Result(
            run=run,
            invariants=results,
            tests=records,
            unattributed=unattributed,
            gate=gate,
            verdict=verdict(results, unattributed, profile=self.settings.profile.name,
                            stop_reason=stop,
                            strict_robustness=self.settings.strict_robustness,
                            version_claim=claim if "info_version" in run.openapi else None),
            exit_status=exit_status,
            notes=notes,
        )  # fmt: skip

    def _run_info(self) -> RunInfo:
        s = self.settings
        target = self.target or {}
        url = target.get("url") or s.base_url or "bundled reference engine (not started)"
        seeds: dict[str, Any] = {"profile": s.profile.seed}
        if s.hypothesis_seed is not None:
            seeds["hypothesis"] = s.hypothesis_seed
        seeds.update(self.seeds)
        finished = time.time()
        requests = TRAFFIC.sent - self.sent_before
        requests += sum(int(o.get("requests", 0)) for o in self.worker_outputs)
        return RunInfo(
            target_url=redact(str(url)),
            embedded_engine=bool(target.get("embedded", s.base_url is None)),
            engine_faults=list(s.engine_faults) if s.base_url is None else [],
            engine_variants=list(s.engine_variants) if s.base_url is None else [],
            openapi=dict(target.get("openapi") or {}),
            harness_version=__version__,
            protocol_version=PROTOCOL_VERSION,
            profile=dataclasses.asdict(s.profile),
            seeds=seeds,
            run_prefix=self.run_prefix,
            started_at=_utc(self.started),
            finished_at=_utc(finished),
            duration_s=round(finished - self.started, 1),
            requests_sent=requests,
            request_budget=s.request_budget or None,
            rate_limit=s.rate_limit or None,
            workers=len(self.worker_outputs),
            command=redact(shlex.join(["pytest", *_safe_args(list(s.invocation_args))])),
        )

    def _reproduce(self, record: TestRecord) -> str:
        command = replay_command(self.settings, record.nodeid)
        if self.settings.profile.seed is None and self.seeds:
            command += f"  # seeds: {json.dumps(self.seeds, sort_keys=True)}"
        return command

    # -- output --------------------------------------------------------------------------------
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.result is None or self.is_worker or terminalreporter is None:
            return
        if self._summarised:
            return
        self._summarised = True
        terminalreporter.section("SeeCodes certification", sep="=", bold=True)
        for line, markup in summary_lines(self.result, self.written, self.settings.invocation_dir):
            terminalreporter.write_line(line, **markup)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        if not self.is_worker:
            xmlpath = getattr(config.option, "xmlpath", None)
            if xmlpath:
                files.scrub_file(Path(xmlpath))
        audit = self.settings.secret_audit_file
        if audit:
            suffix = self.settings.worker_id or "main"
            with open(f"{audit}.{suffix}", "w", encoding="utf-8") as handle:
                json.dump(REGISTRY.values() + list(self.settings.forge_tokens.values()), handle)


def _reason_kinds(results: list[InvariantResult]) -> str:
    """The kinds of reasons why nothing was verified, most frequent first."""
    kinds = Counter(reason.split(":", 1)[0] for r in results for reason in r.reasons)
    return ", ".join(f"{kind} ({count})" for kind, count in kinds.most_common(4)) or "no check ran"


def _exit_name(status: int) -> str:
    try:
        return pytest.ExitCode(status).name.lower().replace("_", " ")
    except ValueError:
        return "unknown"
