"""Forge credential sources: the test issuer's tokens verify, and each negative token is wrong
in exactly one way."""

import os
import subprocess
import sys
import time
from pathlib import Path

import jwt
import pytest
from jwt import PyJWKClient  # noqa: F401  (imported to prove the dependency is present)

from seecodes_conformance.credentials import (
    FORGE_ISSUER,
    TEST_APP_ID,
    CredentialExpired,
    CredentialUnavailable,
    NegativeToken,
    Principal,
    StaticTokens,
    TestIssuer,
    TokenCommand,
    parallel_problem,
    static_token_problem,
    token_expiry,
)
from seecodes_conformance.redaction import SecretRegistry
from seecodes_conformance.resources import forge_dir

WHO = Principal("a", "p1")


def _verify(token: str) -> dict:
    jwks = jwt.PyJWKSet.from_json((forge_dir() / "jwks.json").read_text())
    kid = jwt.get_unverified_header(token)["kid"]
    key = next(k for k in jwks.keys if k.key_id == kid)
    return jwt.decode(
        token, key.key, algorithms=["RS256"], audience=TEST_APP_ID, issuer=FORGE_ISSUER, leeway=60
    )


@pytest.fixture
def issuer() -> TestIssuer:
    return TestIssuer(run_id="SCCUNIT", secrets=SecretRegistry())


def test_test_issuer_token_verifies_against_the_committed_jwks(issuer: TestIssuer) -> None:
    claims = _verify(issuer.token(WHO))
    ident = issuer.identity(WHO)
    assert claims["principal"] == ident.account_id
    assert claims["app"]["installationId"] == ident.installation_id
    assert claims["context"]["cloudId"] == ident.cloud_id
    assert claims["exp"] - claims["iat"] == 300


def test_identities_are_run_scoped_and_distinct(issuer: TestIssuer) -> None:
    other_run = TestIssuer(run_id="SCCOTHER", secrets=SecretRegistry())
    a1, a2, b1 = (
        issuer.identity(Principal(t, n)) for t, n in (("a", "p1"), ("a", "p2"), ("b", "p1"))
    )
    assert a1.installation_id == a2.installation_id != b1.installation_id
    assert a1.account_id != a2.account_id
    assert other_run.identity(WHO).installation_id != a1.installation_id


@pytest.mark.parametrize("kind", list(NegativeToken))
def test_each_negative_token_fails_verification(issuer: TestIssuer, kind: NegativeToken) -> None:
    token = issuer.negative(WHO, kind)
    with pytest.raises((jwt.PyJWTError, StopIteration)):
        _verify(token)


def test_tokens_are_registered_as_secrets() -> None:
    registry = SecretRegistry()
    token = TestIssuer(run_id="SCCUNIT", secrets=registry).token(WHO)
    assert token not in registry.redact(f"Authorization: {token}")
    assert token in registry


def test_static_tokens_have_one_principal_per_tenant() -> None:
    source = StaticTokens({"a": "static-token-for-a"}, secrets=SecretRegistry())
    assert source.token(WHO) == "static-token-for-a"
    with pytest.raises(CredentialUnavailable, match="principals"):
        source.token(Principal("a", "p2"))
    with pytest.raises(CredentialUnavailable, match="tenant 'b'"):
        source.token(Principal("b"))
    assert not source.negative_tokens  # only the test issuer signs tokens a target must refuse


def test_token_command_passes_the_tenant_and_reads_stdout(tmp_path: Path) -> None:
    script = tmp_path / "tok.py"
    script.write_text("import sys; print('token-from-command-' + sys.argv[1])")
    source = TokenCommand(f"{sys.executable} {script}", secrets=SecretRegistry())
    assert source.token(Principal("b")) == "token-from-command-b"


def test_failing_token_command_says_so(tmp_path: Path) -> None:
    source = TokenCommand(
        f"{sys.executable} -c 'import sys; sys.exit(3)'", secrets=SecretRegistry()
    )
    with pytest.raises(CredentialUnavailable, match="exited 3"):
        source.token(WHO)


def test_expired_token_is_expired_beyond_skew(issuer: TestIssuer) -> None:
    claims = jwt.decode(
        issuer.negative(WHO, NegativeToken.EXPIRED), options={"verify_signature": False}
    )
    assert claims["exp"] < time.time() - 60


# ------------------------------------------------------------------ static tokens and their expiry

ROOT = Path(__file__).resolve().parents[1]
NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z


def _jwt(exp: float | None, secret: str = "not-a-forge-key-but-a-jwt-all-the-same") -> str:
    claims = {"iss": FORGE_ISSUER, "aud": TEST_APP_ID, "principal": "557058:someone"}
    if exp is not None:
        claims["exp"] = int(exp)
    return jwt.encode(claims, secret, algorithm="HS256")


def test_token_expiry_is_read_without_the_signing_key() -> None:
    assert token_expiry(_jwt(NOW + 60)) == NOW + 60
    assert token_expiry(_jwt(None)) is None  # no exp: the harness cannot tell
    assert token_expiry("an-opaque-token") is None


