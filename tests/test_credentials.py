"""Forge credential sources: the test issuer's tokens verify, and each negative token is wrong
in exactly one way."""

import sys
import time
from pathlib import Path

import jwt
import pytest
from jwt import PyJWKClient  # noqa: F401  (imported to prove the dependency is present)

from seecodes_conformance.credentials import (
    FORGE_ISSUER,
    TEST_APP_ID,
    CredentialUnavailable,
    NegativeToken,
    Principal,
    StaticTokens,
    TestIssuer,
    TokenCommand,
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
