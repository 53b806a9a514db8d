"""Session and test fixtures: settings, credentials, the target, clients, protocol steps."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from seecodes_conformance.credentials import (
    CredentialSource,
    CredentialUnavailable,
    Principal,
    StaticTokens,
    TestIssuer,
    TokenCommand,
)
from seecodes_conformance.flows import ProtocolSteps
from seecodes_conformance.http import JiraAppSession, new_http_client
from seecodes_conformance.ids import IdFactory
from seecodes_conformance.outcomes import not_verified_here
from seecodes_conformance.plugin._stash import RUN_PREFIX, settings_of
from seecodes_conformance.plugin.engine import start_engine
from seecodes_conformance.redaction import REGISTRY, SecretRegistry
from seecodes_conformance.settings import Settings
from seecodes_conformance.target import (
    EXIT_TARGET_UNAVAILABLE,
    Target,
    TargetUnavailable,
    probe,
)


@pytest.fixture(scope="session")
def seecodes_settings(pytestconfig: pytest.Config) -> Settings:
    return settings_of(pytestconfig)


@pytest.fixture(scope="session")
def secrets() -> SecretRegistry:
    return REGISTRY


@pytest.fixture(scope="session")
def run_prefix(pytestconfig: pytest.Config) -> str:
    return pytestconfig.stash[RUN_PREFIX]


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
    """The test issuer, or "not verified" naming the missing capability."""
    if not isinstance(forge, TestIssuer):
        not_verified_here(
            "credentials",
            f"needs test-issuer tokens (negative tokens); the run uses {forge.kind} tokens",
            "--forge-source=test-issuer, with the target trusting the test issuer",
        )
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
        engine = start_engine(seecodes_settings)
        base_url = engine.base_url
    try:
        doc = probe(base_url, tls=seecodes_settings.tls)
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
        tls=seecodes_settings.tls,
    ) as client:
        yield client


@pytest.fixture(scope="session")
def ids(run_prefix: str, seecodes_settings: Settings) -> IdFactory:
    return IdFactory(run_prefix, seecodes_settings.worker_id)


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
) -> ProtocolSteps:
    """The shared protocol steps (``flows``)."""
    return ProtocolSteps(http=http, jira_factory=jira_factory, ids=ids, settings=seecodes_settings)


@pytest.fixture(scope="module")
def module_protocol(
    request: pytest.FixtureRequest,
    http: httpx.Client,
    forge: CredentialSource,
    ids: IdFactory,
    seecodes_settings: Settings,
    _handshake: None,
) -> ProtocolSteps:
    """The shared protocol steps for module-scoped fixtures, with principals of the module's own."""
    return ProtocolSteps.standalone(
        http=http, forge=forge, ids=ids, settings=seecodes_settings, owner=request.module.__name__
    )
