"""The plugin's pytest hooks: options, markers, selection, the probe, redacted reports."""

from __future__ import annotations

import importlib.util
import json
import math
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import httpx
import pytest

from seecodes_conformance import PROTOCOL_VERSION, __version__
from seecodes_conformance.deferred import open_state
from seecodes_conformance.fuzz import coverage as fuzz_coverage_table
from seecodes_conformance.http.throttling import is_refusal
from seecodes_conformance.http.traffic import TRAFFIC, Policy
from seecodes_conformance.ids import new_run_prefix
from seecodes_conformance.markers import MARKERS, invariants_of
from seecodes_conformance.outcomes import LOG, NotVerified, Unverified
from seecodes_conformance.plugin._stash import DEFERRED_STATE, RUN_PREFIX, settings_of
from seecodes_conformance.plugin.progress import progress_writer
from seecodes_conformance.plugin.xdist import XdistController
from seecodes_conformance.progress import PROGRESS
from seecodes_conformance.redaction import REGISTRY
from seecodes_conformance.report.collector import ReportCollector
from seecodes_conformance.settings import Settings, add_options, wants_invariant_list
from seecodes_conformance.target import (
    EXIT_TARGET_UNAVAILABLE,
    TargetUnavailable,
    probe,
    version_claim,
)


def _pytest_base_url_active(pluginmanager: pytest.PytestPluginManager) -> bool:
    """pytest-base-url (pulled in by pytest-playwright/-selenium) registers --base-url itself."""
    installed = importlib.util.find_spec("pytest_base_url") is not None
    return installed and not pluginmanager.is_blocked("base_url")


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    # When pytest-base-url owns --base-url we read the same dest, so both behave the same.
    add_options(parser, register_base_url=not _pytest_base_url_active(pluginmanager))


def pytest_configure(config: pytest.Config) -> None:
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)
    settings = settings_of(config)
    worker_input = getattr(config, "workerinput", None)
    if worker_input is None:
        config.stash[RUN_PREFIX] = settings.run_prefix or new_run_prefix()
        config.stash[DEFERRED_STATE] = open_state(
            settings.state_file, settings.base_url, fresh=True
        )
        if config.pluginmanager.hasplugin("xdist"):
            config.pluginmanager.register(XdistController(config), "seecodes-xdist-controller")
    else:
        config.stash[RUN_PREFIX] = worker_input["seecodes_run_prefix"]
    TRAFFIC.configure(traffic_policy(settings))
    PROGRESS.configure(progress_writer(config))
    fuzz_coverage = fuzz_coverage_table.install(config, is_worker=settings.is_worker)
    collector = ReportCollector(config, settings, config.stash[RUN_PREFIX], fuzz_coverage)
    config.pluginmanager.register(collector, "seecodes-report")


def traffic_policy(settings: Settings) -> Policy:
    """This process's share of the run's request budget and rate ceiling (xdist splits both)."""
    parts = settings.workers
    budget, rate = settings.request_budget, settings.rate_limit
    return Policy(
        budget=math.ceil(budget / parts) if budget > 0 else None,
        rate=TRAFFIC.share(rate, parts) if rate > 0 else None,
        max_body=settings.max_response_bytes,
    )


def pytest_cmdline_main(config: pytest.Config) -> int | None:
    """``--list-invariants`` prints the catalog and ends the run before anything is collected,
    so a user can see what the harness checks without a target."""
    if not wants_invariant_list(config):
        return None
    from seecodes_conformance.contract import load_catalog

    for invariant in load_catalog().values():
        routes = ", ".join(invariant.routes) or "(no route)"
        print(f"{invariant.id}  [{invariant.level}, {invariant.area}]  {routes}")
        print(f'    "{" ".join(invariant.quote.split())}"')
        for route, sentence in invariant.route_sources:  # cells another sentence governs
            print(f'      {route}: "{" ".join(sentence.split())}"')
    return 0


