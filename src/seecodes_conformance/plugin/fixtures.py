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
from seecodes_conformance.deferred import StateFile, open_state
from seecodes_conformance.flows import ProtocolSteps
from seecodes_conformance.flows.run_registry import EarlyRuns, RunRegistry, starters_of
from seecodes_conformance.http import JiraAppSession, new_http_client
from seecodes_conformance.ids import IdFactory
from seecodes_conformance.outcomes import not_verified_here
from seecodes_conformance.plugin._stash import DEFERRED_STATE, RUN_PREFIX, settings_of
from seecodes_conformance.plugin.engine import start_engine
from seecodes_conformance.plugin.progress import progress_writer
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
def deferred_state(pytestconfig: pytest.Config, seecodes_settings: Settings) -> StateFile | None:
    """The state file of expiry checks deferred across runs; None without ``--state-file``.
    The controller opened (and if need be renewed) it at configure; a worker opens it as left."""
    if DEFERRED_STATE in pytestconfig.stash:
        return pytestconfig.stash[DEFERRED_STATE][0]
    state, _ = open_state(seecodes_settings.state_file, seecodes_settings.base_url, fresh=False)
    return state


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
        pytest.exit(
            "seecodes: " + bootstrap_failure(response, forge), returncode=EXIT_TARGET_UNAVAILABLE
        )


def bootstrap_failure(response: httpx.Response, forge: CredentialSource) -> str:
    """What the first request-key bootstrap's answer means, in one line and a hint.

    Only 401 and 403 are about the credentials; a missing route, a 501, a server error or a
    throttle each has its own cause, and a credentials hint would send the user the wrong way.
    """
    status = response.status_code
    answered = f"POST /v1/jira/request-key answered {status}"
    excerpt = REGISTRY.redact(response.text[:200]).strip()
    said = f" ({excerpt})" if excerpt else ""
    if status in (401, 403):
        hint = (
            "the target must trust the test issuer: SEECODES_FORGE_JWKS=<repo>/fixtures/forge/"
            "jwks.json and SEECODES_FORGE_APP_ID=<--forge-app-id>"
            if isinstance(forge, TestIssuer)
            else "the Forge token for tenant 'a' (expired? wrong app?)"
        )
        return f"the target refused the Forge credentials: {answered}{said}\n  check: {hint}"
    if status in (404, 405):
        return (
            f"the target has no request-key bootstrap: {answered}{said}\n  check: --base-url is "
            "the engine's root (the origin that serves /healthz and /v1/...), not a UI or a path "
            "under it"
        )
    if status == 501:
        return (
            f"the target does not implement the request-key bootstrap: {answered} Not Implemented"
            f"{said}\n  every Jira-App route needs it (protocol: request keys), so nothing behind "
            "it can be checked"
        )
    if status == 429 or (status == 503 and "retry-after" in response.headers):
        return (
            f"the target kept throttling the first bootstrap: {answered}{said}\n  check: a lower "
            "--rate-limit, or an allowance for the harness in the target's rate limiter"
        )
    if status >= 500:
        return (
            f"the target failed on the request-key bootstrap: {answered}{said}\n  a server "
            "error, not a credentials problem: see the target's logs"
        )
    return (
        f"the request-key bootstrap returned no request key: {answered}{said}\n  the protocol's "
        "answer is { ok: true, requestKey, expiresAt }"
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
            not_verified_here(
                "credentials",
                f"no Forge token for tenant {tenant!r}: {exc}",
                "a credential source with that tenant (see README: Forge credentials)",
            )
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


@pytest.fixture(scope="session")
def run_registry(
    pytestconfig: pytest.Config, seecodes_settings: Settings, http: httpx.Client
) -> Iterator[RunRegistry]:
    """This process's started runs, settled side by side by one background poller."""
    write = progress_writer(pytestconfig)
    registry = RunRegistry(seecodes_settings.run_wait, progress=write)
    yield registry
    registry.close()
    if registry.record.tracked:
        write(registry.summary_line())


@pytest.fixture(scope="session")
def early_runs(
    request: pytest.FixtureRequest,
    run_registry: RunRegistry,
    http: httpx.Client,
    forge: CredentialSource,
    ids: IdFactory,
    seecodes_settings: Settings,
    _handshake: None,
) -> EarlyRuns:
    """The runs of every selected test whose module declares ``EARLY_RUNS``, all started at the
    first test that needs one (each xdist worker starts those of every selected test: it cannot
    know which it will be sent)."""
    used: dict[object, set[str]] = {}
    for item in request.session.items:
        module = getattr(item, "module", None)
        if module is not None and hasattr(module, "EARLY_RUNS"):
            names = used.setdefault(module, set())
            names.update(getattr(item, "fixturenames", ()))
            names.add(getattr(item, "originalname", item.name))

    def protocol_for(owner: str) -> ProtocolSteps:
        return ProtocolSteps.standalone(
            http=http, forge=forge, ids=ids, settings=seecodes_settings, owner=owner
        )

    return EarlyRuns(run_registry, starters_of(list(used.items())), protocol_for)
