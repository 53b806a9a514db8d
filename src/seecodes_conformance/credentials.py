"""Forge credentials: where the harness gets bearer tokens.

Three sources: the test issuer (signs its own Forge-shaped tokens with the committed TEST key),
static tokens pasted per tenant, and a token command run per token. Only the test issuer can
make negative tokens or more than one principal per tenant; tests that need those skip with a
reason naming the missing capability.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import json
import shlex
import subprocess
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import jwt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from seecodes_conformance.redaction import REGISTRY, SecretRegistry
from seecodes_conformance.resources import forge_dir

TEST_APP_ID = "ari:cloud:ecosystem::app/5eec0de5-7e57-4000-8000-00000000c0de"
FORGE_ISSUER = "forge/invocation-token"
TEST_KID = "seecodes-test-issuer-1"
UNTRUSTED_KID = "seecodes-test-untrusted-1"
DEFAULT_LIFETIME_S = 300
_NAMESPACE = uuid.UUID("5eec0de5-7e57-4000-8000-00000000c0de")


class CredentialUnavailable(Exception):
    """The configured source cannot provide this credential; the message says what is missing."""


class CredentialSourceFailed(CredentialUnavailable):
    """The source failed to hand out a usable token (a token command failed, a token expired):
    a credentials problem that ends the run, not a missing capability that skips one test."""


class CredentialExpired(CredentialSourceFailed):
    """A Forge token has expired or is about to; the message names the tenant, never the token."""


# How long a run is expected to last, by profile: a static token must stay valid this long.
# Conservative: every suite of a ci run takes minutes against a local engine, more on a staging
# target behind a rate limit; nightly and certify runs do several times the work.
EXPECTED_RUN_S = {"smoke": 15 * 60, "ci": 15 * 60, "nightly": 2 * 3600, "certify": 2 * 3600}


def token_expiry(token: str) -> float | None:
    """The ``exp`` of a JWT, read without checking its signature; None for an opaque token or
    one without ``exp`` (the harness cannot tell how long it lasts)."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None


