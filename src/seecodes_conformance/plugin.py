"""The pytest plugin: options, markers and session fixtures; nothing else.

Loaded through the ``pytest11`` entry point, so it works from the repository root and from an
installed copy run anywhere.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from seecodes_conformance import PROTOCOL_VERSION, __version__
from seecodes_conformance.clients import JiraAppSession, new_http_client
from seecodes_conformance.credentials import (
    CredentialSource,
    CredentialUnavailable,
    Principal,
    StaticTokens,
    TestIssuer,
    TokenCommand,
)
from seecodes_conformance.engine_process import EngineProcess, EngineStartError
from seecodes_conformance.ids import IdFactory, new_run_prefix
from seecodes_conformance.scenarios import Protocol
from seecodes_conformance.secrets import REGISTRY, SecretRegistry
from seecodes_conformance.settings import Settings, add_options, read_settings
from seecodes_conformance.target import (
    EXIT_TARGET_UNAVAILABLE,
    Target,
    TargetUnavailable,
    probe,
)

# The bundled engine runs with short credential lifetimes so expiry is testable in seconds.
EMBEDDED_ENGINE_ARGS = ("--request-key-ttl", "8", "--launch-code-ttl", "8")
_WORKER_KEYS = ("seecodes_base_url", "seecodes_run_prefix")


def _pytest_base_url_active(pluginmanager: pytest.PytestPluginManager) -> bool:
    """pytest-base-url (pulled in by pytest-playwright/-selenium) registers --base-url itself."""
    installed = importlib.util.find_spec("pytest_base_url") is not None
    return installed and not pluginmanager.is_blocked("base_url")


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    # When pytest-base-url owns --base-url we read the same dest, so both behave the same.
    add_options(parser, register_base_url=not _pytest_base_url_active(pluginmanager))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "invariant(*ids): the catalog invariants (contract/invariants.yaml) a test checks",
    )
    config.addinivalue_line("markers", "needs_test_issuer: the test needs test-issuer tokens")
    worker_input = getattr(config, "workerinput", None)
    if worker_input is None:
        config.stash[_RUN_PREFIX] = _settings(config).run_prefix or new_run_prefix()
        if config.pluginmanager.hasplugin("xdist"):
            config.pluginmanager.register(_XdistController(config), "seecodes-xdist-controller")
    else:
        config.stash[_RUN_PREFIX] = worker_input["seecodes_run_prefix"]
    from seecodes_conformance.report.collector import ReportCollector  # reports + CI gate

    config.pluginmanager.register(ReportCollector(config), "seecodes-report")
    from seecodes_conformance import fuzz_report  # the fuzzing coverage table (issue 4)

    fuzz_report.install(config)


_RUN_PREFIX = pytest.StashKey[str]()
_SETTINGS = pytest.StashKey[Settings]()
_SHARED_ENGINE = pytest.StashKey[EngineProcess]()


def _settings(config: pytest.Config) -> Settings:
    if _SETTINGS not in config.stash:
        config.stash[_SETTINGS] = read_settings(config)
    return config.stash[_SETTINGS]


class _XdistController:
    """With xdist, one embedded engine and one run prefix serve every worker."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl
    def pytest_configure_node(self, node: Any) -> None:
        settings = _settings(self.config)
        base_url = settings.base_url
        if base_url is None and _session_needs_target(self.config):
            engine = self.config.stash.get(_SHARED_ENGINE, None)
            if engine is None:
                engine = _start_engine(settings)
                self.config.stash[_SHARED_ENGINE] = engine
            base_url = engine.base_url
        node.workerinput["seecodes_base_url"] = base_url
        node.workerinput["seecodes_run_prefix"] = self.config.stash[_RUN_PREFIX]

    @pytest.hookimpl
    def pytest_unconfigure(self, config: pytest.Config) -> None:
        engine = config.stash.get(_SHARED_ENGINE, None)
        if engine is not None:
            engine.close()


