"""The pytest plugin's behaviour as a user meets it: options, markers, selection, reports, probe.

Each test writes a small test module into a scratch directory with ``pytester`` and runs pytest
on it with the plugin loaded through its ``pytest11`` entry point, as an installed copy would be.

In-process runs (``runpytest_inprocess``) are the default here: they cost no interpreter start
and no second import of hypothesis and schemathesis. The plugin keeps two pieces of
process-global state, though. ``http.traffic.TRAFFIC`` is reconfigured by every session's
``pytest_configure``; the autouse fixture below puts its policy back. ``redaction.REGISTRY``
keeps every secret a session registers; a secret registered in-process would stay in the outer
session's registry, so the redaction test runs in a subprocess. Modules first imported during
an in-process run are dropped from ``sys.modules`` after it, while httpx keeps the httpcore
exception classes it mapped then: httpcore is imported here first, so a later test in this
process still sees ``httpx.ConnectError`` rather than a stray ``httpcore.ConnectError``. The
xdist test runs in a subprocess too: it starts worker processes of its own, and keeping its
controller out of this process (itself perhaps an xdist worker) is what a user's run looks like.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpcore  # noqa: F401  (see the module docstring)
import pytest

from seecodes_conformance.http.traffic import TRAFFIC
from seecodes_conformance.target import EXIT_TARGET_UNAVAILABLE
from tls_certs import make_pki, tls_server

pytest_plugins = ["pytester"]

# Two real catalog ids (contract/invariants.yaml) and one that is not in it.
KNOWN_ID = "HEALTH-OK"
OTHER_ID = "OPENAPI-DOC"
UNKNOWN_ID = "NOT-A-REAL-ID"

# Subprocess runs leave out the third-party plugins the plugin under test does not use: importing
# hypothesis and schemathesis costs seconds per process, and an xdist run pays it three times.
LEAN_SUBPROCESS = ("-p", "no:schemathesis", "-p", "no:hypothesispytest", "-p", "no:anyio")


@pytest.fixture(autouse=True)
def _isolated_plugin_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Runs see no SEECODES_* variable of the outer environment; TRAFFIC's policy survives."""
    for name in list(os.environ):
        if name.startswith("SEECODES_"):
            monkeypatch.delenv(name)
    policy = TRAFFIC.policy
    yield
    TRAFFIC.configure(policy)


def _closed_port() -> int:
    """A local port nothing listens on (bound, read, released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _marked_tests_source() -> str:
    """Three tests that need no engine: one per known id and one without an invariant mark."""
    return f"""
        import pytest

        @pytest.mark.invariant("{KNOWN_ID}")
        def test_known():
            pass

        @pytest.mark.invariant("{OTHER_ID}")
        def test_other():
            pass

        def test_unmarked():
            pass
    """


@pytest.mark.parametrize(
    ("cli", "env", "expected"),
    [
        pytest.param(None, None, "nightly", id="ini-alone"),
        pytest.param(None, "certify", "certify", id="env-beats-ini"),
        pytest.param("smoke", "certify", "smoke", id="cli-beats-env-and-ini"),
    ],
)
def test_profile_precedence_is_command_line_then_environment_then_ini(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    cli: str | None,
    env: str | None,
    expected: str,
) -> None:
    """Every option follows one precedence rule, so a CI variable can override a checked-in
    ini file and a one-off command line can override both."""
    pytester.makeini("[pytest]\nseecodes_profile = nightly\n")
    pytester.makepyfile(
        f"""
        def test_profile(seecodes_settings):
            assert seecodes_settings.profile.name == "{expected}"
        """
    )
    if env is not None:
        monkeypatch.setenv("SEECODES_PROFILE", env)
    args = ["--report-dir", "none"] + (["--profile", cli] if cli else [])

    result = pytester.runpytest_inprocess(*args)

    result.stdout.fnmatch_lines([f"profile {expected}, forge source test-issuer, run prefix *"])
    result.assert_outcomes(passed=1)


def test_run_prefix_option_is_in_the_header_and_reaches_the_fixture(
    pytester: pytest.Pytester,
) -> None:
    """The run prefix scopes every id a run writes; ``--run-prefix`` replays a run's ids, so it
    must be the one the header shows and the one the tests receive."""
    pytester.makepyfile(
        """
        def test_prefix(run_prefix):
            assert run_prefix == "SCCPLG"
        """
    )

    result = pytester.runpytest_inprocess("--run-prefix", "SCCPLG", "--report-dir", "none")

    result.stdout.fnmatch_lines(["profile ci, forge source test-issuer, run prefix SCCPLG"])
    result.assert_outcomes(passed=1)


def test_unknown_invariant_mark_is_a_usage_error_naming_the_id(
    pytester: pytest.Pytester,
) -> None:
    """A typo in a mark would silently leave an invariant unattributed in the certification;
    refusing the run names the typo before any test runs."""
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.invariant("{UNKNOWN_ID}")
        def test_typo():
            pass
        """
    )

    result = pytester.runpytest_inprocess("--report-dir", "none")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown invariant ids*", f"*::test_typo: {UNKNOWN_ID}"])
    result.assert_outcomes()


