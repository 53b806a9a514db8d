"""Harness settings: one place for every option, its environment variable and ini key.

Each option can be given as ``--name``, as ``SEECODES_NAME`` in the environment, or as
``seecodes_name`` in the ini file, in that order of precedence. This module is the only reader
of options and of the environment; everything else receives a typed ``Settings``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from seecodes_conformance.profiles import PROFILES, Profile
from seecodes_conformance.tls import TlsConfig, TlsSetupError


@dataclass(frozen=True)
class Option:
    name: str  # e.g. "forge-source"
    help: str
    default: Any = None
    type: type = str
    multiple: bool = False
    choices: tuple[str, ...] | None = None
    flag: bool = False  # "--name" alone means 1; "--name=0" turns it off

    @property
    def dest(self) -> str:
        return "seecodes_" + self.name.replace("-", "_")

    @property
    def env(self) -> str:
        return "SEECODES_" + self.name.replace("-", "_").upper()


OPTIONS = (
    Option("forge-source", "where Forge tokens come from", "test-issuer",
           choices=("test-issuer", "static", "command")),
    Option("forge-token", "static Forge token for a tenant, as TENANT=TOKEN (repeatable)",
           multiple=True),
    Option("forge-token-command", "command printing a Forge token; the tenant is its argument"),
    Option("forge-app-id", "the app id (aud) of test-issuer tokens",
           "ari:cloud:ecosystem::app/5eec0de5-7e57-4000-8000-00000000c0de"),
    Option("run-prefix", "prefix of every project/task id this run creates (default: random)"),
    Option("profile", "ci, nightly, certify (or smoke: smallest budgets)", "ci",
           choices=tuple(PROFILES)),
    Option("max-wait", "longest wait, in seconds, for a credential to expire", 15.0, float),
    Option("state-file", "keep expiry checks of credentials living longer than --max-wait "
           "here, for a later run to finish (holds secrets: 0600; with --base-url)"),
    Option("run-wait", "longest wait, in seconds, for a run to settle (default: from the "
           "profile: 60 smoke, 180 ci, 900 nightly and certify)", None, float),
    Option("request-timeout", "per-request timeout in seconds", 10.0, float),
    Option("race-technique", "burst technique", "auto",
           choices=("auto", "h1-last-byte", "h2-single-packet")),
    Option("race-bursts", "bursts per race test (default: from the profile)", None, int),
    Option("race-size", "requests per burst", 20, int),
    Option("strict-robustness", "advisory robustness findings (5xx on extreme inputs the "
           "protocol says nothing about) fail the gate too, not only reported", 0, int, flag=True),
    Option("stateful-shrink", "shrink failing state-machine runs (0: report unshrunk, faster)",
           1, int),
    Option("fuzz-seed", "seed of the schema fuzzing (default: the profile's fixed one; under "
           "nightly, derived from the run prefix)", None, int),
    Option("stateful-seed", "seed of the state-machine runs (default: the profile's fixed one; "
           "under nightly, derived from the run prefix)", None, int),
    # TLS towards the target, for every client (tls.py)
    Option("tls-verify", "verify TLS certificates of an https target (0 to disable)", 1, int),
    Option("ca-bundle", "PEM file of CA certificates to trust instead of the default store"),
    Option("client-cert", "PEM client certificate for targets that require one (mTLS)"),
    Option("client-key", "PEM private key of --client-cert, unless that file holds it"),
    Option("invariant", "run only the tests that check these invariant ids (repeatable)",
           multiple=True),
    Option("route", "run only the tests that check a route: 'METHOD /path' as the protocol "
           "writes it, or '/path' for every method (repeatable)", multiple=True),
    Option("invariant-map", "after collection, write {test id: [invariant ids]} as JSON here"),
    Option("restart-command", "shell command that restarts the target, for the durability "
           "checks; the harness then waits for /healthz (default: the bundled engine restarts "
           "itself, a --base-url target is not restarted)"),
    Option("engine-fault", "bundled engine only: switch on a fault (self-tests)", multiple=True),
    Option("engine-variant", "bundled engine only: a legal variation", multiple=True),
    Option("engine-workers", "bundled engine only: worker processes", 1, int),
    # reports and CI gate (report/ subpackage)
    Option("report-dir", "reports go to a new folder per run under this one ('none': no reports)",
           "reports"),
    Option("waivers", "YAML file of invariants allowed to fail (reason, expires)"),
    Option("baseline", "an earlier certification.json: fail only on regressions from passing"),
    Option("signing-key", "sign the certify manifest: Ed25519 private key PEM, else HMAC secret"),
    # staging safety (http/traffic.py)
    Option("request-budget", "most requests this run may send to the target (0: no limit)", 0, int),
    Option("rate-limit", "most requests per second sent to the target (0: no limit)", 0.0, float),
    Option("max-response-bytes", "abort reading a response body past this size", 8388608, int),
)  # fmt: skip


LIST_INVARIANTS_DEST = "seecodes_list_invariants"


def _default_of(opt: Option) -> str:
    """`` (default X)`` for ``--help``, unless the help text already says what happens."""
    if opt.default is None or "default" in opt.help:
        return ""
    if opt.flag:
        return " (default: off)" if not opt.default else " (default: on)"
    return (
        f" (default {opt.default:g})"
        if isinstance(opt.default, float)
        else (f" (default {opt.default})")
    )


def add_options(parser: pytest.Parser, *, register_base_url: bool) -> None:
    group = parser.getgroup("seecodes", "SeeCodes conformance")
    group.addoption(
        "--list-invariants",
        dest=LIST_INVARIANTS_DEST,
        action="store_true",
        default=False,
        help="print the invariant catalog (id, level, area, routes, quote) and exit",
    )
    if register_base_url:
        group.addoption(
            "--base-url",
            dest="base_url",
            default=None,
            help="the target engine (default: start the bundled reference engine)",
        )
    for opt in OPTIONS:
        kwargs: dict[str, Any] = {"dest": opt.dest, "help": f"{opt.help}{_default_of(opt)} "
                                  f"[env {opt.env}]"}  # fmt: skip
        if opt.multiple:
            kwargs.update(action="append", default=None)
        else:
            kwargs.update(default=None, type=opt.type)
        if opt.flag:
            kwargs.update(nargs="?", const=1)
        if opt.choices:
            kwargs["choices"] = opt.choices
        group.addoption("--" + opt.name, **kwargs)
        parser.addini(opt.dest, f"{opt.help} (like --{opt.name})", default=None)


def wants_invariant_list(config: pytest.Config) -> bool:
    """``--list-invariants``: an action, not a setting (no environment variable or ini key)."""
    return bool(config.getoption(LIST_INVARIANTS_DEST, default=False))


def _value(config: pytest.Config, opt: Option) -> Any:
    given = config.getoption(opt.dest)
    if given is not None:
        return given
    env = os.environ.get(opt.env)
    ini = config.getini(opt.dest)
    raw = env if env not in (None, "") else ini
    if raw in (None, "", []):
        return [] if opt.multiple else opt.default
    if opt.multiple:
        items = raw if isinstance(raw, list) else str(raw).replace(",", " ").split()
        return [str(i) for i in items]
    return opt.type(raw)


@dataclass(frozen=True)
class Settings:
    base_url: str | None
    forge_source: str
    forge_tokens: dict[str, str]
    forge_token_command: str | None
    forge_app_id: str
    run_prefix: str | None
    profile: Profile
    max_wait: float
    state_file: Path | None  # expiry checks deferred across runs (deferred.py)
    strict_robustness: bool  # advisory findings fail the gate
    run_wait: float  # how long a run may take to settle before its checks are not verified
    request_timeout: float
    race_technique: str
    race_bursts: int
    race_size: int
    stateful_shrink: bool
    stateful_seed: int | None
    tls: TlsConfig  # every client's TLS: verification, CA bundle, client certificate
    invariants: tuple[str, ...]
    routes: tuple[str, ...]  # --route selection, as written
    invariant_map: str | None
    restart_command: str | None  # restarts the target (durability checks)
    engine_faults: tuple[str, ...]
    engine_variants: tuple[str, ...]
    engine_workers: int
    fuzz_seed: int | None
    report_root: Path | None  # None: write no reports
    waivers: str | None
    baseline: str | None
    signing_key: str | None
    request_budget: int  # 0: no limit
    rate_limit: float  # 0: no limit
    max_response_bytes: int
    worker_id: str  # the xdist worker ("gw0"), "" in the controller or a run without xdist
    workers: int  # how many xdist workers share the run (1 without xdist)
    secret_audit_file: str | None  # self-tests only: dump every secret value the run used
    hypothesis_seed: int | str | None  # hypothesis' own --hypothesis-seed, for the report
    invocation_dir: Path  # where pytest was started: relative paths are shown from here
    invocation_args: tuple[str, ...]  # the command line as given (reports redact it)

    @property
    def tls_verify(self) -> bool | str:
        """The older single TLS setting: False, True or the CA bundle path (``requests``'
        ``verify=``). It cannot carry a client certificate: prefer ``tls``."""
        if self.tls.verify and self.tls.ca_bundle is not None:
            return str(self.tls.ca_bundle)
        return self.tls.verify

    @property
    def is_worker(self) -> bool:
        """An xdist worker: it runs tests and hands its results to the controller."""
        return bool(self.worker_id)


AUDIT_ENV = "SEECODES_SECRET_AUDIT_FILE"
_DISABLED = ("", "none", "off", "0")


def _report_root(config: pytest.Config, value: Any) -> Path | None:
    """``--report-dir`` relative to where pytest was invoked; None when reports are off."""
    if value is None or str(value).strip().lower() in _DISABLED:
        return None
    root = Path(str(value))
    return root if root.is_absolute() else Path(config.invocation_params.dir) / root


def _path(config: pytest.Config, value: Any) -> Path | None:
    """A file option relative to where pytest was invoked; None when not given."""
    if value is None or not str(value).strip():
        return None
    path = Path(str(value)).expanduser()
    return path if path.is_absolute() else Path(config.invocation_params.dir) / path


def _tls(config: pytest.Config, values: dict[str, Any]) -> TlsConfig:
    """The TLS configuration, its files loaded once so a bad one is a usage error up front."""
    try:
        tls = TlsConfig(
            verify=bool(values["seecodes_tls_verify"]),
            ca_bundle=_path(config, values["seecodes_ca_bundle"]),
            client_cert=_path(config, values["seecodes_client_cert"]),
            client_key=_path(config, values["seecodes_client_key"]),
        )
        if not tls.is_default:
            tls.check()
    except TlsSetupError as exc:
        raise pytest.UsageError(f"TLS: {exc}") from None
    return tls


def read_settings(config: pytest.Config) -> Settings:
    values = {opt.dest: _value(config, opt) for opt in OPTIONS}
    base_url = config.getoption("base_url", default=None) or os.environ.get("SEECODES_BASE_URL")
    if not base_url:
        try:
            base_url = config.getini("base_url") or None
        except ValueError:
            base_url = None
    tokens: dict[str, str] = {}
    for item in values["seecodes_forge_token"]:
        tenant, sep, token = item.partition("=")
        if not sep or not token:
            raise pytest.UsageError("--forge-token takes TENANT=TOKEN (the token is never shown)")
        tokens[tenant] = token
    for tenant in ("a", "b"):
        env_token = os.environ.get(f"SEECODES_FORGE_TOKEN_{tenant.upper()}")
        if env_token:
            tokens.setdefault(tenant, env_token)
    profile = PROFILES[values["seecodes_profile"]]
    worker_input: dict[str, Any] | None = getattr(config, "workerinput", None)
    return Settings(
        base_url=base_url.rstrip("/") if base_url else None,
        forge_source=values["seecodes_forge_source"],
        forge_tokens=tokens,
        forge_token_command=values["seecodes_forge_token_command"],
        forge_app_id=values["seecodes_forge_app_id"],
        run_prefix=values["seecodes_run_prefix"],
        profile=profile,
        max_wait=values["seecodes_max_wait"],
        state_file=_path(config, values["seecodes_state_file"]),
        run_wait=values["seecodes_run_wait"] or profile.run_wait,
        strict_robustness=bool(values["seecodes_strict_robustness"]),
        request_timeout=values["seecodes_request_timeout"],
        race_technique=values["seecodes_race_technique"],
        race_bursts=values["seecodes_race_bursts"] or profile.race_bursts,
        race_size=values["seecodes_race_size"],
        stateful_shrink=bool(values["seecodes_stateful_shrink"]),
        stateful_seed=values["seecodes_stateful_seed"],
        tls=_tls(config, values),
        invariants=tuple(values["seecodes_invariant"]),
        routes=tuple(values["seecodes_route"]),
        invariant_map=values["seecodes_invariant_map"],
        restart_command=values["seecodes_restart_command"] or None,
        engine_faults=tuple(values["seecodes_engine_fault"]),
        engine_variants=tuple(values["seecodes_engine_variant"]),
        engine_workers=values["seecodes_engine_workers"],
        fuzz_seed=values["seecodes_fuzz_seed"],
        report_root=_report_root(config, values["seecodes_report_dir"]),
        waivers=values["seecodes_waivers"],
        baseline=values["seecodes_baseline"],
        signing_key=values["seecodes_signing_key"],
        request_budget=max(0, values["seecodes_request_budget"] or 0),
        rate_limit=max(0.0, values["seecodes_rate_limit"] or 0.0),
        max_response_bytes=values["seecodes_max_response_bytes"],
        worker_id=str(worker_input.get("workerid", "")) if worker_input else "",
        workers=int(worker_input.get("workercount", 1)) if worker_input else 1,
        secret_audit_file=os.environ.get(AUDIT_ENV) or None,
        hypothesis_seed=config.getoption("hypothesis_seed", default=None),
        invocation_dir=Path(config.invocation_params.dir),
        invocation_args=tuple(str(arg) for arg in config.invocation_params.args),
    )