def _session_needs_target(config: pytest.Config) -> bool:
    """The harness's own tests (tests/) start the engines they need themselves."""
    args = [a for a in config.args if not a.startswith("-")]
    return not args or any("suites" in a or not a.startswith("tests") for a in args)


def _start_engine(settings: Settings) -> EngineProcess:
    engine = EngineProcess(
        faults=settings.engine_faults,
        variants=settings.engine_variants,
        workers=settings.engine_workers,
        extra_args=EMBEDDED_ENGINE_ARGS,
    )
    try:
        return engine.start()
    except EngineStartError as exc:
        engine.close()
        pytest.exit(
            f"seecodes: the bundled reference engine did not start: {exc}",
            returncode=EXIT_TARGET_UNAVAILABLE,
        )


def pytest_report_header(config: pytest.Config) -> list[str]:
    settings = _settings(config)
    target = settings.base_url or "bundled reference engine (started for this session)"
    return [
        f"seecodes-conformance {__version__}, protocol {PROTOCOL_VERSION}: target {target}",
        f"profile {settings.profile.name}, forge source {settings.forge_source}, "
        f"run prefix {config.stash[_RUN_PREFIX]}",
    ]


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Validate invariant ids against the catalog; honour --invariant selection."""
    settings = _settings(config)
    selected = set(settings.invariants)
    marked = {item.nodeid: _invariants_of(item) for item in items}
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
        keep = [item for item in items if selected & marked[item.nodeid]]
        deselected = [item for item in items if not selected & marked[item.nodeid]]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            items[:] = keep


def _invariants_of(item: pytest.Item) -> set[str]:
    return {str(iid) for m in item.iter_markers("invariant") for iid in m.args}


def pytest_collection_finish(session: pytest.Session) -> None:
    """Probe an explicit --base-url before the first test, so an outage is one message."""
    settings = _settings(session.config)
    needs_target = any("target" in getattr(i, "fixturenames", ()) for i in session.items)
    if settings.base_url and needs_target:
        try:
            probe(settings.base_url, verify=settings.tls_verify)
        except TargetUnavailable as exc:
            pytest.exit(f"seecodes: target unavailable: {exc}", returncode=EXIT_TARGET_UNAVAILABLE)


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


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def seecodes_settings(pytestconfig: pytest.Config) -> Settings:
    return _settings(pytestconfig)


@pytest.fixture(scope="session")
def secrets() -> SecretRegistry:
    return REGISTRY


@pytest.fixture(scope="session")
def run_prefix(pytestconfig: pytest.Config) -> str:
    return pytestconfig.stash[_RUN_PREFIX]


@pytest.fixture(scope="session")
def forge(seecodes_settings: Settings, run_prefix: str) -> CredentialSource:
    """The Forge token source chosen for this run."""
    s = seecodes_settings
    if s.forge_source == "static":
        return StaticTokens(s.forge_tokens)
    if s.forge_source == "command":
        if not s.forge_token_command:
            raise pytest.UsageError("--forge-source=command needs --forge-token-command")
        return TokenCommand(s.forge_token_command)
    return TestIssuer(run_id=run_prefix, app_id=s.forge_app_id)


@pytest.fixture(scope="session")
def test_issuer(forge: CredentialSource) -> TestIssuer:
    """The test issuer, or a skip that names the missing capability."""
    if not isinstance(forge, TestIssuer):
        pytest.skip(f"needs test-issuer tokens (negative tokens); the run uses {forge.kind} tokens")
    return forge


@pytest.fixture(scope="session")
def target(pytestconfig: pytest.Config, seecodes_settings: Settings) -> Iterator[Target]:
    """The engine under test, probed once; an outage ends the session with one message."""
    worker_input = getattr(pytestconfig, "workerinput", None)
    base_url = seecodes_settings.base_url
    if worker_input is not None:
        base_url = worker_input.get("seecodes_base_url") or base_url
    engine = None
    if base_url is None:
        engine = _start_engine(seecodes_settings)
        base_url = engine.base_url
    try:
        doc = probe(base_url, verify=seecodes_settings.tls_verify)
    except TargetUnavailable as exc:
        if engine is not None:
            engine.close()
        pytest.exit(f"seecodes: target unavailable: {exc}", returncode=EXIT_TARGET_UNAVAILABLE)
    yield Target(base_url=base_url, openapi=doc, engine=engine)
    if engine is not None:
        engine.close()


@pytest.fixture(scope="session")
def http(target: Target, seecodes_settings: Settings) -> Iterator[httpx.Client]:
    with new_http_client(
        target.base_url,
        timeout=seecodes_settings.request_timeout,
        verify=seecodes_settings.tls_verify,
    ) as client:
        yield client


@pytest.fixture(scope="session")
def ids(run_prefix: str) -> IdFactory:
    return IdFactory(run_prefix, os.environ.get("PYTEST_XDIST_WORKER", ""))


@pytest.fixture(scope="session")
def _handshake(http: httpx.Client, forge: CredentialSource) -> None:
    """The first request-key bootstrap; refused credentials end the session clearly."""
    who = Principal("a", "p1")
    try:
        session = JiraAppSession(http, lambda: forge.token(who), who)
        response = session.bootstrap()
    except (CredentialUnavailable, httpx.HTTPError) as exc:
        pytest.exit(
            f"seecodes: cannot obtain Forge credentials: {exc}", returncode=EXIT_TARGET_UNAVAILABLE
        )
    if session.current_key is None:
        hint = (
            "the target must trust the test issuer: SEECODES_FORGE_JWKS=<repo>/fixtures/forge/"
            "jwks.json and SEECODES_FORGE_APP_ID=<--forge-app-id>"
            if isinstance(forge, TestIssuer)
            else "the Forge token for tenant 'a' (expired? wrong app?)"
        )
        pytest.exit(
            f"seecodes: the target refused the Forge credentials: POST /v1/jira/request-key "
            f"answered {response.status_code}\n  check: {hint}",
            returncode=EXIT_TARGET_UNAVAILABLE,
        )


JiraFactory = Callable[..., JiraAppSession]


@pytest.fixture
def jira_factory(
    http: httpx.Client, forge: CredentialSource, request: pytest.FixtureRequest, _handshake: None
) -> JiraFactory:
    """Make Jira-App sessions; each test gets principals of its own where the source allows."""
    counter = iter(range(1, 1000))
    unique = forge.principals_per_tenant is None

    def make(tenant: str = "a", principal: str | None = None) -> JiraAppSession:
        if principal is None:
            principal = f"{request.node.nodeid}#{next(counter)}" if unique else "p1"
        who = Principal(tenant, principal)
        try:
            forge.token(who)
        except CredentialUnavailable as exc:
            pytest.skip(str(exc))
        return JiraAppSession(http, lambda: forge.token(who), who)

    return make


@pytest.fixture
def jira(jira_factory: JiraFactory) -> JiraAppSession:
    """A Jira-App session for tenant ``a``."""
    return jira_factory("a")


@pytest.fixture
def protocol(
    http: httpx.Client, jira_factory: JiraFactory, ids: IdFactory, seecodes_settings: Settings
) -> Protocol:
    """The shared protocol steps (see scenarios.py)."""
    return Protocol(http=http, jira_factory=jira_factory, ids=ids, settings=seecodes_settings)


@pytest.fixture(scope="module")
def module_protocol(
    request: pytest.FixtureRequest,
    http: httpx.Client,
    forge: CredentialSource,
    ids: IdFactory,
    seecodes_settings: Settings,
    _handshake: None,
) -> Protocol:
    """The shared protocol steps for module-scoped fixtures, with principals of the module's own."""
    return Protocol.standalone(
        http=http, forge=forge, ids=ids, settings=seecodes_settings, owner=request.module.__name__
    )