def test_list_invariants_prints_the_catalog_and_runs_nothing(pytester: pytest.Pytester) -> None:
    """``--list-invariants`` shows what the harness checks (id, level, area, routes, quote)
    without a target: no test runs, no engine starts, no report is written."""
    pytester.makepyfile(_marked_tests_source())

    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--list-invariants")

    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            f"{KNOWN_ID}  [[]contract, system[]]  GET /healthz",
            '    "Minimal liveness probe*"',
            f"{OTHER_ID}  *GET /openapi.json",
        ]
    )
    result.stdout.no_fnmatch_line("*passed*")
    assert not (pytester.path / "reports").exists()


def test_invariant_option_keeps_only_tests_marked_with_it(pytester: pytest.Pytester) -> None:
    """``--invariant`` reruns exactly the tests that check one invariant, e.g. after a fix."""
    pytester.makepyfile(_marked_tests_source())

    result = pytester.runpytest_inprocess("--invariant", KNOWN_ID, "--report-dir", "none", "-v")

    result.stdout.fnmatch_lines(["*::test_known PASSED*"])
    result.stdout.no_fnmatch_line("*::test_other *")
    result.stdout.no_fnmatch_line("*::test_unmarked *")
    result.assert_outcomes(passed=1, deselected=2)


def test_unknown_invariant_option_is_a_usage_error(pytester: pytest.Pytester) -> None:
    """Selecting an id that no catalog entry has would select nothing and pass vacuously."""
    pytester.makepyfile(_marked_tests_source())

    result = pytester.runpytest_inprocess("--invariant", UNKNOWN_ID, "--report-dir", "none")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--invariant {UNKNOWN_ID}*"])
    result.assert_outcomes()


def test_invariant_map_writes_each_test_and_its_invariant_ids(
    pytester: pytest.Pytester,
) -> None:
    """Traceability tools read which test checks which invariant without running anything."""
    pytester.makepyfile(test_mapped=_marked_tests_source())
    map_file = pytester.path / "map.json"

    result = pytester.runpytest_inprocess(
        "--collect-only", "--invariant-map", str(map_file), "--report-dir", "none"
    )

    assert result.ret == pytest.ExitCode.OK
    assert json.loads(map_file.read_text()) == {
        "test_mapped.py::test_known": [KNOWN_ID],
        "test_mapped.py::test_other": [OTHER_ID],
        "test_mapped.py::test_unmarked": [],
    }