def test_a_static_token_that_cannot_last_the_run_is_named_by_tenant_never_shown() -> None:
    """A ci run needs a static token for about 15 min, nightly and certify for about 2 h;
    one expired or expiring sooner is refused before the run, naming the tenant."""
    expired, short, long = _jwt(NOW - 600), _jwt(NOW + 300), _jwt(NOW + 3 * 3600)
    problem = static_token_problem({"a": expired, "b": short}, "ci", now=NOW)
    assert problem is not None
    assert "tenant 'a' expired at 2027-01-15T07:50:00Z (10 min ago)" in problem
    assert "tenant 'b' expires at 2027-01-15T08:05:00Z, in 5 min; a ci run needs it for about " \
           "15 min" in problem  # fmt: skip
    assert "--forge-token-command" in problem and "\n" not in problem
    assert expired not in problem and short not in problem
    assert static_token_problem({"a": long, "b": long}, "nightly", now=NOW) is None
    assert "certify run needs it for about 2 h" in str(
        static_token_problem({"a": _jwt(NOW + 3600)}, "certify", now=NOW)
    )
    assert static_token_problem({"a": "opaque"}, "ci", now=NOW) is None


def test_a_static_token_that_expired_during_the_run_is_a_credentials_problem() -> None:
    token = _jwt(time.time() - 5)
    source = StaticTokens({"a": token}, secrets=SecretRegistry())
    with pytest.raises(CredentialExpired, match=r"tenant 'a' expired at .* during the run") as info:
        source.token(WHO)
    assert isinstance(info.value, CredentialUnavailable)  # the first handshake exits 7 on it
    assert token not in str(info.value)


def test_static_and_command_tokens_refuse_several_workers() -> None:
    assert parallel_problem("test-issuer", 4) is None
    assert parallel_problem("static", 1) is None
    for source in ("static", "command"):
        problem = parallel_problem(source, 2)
        assert problem and "2 xdist workers" in problem and "request-key chain" in problem


def _run_suites(*args: str) -> subprocess.CompletedProcess[str]:
    """The suites from the repository root, as a user starts them (nothing listens on port 9:
    these runs must stop before they reach for a target)."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "suites/test_surface.py", "-p", "no:cacheprovider",
         "--base-url=http://127.0.0.1:9", "--report-dir=none", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith(("SEECODES_", "PYTEST_"))},
    )  # fmt: skip


def test_an_expired_static_token_ends_the_run_at_once_with_exit_7_and_one_line() -> None:
    token = _jwt(time.time() - 120)
    started = time.monotonic()

    done = _run_suites("--forge-source=static", f"--forge-token=a={token}")

    output = done.stdout + done.stderr
    assert done.returncode == 7, output
    assert time.monotonic() - started < 60
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert lines[0].startswith("seecodes: Forge credentials refused: the static Forge token for "
                               "tenant 'a' expired at ")  # fmt: skip
    assert token not in output


def test_static_tokens_under_xdist_are_refused_before_any_worker_starts() -> None:
    token = _jwt(time.time() + 3600)

    done = _run_suites("-n", "2", "--forge-source=static", f"--forge-token=a={token}")

    output = done.stdout + done.stderr
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, output
    assert "static Forge tokens cannot serve 2 xdist workers" in output
    assert "gw0" not in output and token not in output


# ------------------------------------------------------------------------------ the token command


def _command(tmp_path: Path, body: str) -> str:
    script = tmp_path / "get-token.py"
    script.write_text("import sys, time\ntenant = sys.argv[1]\n" + body)
    return f"{sys.executable} {script}"


def test_a_failing_token_command_shows_its_stderr_redacted(tmp_path: Path) -> None:
    registry = SecretRegistry()
    registry.add("known-secret-value-1234", "api-key")
    leaked = _jwt(NOW + 3600)
    command = _command(
        tmp_path,
        "print('login to https://sso.example/realms/dev failed for', tenant, file=sys.stderr)\n"
        f"print('retrying with known-secret-value-1234 and {leaked}', file=sys.stderr)\n"
        "sys.exit(2)\n",
    )
    with pytest.raises(CredentialUnavailable) as info:
        TokenCommand(command, secrets=registry).token(WHO)
    message = str(info.value)
    assert message.startswith("the token command exited 2 with no token for tenant 'a'")
    assert "\n  stderr: login to https://sso.example/realms/dev failed for a" in message
    assert "[api-key#1]" in message and "[unregistered-jwt]" in message
    assert "known-secret-value-1234" not in message and leaked not in message
    assert str(tmp_path) not in message  # the command line is never shown


def test_a_token_command_that_hands_out_an_expired_token_is_refused(tmp_path: Path) -> None:
    expired = _jwt(time.time() - 90)
    command = _command(tmp_path, f"print({expired!r})\n")
    with pytest.raises(CredentialExpired, match="as the command handed it out") as info:
        TokenCommand(command, secrets=SecretRegistry()).token(WHO)
    assert "tenant 'a' expired at " in str(info.value) and expired not in str(info.value)


def test_a_token_command_runs_again_before_its_token_expires(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A token is reused for at most a minute, and never within 30 s of its exp: one that
    lasts 40 s more is run again after 10 s."""
    runs = tmp_path / "runs"
    command = _command(
        tmp_path,
        f"open({str(runs)!r}, 'a').write('x')\n"
        "import jwt, uuid\n"
        "claims = {'exp': int(time.time()) + 40, 'jti': str(uuid.uuid4())}\n"
        "print(jwt.encode(claims, 'k' * 32, algorithm='HS256'))\n",
    )
    source = TokenCommand(command, secrets=SecretRegistry())
    first = source.token(WHO)
    assert source.token(WHO) == first and runs.read_text() == "x"
    eleven_seconds_on = time.monotonic() + 11
    monkeypatch.setattr(time, "monotonic", lambda: eleven_seconds_on)
    assert source.token(WHO) != first and runs.read_text() == "xx"