def _utc(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


def _span(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 2 * 3600:
        return f"{round(seconds / 60)} min"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def expired_message(kind: str, tenant: str, exp: float, now: float) -> str:
    ago = _span(now - exp)
    return f"the {kind} Forge token for tenant {tenant!r} expired at {_utc(exp)} ({ago} ago)"


def static_token_problem(
    tokens: dict[str, str], profile: str, *, now: float | None = None
) -> str | None:
    """One line naming every tenant whose static token is expired or will expire before a run
    of ``profile`` can end (``EXPECTED_RUN_S``); None when every token can serve the run or
    does not say when it expires. Never contains a token."""
    now = time.time() if now is None else now
    needed = EXPECTED_RUN_S.get(profile, max(EXPECTED_RUN_S.values()))
    problems = []
    for tenant, token in sorted(tokens.items()):
        exp = token_expiry(token)
        if exp is None:
            continue
        if exp <= now:
            problems.append(expired_message("static", tenant, exp, now))
        elif exp - now < needed:
            problems.append(
                f"the static Forge token for tenant {tenant!r} expires at {_utc(exp)}, in "
                f"{_span(exp - now)}; a {profile} run needs it for about {_span(needed)}"
            )
    if not problems:
        return None
    return (
        "; ".join(problems)
        + ". Static tokens cannot be renewed: paste fresh ones, or let --forge-token-command "
        "mint them as the run goes"
    )


def parallel_problem(source: str, workers: int) -> str | None:
    """Static and command tokens give one principal, so one request-key chain, per tenant:
    xdist workers sharing it consume each other's keys and fail tests that did nothing wrong."""
    if workers <= 1 or source not in ("static", "command"):
        return None
    what = "static Forge tokens" if source == "static" else "Forge tokens from a token command"
    return (
        f"{what} cannot serve {workers} xdist workers: they give one principal, so one "
        "request-key chain, per tenant, and workers rotating the same chain consume each "
        "other's keys (false failures); run without -n (or -n 0), or use the test issuer"
    )


@dataclass(frozen=True)
class Principal:
    """A harness-side name for a user in a tenant: tenant ``a`` or ``b``, user ``name``."""

    tenant: str
    name: str = "p1"


@dataclass(frozen=True)
class Identity:
    """What the test issuer writes into a token for a principal."""

    principal: Principal
    account_id: str
    installation_id: str
    cloud_id: str
    site_url: str


# Certification profile §2: exp and nbf "with at most 60 s of clock skew".
MAX_CLOCK_SKEW_S = 60


class NegativeToken(enum.Enum):
    """Tokens a correct target must refuse."""

    EXPIRED = "expired"
    EXPIRED_PAST_SKEW = "expired-90s-ago"  # just past the 60 s of skew a target may allow
    NOT_YET_VALID = "not-yet-valid"
    NOT_YET_VALID_PAST_SKEW = "valid-in-90s"  # just past the skew, the other way
    HS256_PUBLIC_KEY = "hs256-keyed-with-the-public-key"  # the classic algorithm confusion
    WRONG_AUDIENCE = "wrong-audience"
    WRONG_ISSUER = "wrong-issuer"
    BAD_SIGNATURE = "bad-signature"
    UNKNOWN_KID = "unknown-kid"
    ALG_NONE = "alg-none"
    NOT_A_JWS = "not-a-jws"  # three dot-separated segments whose header is not base64url JSON
    ALG_NOT_A_STRING = "alg-not-a-string"  # a JWS whose header names its algorithm as a number


class CredentialSource(ABC):
    """Hands out Forge bearer tokens per principal."""

    kind: str = "abstract"
    negative_tokens: bool = False
    principals_per_tenant: int | None = 1  # None: unlimited

    def __init__(self, secrets: SecretRegistry = REGISTRY) -> None:
        self.secrets = secrets

    @abstractmethod
    def token(self, who: Principal) -> str:
        """A currently valid Forge token for ``who``."""

    def require_principals(self, count: int) -> None:
        limit = self.principals_per_tenant
        if limit is not None and count > limit:
            raise CredentialUnavailable(
                f"needs {count} principals in one tenant; the {self.kind} source has {limit} "
                "(use the test issuer)"
            )


@dataclass
class TestIssuer(CredentialSource):
    """Signs Forge-shaped tokens with the committed test key (TEST ONLY)."""

    __test__ = False  # not a pytest test class despite its name

    run_id: str = "local"
    app_id: str = TEST_APP_ID
    lifetime_s: int = DEFAULT_LIFETIME_S
    private_key_path: Path = field(default_factory=lambda: forge_dir() / "private_key.pem")
    kid: str = TEST_KID
    secrets: SecretRegistry = field(default=REGISTRY)

    kind = "test-issuer"
    negative_tokens = True
    principals_per_tenant = None

    def __post_init__(self) -> None:
        # Parsed once: handing PEM bytes to jwt.encode re-parses the key on every token (~0.1 s).
        self._key = _load_private_key(self.private_key_path)
        self._untrusted = _load_private_key(forge_dir() / "untrusted_private_key.pem")

    def identity(self, who: Principal) -> Identity:
        """Run-scoped ids, so runs and workers never touch each other's installations.

        The account id depends on the principal's name alone, as Atlassian account ids are
        global: the same name in two tenants is one person in two installations.
        """
        tenant_ns = uuid.uuid5(_NAMESPACE, f"{self.run_id}/tenant/{who.tenant}")
        account = uuid.uuid5(_NAMESPACE, f"{self.run_id}/principal/{who.name}")
        return Identity(
            principal=who,
            account_id=f"557058:{account}",
            installation_id=f"ari:cloud:ecosystem::installation/{tenant_ns}",
            cloud_id=str(uuid.uuid5(tenant_ns, "cloud")),
            site_url=f"https://scc-{self.run_id.lower()}-{who.tenant}.atlassian.net",
        )

    def claims(self, who: Principal, *, now: float | None = None) -> dict[str, Any]:
        ident = self.identity(who)
        issued = int(time.time() if now is None else now)
        return {
            "iss": FORGE_ISSUER,
            "aud": self.app_id,
            "iat": issued,
            "nbf": issued,
            "exp": issued + self.lifetime_s,
            "jti": str(uuid.uuid4()),
            "principal": ident.account_id,
            "app": {
                "id": self.app_id,
                "installationId": ident.installation_id,
                "apiBaseUrl": f"https://api.atlassian.com/ex/jira/{ident.cloud_id}",
                "environment": {
                    "type": "DEVELOPMENT",
                    "id": f"ari:cloud:ecosystem::environment/{uuid.uuid5(_NAMESPACE, 'env')}",
                },
                "module": {"type": "jira:issuePanel", "key": "seecodes-issue-panel"},
                "license": {"isActive": True},
            },
            "context": {"cloudId": ident.cloud_id, "siteUrl": ident.site_url},
        }

    def sign(
        self,
        claims: dict[str, Any],
        *,
        untrusted_key: bool = False,
        kid: str | None = None,
        alg: str = "RS256",
    ) -> str:
        headers = {"kid": kid or self.kid, "typ": "JWT"}
        if alg == "none":
            token = jwt.encode(claims, "", algorithm="none", headers=headers)
        else:
            key = self._untrusted if untrusted_key else self._key
            token = jwt.encode(claims, key, algorithm=alg, headers=headers)
        self.secrets.add(token, "forge-token")
        return token

    def token(self, who: Principal) -> str:
        return self.sign(self.claims(who))

    def without_kid(self, who: Principal) -> str:
        """A valid token for ``who`` whose header names no key: the profile's tokens carry a
        ``kid``, but one without it is still signed by the trusted key (a target may accept it by
        choosing the key by algorithm, or refuse it)."""
        return self._signed_with_header(self.claims(who), {"alg": "RS256", "typ": "JWT"})

    def _registered(self, token: str) -> str:
        self.secrets.add(token, "forge-token")
        return token

    def _signed_with_header(self, claims: dict[str, Any], header: dict[str, Any]) -> str:
        """RS256 over ``header`` as given: PyJWT will not write a header whose alg is not a
        string, so the token is assembled here (signed by the trusted key, so only the header
        is wrong)."""
        signing_input = b".".join(
            _b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
        )
        signature = self._key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return self._registered((signing_input + b"." + _b64url(signature)).decode("ascii"))

    def _hs256_with_public_key(self, claims: dict[str, Any]) -> str:
        """HS256 keyed with the trusted key's public PEM: a verifier that takes the algorithm
        from the token and the key from its JWKS accepts it (PyJWT refuses to make one, so the
        signature is computed here)."""
        public_pem = self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        header = {"alg": "HS256", "kid": self.kid, "typ": "JWT"}
        signing_input = b".".join(
            _b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
        )
        signature = hmac.new(public_pem, signing_input, hashlib.sha256).digest()
        token = (signing_input + b"." + _b64url(signature)).decode("ascii")
        self.secrets.add(token, "forge-token")
        return token

    def negative(self, who: Principal, kind: NegativeToken) -> str:
        """A token for ``who`` that is wrong in exactly one way."""
        now = time.time()
        claims = self.claims(who, now=now)
        skew = MAX_CLOCK_SKEW_S + 240  # well beyond the 60 s of clock skew a target may allow
        near = MAX_CLOCK_SKEW_S + 30  # just past the skew a target may allow: a near miss
        if kind is NegativeToken.EXPIRED:
            claims.update(iat=int(now) - 2 * skew, nbf=int(now) - 2 * skew, exp=int(now) - skew)
        elif kind is NegativeToken.EXPIRED_PAST_SKEW:
            claims.update(iat=int(now) - 600, nbf=int(now) - 600, exp=int(now) - near)
        elif kind is NegativeToken.NOT_YET_VALID:
            claims.update(nbf=int(now) + skew, iat=int(now), exp=int(now) + 2 * skew)
        elif kind is NegativeToken.NOT_YET_VALID_PAST_SKEW:
            claims.update(nbf=int(now) + near, iat=int(now), exp=int(now) + 600)
        elif kind is NegativeToken.HS256_PUBLIC_KEY:
            return self._hs256_with_public_key(claims)
        elif kind is NegativeToken.WRONG_AUDIENCE:
            claims["aud"] = f"ari:cloud:ecosystem::app/{uuid.uuid4()}"
        elif kind is NegativeToken.WRONG_ISSUER:
            claims["iss"] = "forge/not-the-invocation-token"
        elif kind is NegativeToken.BAD_SIGNATURE:
            return self.sign(claims, untrusted_key=True)
        elif kind is NegativeToken.UNKNOWN_KID:
            return self.sign(claims, untrusted_key=True, kid=UNTRUSTED_KID)
        elif kind is NegativeToken.ALG_NONE:
            return self.sign(claims, alg="none")
        elif kind is NegativeToken.NOT_A_JWS:
            return self._registered(f"not-a-jws.{uuid.uuid4().hex}.{uuid.uuid4().hex}")
        elif kind is NegativeToken.ALG_NOT_A_STRING:
            return self._signed_with_header(claims, {"alg": 256, "kid": self.kid, "typ": "JWT"})
        return self.sign(claims)


def _b64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _load_private_key(path: Path) -> RSAPrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, RSAPrivateKey):
        raise ValueError(f"{path} is not an RSA private key")
    return key


class StaticTokens(CredentialSource):
    """Tokens someone pasted, one per tenant; they cannot be renewed by the harness."""

    kind = "static"

    def __init__(self, tokens: dict[str, str], secrets: SecretRegistry = REGISTRY) -> None:
        super().__init__(secrets)
        self._tokens = dict(tokens)
        self._expiry = {tenant: token_expiry(value) for tenant, value in self._tokens.items()}
        for tenant, value in self._tokens.items():
            secrets.add(value, "forge-token")
            IN_USE.note(self.kind, tenant, self._expiry[tenant])

    def token(self, who: Principal) -> str:
        if who.name != "p1":
            self.require_principals(2)
        try:
            token = self._tokens[who.tenant]
        except KeyError:
            raise CredentialUnavailable(
                f"no static Forge token for tenant {who.tenant!r} (set --forge-token "
                f"{who.tenant}=TOKEN or SEECODES_FORGE_TOKEN_{who.tenant.upper()})"
            ) from None
        exp, now = self._expiry[who.tenant], time.time()
        if exp is not None and exp <= now:
            raise CredentialExpired(
                expired_message(self.kind, who.tenant, exp, now)
                + " during the run; static tokens cannot be renewed"
            )
        return token


class TokenCommand(CredentialSource):
    """Runs a command per token with the tenant name as its last argument; stdout is the token.

    The command line is split like a shell would (``shlex``) but run without a shell, so pipes
    and ``$VARS`` need a script. A tenant's token is reused for up to ``reuse_s`` seconds and
    never within ``renew_before_s`` of its ``exp``; then the command runs again. It may take
    ``timeout`` seconds. When it fails, its stderr (redacted) is part of the message; the
    command line itself is never shown (it may carry a secret).
    """

    kind = "command"
    reuse_s = 60.0
    renew_before_s = 30.0  # a token this close to its exp is not handed out again
    min_lifetime_s = 30.0  # a fresh token that lasts less is refused as expired

    def __init__(
        self, command: str, secrets: SecretRegistry = REGISTRY, timeout: float = 30
    ) -> None:
        super().__init__(secrets)
        self._argv = shlex.split(command)
        self._timeout = timeout
        self._tokens: dict[str, ReusedValue[str]] = {}
        self._lock = threading.Lock()

    def token(self, who: Principal) -> str:
        if who.name != "p1":
            self.require_principals(2)
        tenant = who.tenant
        with self._lock:  # one command at a time, as a person pasting tokens would
            if tenant not in self._tokens:
                self._tokens[tenant] = ReusedValue(lambda: self._run(tenant), self._reuse_for)
            return self._tokens[tenant]()

    def _reuse_for(self, token: str) -> float:
        exp = token_expiry(token)
        if exp is None:
            return self.reuse_s
        return max(0.0, min(self.reuse_s, exp - time.time() - self.renew_before_s))

    def _run(self, tenant: str) -> str:
        try:
            done = subprocess.run(
                [*self._argv, tenant],
                capture_output=True,
                text=True,
                timeout=self._timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise CredentialSourceFailed(
                f"the token command did not finish within {self._timeout:g} s for tenant "
                f"{tenant!r}" + self._stderr(exc.stderr)
            ) from None
        except OSError as exc:
            raise CredentialSourceFailed(
                f"the token command could not start: {exc.strerror or exc} ({self._argv[0]!r})"
                if self._argv
                else "the token command is empty"
            ) from None
        token = done.stdout.strip()
        if token:
            self.secrets.add(token, "forge-token")
        if done.returncode != 0 or not token:
            raise CredentialSourceFailed(
                f"the token command exited {done.returncode} with "
                f"{'no token' if not token else 'a token'} for tenant {tenant!r}"
                + self._stderr(done.stderr)
            )
        exp, now = token_expiry(token), time.time()
        IN_USE.note(self.kind, tenant, exp)
        if exp is not None and exp - now < self.min_lifetime_s:
            raise CredentialExpired(
                expired_message(self.kind, tenant, exp, now) + ", as the command handed it out"
                if exp <= now
                else f"the token command handed out a Forge token for tenant {tenant!r} that "
                f"expires at {_utc(exp)}, in {_span(exp - now)}: too soon to use"
            )
        return token

    def _stderr(self, stderr: str | bytes | None, lines: int = 8) -> str:
        """The end of the command's stderr, redacted, as indented lines of a message."""
        if isinstance(stderr, bytes):
            stderr = stderr.decode("utf-8", errors="replace")
        shown = [line.rstrip()[:300] for line in (stderr or "").splitlines() if line.strip()]
        if not shown:
            return " (nothing on stderr)"
        text = self.secrets.redact("\n".join(shown[-lines:]))  # unregistered JWTs too
        return "".join(f"\n  stderr: {line}" for line in text.splitlines())


class TokensInUse:
    """When each Forge token the harness cannot renew on its own expires, by source and tenant.

    A 401 from the target on such a token once it has expired says nothing about the protocol;
    the report plugin asks here before it counts a failure as a verdict.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._expiry: dict[tuple[str, str], float] = {}

    def note(self, kind: str, tenant: str, exp: float | None) -> None:
        with self._lock:
            if exp is None:
                self._expiry.pop((kind, tenant), None)
            else:
                self._expiry[(kind, tenant)] = exp

    def clear(self) -> None:
        with self._lock:
            self._expiry.clear()

    def expired(self, *, margin: float = 0.0, now: float | None = None) -> list[str]:
        """A message for each token expired ``margin`` seconds from now (a target's clock may
        run ahead of this one), soonest first."""
        now = time.time() if now is None else now
        with self._lock:
            stale = sorted((exp, kind, tenant) for (kind, tenant), exp in self._expiry.items()
                           if exp <= now + margin)  # fmt: skip
        return [
            expired_message(kind, tenant, exp, now) if exp <= now else
            f"the {kind} Forge token for tenant {tenant!r} expires at {_utc(exp)}, "
            f"in {_span(exp - now)}"
            for exp, kind, tenant in stale
        ]  # fmt: skip


IN_USE = TokensInUse()

_T = TypeVar("_T")


class ReusedValue(Generic[_T]):
    """A value made once and reused for up to ``max_age`` seconds, then made afresh.

    Forge tokens and launch codes outlive a request by far; making one per request (a signature,
    a command, a Jira-App call) would cost more than the request it serves. ``max_age`` may
    depend on the value (a launch code lives as long as its own expiresAt says): it is asked
    once, right after the value is made. Concurrent callers share one value.
    """

    def __init__(
        self, make: Callable[[], _T], max_age: float | Callable[[_T], float] = 60.0
    ) -> None:
        self._make = make
        self._max_age = max_age
        self._lock = threading.Lock()
        self._current: tuple[_T, float, float] | None = None  # value, made at, max age

    def __call__(self) -> _T:
        with self._lock:
            now = time.monotonic()
            if self._current is None or now - self._current[1] > self._current[2]:
                value = self._make()
                max_age = self._max_age(value) if callable(self._max_age) else self._max_age
                self._current = (value, now, max_age)
            return self._current[0]