def pytest_report_header(config: pytest.Config) -> list[str]:
    settings = settings_of(config)
    target = settings.base_url or "bundled reference engine (started for this session)"
    return [
        f"seecodes-conformance {__version__}, protocol {PROTOCOL_VERSION}: target {target}",
        f"profile {settings.profile.name}, forge source {settings.forge_source}, "
        f"run prefix {config.stash[RUN_PREFIX]}",
    ]


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Validate invariant ids against the catalog; honour --invariant selection."""
    settings = settings_of(config)
    selected = set(settings.invariants)
    marked = {item.nodeid: set(invariants_of(item)) for item in items}
    if settings.invariant_map:
        Path(settings.invariant_map).write_text(
            json.dumps({k: sorted(v) for k, v in marked.items()}, indent=1)
        )
    if any(marked.values()) or selected:
        from seecodes_conformance.contract import load_catalog

        catalog = load_catalog()
        unknown = sorted(
            {f"{nodeid}: {iid}" for nodeid, ids in marked.items() for iid in ids
             if iid not in catalog}
            | {f"--invariant {iid}" for iid in selected if iid not in catalog}
        )  # fmt: skip
        if unknown:
            raise pytest.UsageError(
                "unknown invariant ids (not in contract/invariants.yaml):\n  "
                + "\n  ".join(unknown)
            )
    if selected:
        _keep_only(config, items, lambda item: bool(selected & marked[item.nodeid]))
    if settings.routes:
        from seecodes_conformance.plugin.routes import RouteSelection

        selection = RouteSelection.parse(settings.routes)  # UsageError on an unknown route
        _keep_only(config, items, lambda item: selection.selects(item, marked[item.nodeid]))


def _keep_only(
    config: pytest.Config, items: list[pytest.Item], wanted: Callable[[pytest.Item], bool]
) -> None:
    keep = [item for item in items if wanted(item)]
    if len(keep) < len(items):
        config.hook.pytest_deselected(items=[item for item in items if not wanted(item)])
        items[:] = keep


def pytest_collection_finish(session: pytest.Session) -> None:
    """Probe an explicit --base-url before the first test, so an outage is one message."""
    settings = settings_of(session.config)
    _, state_note = session.config.stash.get(DEFERRED_STATE, (None, None))  # controller only
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if state_note and reporter is not None:
        reporter.write_line(f"seecodes: warning: {state_note}", yellow=True)
    needs_target = any("target" in getattr(i, "fixturenames", ()) for i in session.items)
    if settings.base_url and needs_target:
        try:
            doc = probe(settings.base_url, tls=settings.tls)
        except TargetUnavailable as exc:
            pytest.exit(f"seecodes: target unavailable: {exc}", returncode=EXIT_TARGET_UNAVAILABLE)
        info = doc.get("info")
        claim = version_claim(info.get("version") if isinstance(info, dict) else None,
                              PROTOCOL_VERSION)  # fmt: skip
        if claim and reporter is not None:
            reporter.write_line(f"seecodes: warning: {claim}", yellow=True)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Every report (terminal, JUnit, logs) passes through the one redaction function."""
    report = yield
    if report.longrepr is not None:
        text = str(report.longrepr)
        redacted = REGISTRY.redact(text)
        if redacted != text:
            report.longrepr = redacted
    report.sections = [(title, REGISTRY.redact(body)) for title, body in report.sections]
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    return (yield from _refusals_not_verified(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Any:
    """Fixtures send requests too (a run to poll, a code to expire): same rule as the call."""
    return (yield from _refusals_not_verified(item))


def _refusals_not_verified(item: pytest.Item) -> Generator[None, Any, Any]:
    """A connection the target refused mid-test is "not now", not a protocol verdict.

    The run's first probe already proved the target reachable; a refusal later (a gateway
    shedding load, a restarting replica), or a connection reset before any answer, leaves the
    test's checks not verified, with the origin named. Requests that consume nothing were
    already sent again by the transport; other transport errors stay failures.
    """
    try:
        return (yield)
    except (
        httpx.ConnectError,
        httpx.ReadError,
        httpx.WriteError,
        httpx.RemoteProtocolError,
    ) as exc:
        if not isinstance(exc, httpx.ConnectError) and not is_refusal(exc):
            raise
        origin = _origin_of(exc)
        reason = Unverified(
            "refused",
            f"{origin} refused or reset a connection mid-test ({type(exc).__name__}: {exc})",
            "rerun when the target is healthy; a lower --rate-limit if it sheds load",
        )
        LOG.unverified(invariants_of(item), reason)
        raise NotVerified(f"not verified: {reason}") from exc


def _origin_of(exc: httpx.TransportError) -> str:
    try:
        url = exc.request.url
    except RuntimeError:  # httpx raises it when the error carries no request
        return "the target"
    return f"{url.scheme}://{url.netloc.decode('ascii', 'replace')}"