def test_secret_in_a_failure_message_is_shown_as_its_placeholder(
    pytester: pytest.Pytester,
) -> None:
    """Failure output ends up in CI logs anyone can read; a registered secret must never appear
    there, only its numbered placeholder.

    Runs in a subprocess: the ``secrets`` fixture is the process-wide ``REGISTRY``, and a secret
    registered in-process would stay registered in the outer session.
    """
    secret = "plugin-test-secret-7f3a9c"
    pytester.makepyfile(
        f"""
        def test_leaks(secrets):
            value = "{secret}"
            secrets.add(value, "api-key")
            assert value == "something else", "the value was " + value
        """
    )

    result = pytester.runpytest_subprocess(*LEAN_SUBPROCESS, "--report-dir", "none")

    output = result.stdout.str() + result.stderr.str()
    result.assert_outcomes(failed=1)
    assert "AssertionError: the value was [api-key#1]" in output
    assert secret not in output


def test_report_dir_none_writes_no_report_folder(pytester: pytest.Pytester) -> None:
    """Local reruns and the harness's own tests must not litter the working tree."""
    pytester.makepyfile(_marked_tests_source())
    before = set(pytester.path.iterdir())

    # The cache provider would add a folder of its own; the repository's addopts disable it too.
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--report-dir", "none")

    result.assert_outcomes(passed=3)
    assert set(pytester.path.iterdir()) == before


def test_report_dir_receives_certification_json_in_a_stamped_run_folder(
    pytester: pytest.Pytester,
) -> None:
    """CI archives the run folder; its name pairs the start time with the run prefix so runs
    never overwrite each other and each can be traced to the ids it wrote. Invariant-marked
    tests that never touch ``target`` are enough to make a run worth reporting."""
    pytester.makepyfile(_marked_tests_source())
    report_root = pytester.path / "out"

    result = pytester.runpytest_inprocess(
        "--report-dir", str(report_root), "--run-prefix", "SCCREP"
    )

    result.assert_outcomes(passed=3)
    run_dirs = [path for path in report_root.iterdir() if not path.is_symlink()]
    assert [path.name[-7:] for path in run_dirs] == ["-SCCREP"]
    assert re.fullmatch(r"\d{8}T\d{6}Z-SCCREP", run_dirs[0].name)
    assert (report_root / "latest").resolve() == run_dirs[0].resolve()
    certification = json.loads((run_dirs[0] / "certification.json").read_text())
    assert certification["run"]["run_prefix"] == "SCCREP"


def test_unreachable_base_url_ends_the_run_fast_with_one_message(
    pytester: pytest.Pytester,
) -> None:
    """An outage is not a regression: the run stops before the first test, says so once and
    exits with its own status, so CI can tell "engine down" from "engine wrong"."""
    pytester.makepyfile(
        """
        def test_needs_target(target):
            pass
        """
    )
    started = time.monotonic()

    result = pytester.runpytest_inprocess(
        "--base-url", f"http://127.0.0.1:{_closed_port()}", "--report-dir", "none"
    )

    elapsed = time.monotonic() - started
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == EXIT_TARGET_UNAVAILABLE, output
    assert output.count("target unavailable") == 1, output
    assert "cannot reach the target" in output
    assert elapsed < 10, f"took {elapsed:.1f}s"


def test_tls_options_resolve_against_the_invocation_dir_and_reach_the_settings(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--ca-bundle, --client-cert, --client-key (relative to where pytest was started) and
    --tls-verify make one TlsConfig; the environment variables say the same."""
    where = pytester.path / "pki"
    make_pki(where)
    pytester.makepyfile(
        f"""
        from pathlib import Path
        from seecodes_conformance.tls import TlsConfig

        def test_tls(seecodes_settings):
            where = Path({str(where)!r})
            assert seecodes_settings.tls == TlsConfig(
                verify=True,
                ca_bundle=where / "ca.pem",
                client_cert=where / "client.pem",
                client_key=where / "client.key",
            )
            assert seecodes_settings.tls_verify == str(where / "ca.pem")
        """
    )
    monkeypatch.setenv("SEECODES_CLIENT_KEY", "pki/client.key")
    args = ["--ca-bundle", "pki/ca.pem", "--client-cert", "pki/client.pem", "--report-dir", "none"]

    result = pytester.runpytest_inprocess(*args)

    result.assert_outcomes(passed=1)


def test_tls_verify_0_is_kept_without_files(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from seecodes_conformance.tls import TlsConfig

        def test_tls(seecodes_settings):
            assert seecodes_settings.tls == TlsConfig(verify=False)
            assert seecodes_settings.tls_verify is False
        """
    )
    result = pytester.runpytest_inprocess("--tls-verify", "0", "--report-dir", "none")
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize("option", ["--ca-bundle", "--client-cert"])
def test_an_unusable_tls_file_is_a_usage_error_naming_it(
    pytester: pytest.Pytester, option: str
) -> None:
    pytester.makepyfile("def test_nothing():\n    pass\n")

    result = pytester.runpytest_inprocess(option, "missing.pem", "--report-dir", "none")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert str(pytester.path / "missing.pem") in result.stderr.str(), result.stderr.str()


def test_an_untrusted_tls_certificate_is_one_exit_7_naming_the_origin(
    pytester: pytest.Pytester,
) -> None:
    """A staging target behind a private CA: one message naming the origin and both ways out,
    within seconds, instead of a connection error per test."""
    pki = make_pki(pytester.path / "pki")
    pytester.makepyfile(
        """
        def test_needs_target(target):
            pass
        """
    )
    with tls_server(pki) as server:
        started = time.monotonic()
        result = pytester.runpytest_inprocess("--base-url", server.url, "--report-dir", "none")
        elapsed = time.monotonic() - started

    output = result.stdout.str() + result.stderr.str()
    assert result.ret == EXIT_TARGET_UNAVAILABLE, output
    assert output.count("target unavailable") == 1, output
    assert f"TLS certificate of {server.url} not trusted" in output, output
    assert "--ca-bundle FILE" in output and "--tls-verify 0" in output, output
    assert elapsed < 10, f"took {elapsed:.1f}s"


def test_a_target_requiring_a_client_certificate_gets_the_one_given(
    pytester: pytest.Pytester,
) -> None:
    """Without --client-cert the handshake's refusal is one exit-7 message that says so; with
    it, TLS succeeds (this server then answers "ok", which is not an OpenAPI document)."""
    pki = make_pki(pytester.path / "pki")
    pytester.makepyfile(
        """
        def test_needs_target(target):
            pass
        """
    )
    with tls_server(pki, require_client_cert=True) as server:
        refused = pytester.runpytest_inprocess(
            "--base-url", server.url, "--ca-bundle", str(pki.ca), "--report-dir", "none"
        )
        accepted = pytester.runpytest_inprocess(
            "--base-url", server.url, "--ca-bundle", str(pki.ca), "--report-dir", "none",
            "--client-cert", str(pki.client_cert), "--client-key", str(pki.client_key),
        )  # fmt: skip

    output = refused.stdout.str() + refused.stderr.str()
    assert refused.ret == EXIT_TARGET_UNAVAILABLE, output
    assert f"TLS handshake with {server.url} failed" in output and "--client-cert" in output
    output = accepted.stdout.str() + accepted.stderr.str()
    assert accepted.ret == EXIT_TARGET_UNAVAILABLE, output
    assert "did not return JSON" in output and "TLS" not in output, output
    assert server.client_subjects[-1] == "seecodes-conformance client"


def test_plugin_markers_are_registered_for_strict_markers(pytester: pytest.Pytester) -> None:
    """Suites run with ``--strict-markers``; an unregistered plugin marker would fail them all."""
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.invariant("{KNOWN_ID}")
        @pytest.mark.needs_test_issuer
        def test_marked():
            pass
        """
    )

    result = pytester.runpytest_inprocess("--strict-markers", "--report-dir", "none")

    result.assert_outcomes(passed=1)


def test_xdist_workers_share_the_controllers_run_prefix(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    """Ids are scoped by the run prefix; workers that each drew their own would write outside
    the prefix the report names, and a replay with ``--run-prefix`` would miss their data.

    Runs in a subprocess (see the module docstring). ``--base-url`` points at a closed port only
    so the controller starts no bundled engine: these tests never use ``target``, so nothing
    probes it.
    """
    out_dir = tmp_path / "prefixes"
    out_dir.mkdir()
    pytester.makepyfile(
        f"""
        import pathlib
        import pytest

        @pytest.mark.parametrize("n", range(4))
        def test_prefix(run_prefix, worker_id, n):
            out = pathlib.Path({str(out_dir)!r}) / f"{{worker_id}}-{{n}}.txt"
            out.write_text(run_prefix)
        """
    )

    result = pytester.runpytest_subprocess(
        *LEAN_SUBPROCESS, "-p", "xdist", "-n", "2", "--report-dir", "none",
        "--base-url", f"http://127.0.0.1:{_closed_port()}",
    )  # fmt: skip

    result.assert_outcomes(passed=4)
    written = {path.name: path.read_text() for path in out_dir.iterdir()}
    assert {name.split("-")[0] for name in written} == {"gw0", "gw1"}
    prefixes = set(written.values())
    assert len(prefixes) == 1
    result.stdout.fnmatch_lines([f"*run prefix {prefixes.pop()}"])


# ------------------------------------------------------------------------ command-line spelling

REPO = Path(__file__).resolve().parents[1]


def _pytest_in_repo(*args: str) -> subprocess.CompletedProcess[str]:
    """A user's command line, run from the repository root (its pyproject.toml configures it)."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", *LEAN_SUBPROCESS, *args],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith(("SEECODES_", "PYTEST_"))},
    )  # fmt: skip


def test_a_path_option_written_with_a_space_stops_the_run_with_the_spelling_that_works(
    tmp_path: Path,
) -> None:
    """pytest picks its rootdir and ini file before it knows the harness's options, so in
    ``--report-dir /elsewhere`` it takes /elsewhere for a test path: the project's testpaths and
    addopts are ignored and a plain ``pytest`` would run the self-tests. The run stops at once,
    with exit 4 and one line; the same value written with '=' is fine."""
    elsewhere = tmp_path / "reports"
    elsewhere.mkdir()

    spaced = _pytest_in_repo("--list-invariants", "--report-dir", str(elsewhere))

    assert spaced.returncode == pytest.ExitCode.USAGE_ERROR, spaced.stdout + spaced.stderr
    lines = [line for line in spaced.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, spaced.stderr
    assert lines[0].startswith(f"ERROR: write --report-dir={elsewhere} (with '='): "), lines
    assert "chose the rootdir " in lines[0] and "(no ini file)" in lines[0]
    assert f"instead of {REPO / 'pyproject.toml'}" in lines[0]
    assert KNOWN_ID not in spaced.stdout  # nothing ran

    joined = _pytest_in_repo("--list-invariants", f"--report-dir={elsewhere}")

    assert joined.returncode == 0, joined.stdout + joined.stderr
    assert KNOWN_ID in joined.stdout


def test_a_spaced_option_that_changes_nothing_is_accepted(pytester: pytest.Pytester) -> None:
    """``--report-dir out`` inside the project, or ``--report-dir none``, leaves pytest's choice
    of rootdir and ini file as it was: no reason to refuse the spelling."""
    pytester.makeini("[pytest]\nseecodes_profile = smoke\n")
    pytester.makepyfile(_marked_tests_source())
    (pytester.path / "out").mkdir()

    inside = pytester.runpytest_inprocess("--report-dir", "out", "--run-prefix", "SCCSPC")
    disabled = pytester.runpytest_inprocess("--report-dir", "none")

    inside.assert_outcomes(passed=3)
    disabled.assert_outcomes(passed=3)
    assert [p.name for p in (pytester.path / "out").iterdir() if p.name.endswith("-SCCSPC")]
