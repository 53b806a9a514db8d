"""One TLS configuration for every client the harness has.

The harness reaches the target through three kinds of client: httpx (the probe, the sessions,
presigned uploads, the report's fetch of /openapi.json), requests (schemathesis's fuzzing) and
raw sockets (race bursts and the HTTP/2 probe). ``TlsConfig`` is what ``--tls-verify``,
``--ca-bundle``, ``--client-cert`` and ``--client-key`` say, and it renders that into each
client's own terms, so no client can quietly trust something another one refuses:

- ``ssl_context(alpn)``: an ``ssl.SSLContext`` for sockets (and anything else that takes one);
- ``httpx_verify()``: the ``verify=`` argument of an httpx client or transport;
- ``requests_kwargs()``: the ``verify=`` and ``cert=`` arguments of ``requests``.

A CA bundle replaces the default trust store (like ``curl --cacert``) rather than adding to it.
Without one, sockets trust the system store (``ssl.create_default_context``) while httpx and
requests keep their own defaults (certifi, ``SSL_CERT_FILE`` / ``REQUESTS_CA_BUNDLE``).
A file that cannot be used raises ``TlsSetupError`` naming the file.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class TlsSetupError(Exception):
    """A TLS file cannot be used; the message names the file and says why."""


def _no_password() -> str:
    raise _EncryptedKey


class _EncryptedKey(Exception):
    pass


def _readable(path: Path, what: str) -> None:
    """Raise TlsSetupError, naming ``path``, unless it is a file this process can read."""
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise TlsSetupError(f"cannot read the {what} {path}: {reason}") from None


@dataclass(frozen=True)
class TlsConfig:
    """How the harness does TLS: verify or not, which CA to trust, which client certificate.

    ``client_key`` may be omitted when ``client_cert`` holds the key as well.
    """

    verify: bool = True
    ca_bundle: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None

    def __post_init__(self) -> None:
        if self.client_key is not None and self.client_cert is None:
            raise TlsSetupError(
                f"a client key ({self.client_key}) needs its certificate: give --client-cert"
            )

    @classmethod
    def coerce(cls, value: TlsConfig | bool | str | Path | None) -> TlsConfig:
        """A TlsConfig from the older ``verify`` forms: True, False or a CA bundle path."""
        if isinstance(value, TlsConfig):
            return value
        if value is None or value is True:
            return cls()
        if value is False:
            return cls(verify=False)
        return cls(ca_bundle=Path(value))

    @property
    def is_default(self) -> bool:
        """Verify against the default trust store, no client certificate."""
        return self == TlsConfig()

    def check(self) -> None:
        """Load every file once; raise TlsSetupError naming the first that cannot be used."""
        self.ssl_context()

    def ssl_context(self, alpn: Sequence[str] = ()) -> ssl.SSLContext:
        """A new client context: verification as configured, client certificate loaded, and
        ``alpn`` (e.g. ``("h2", "http/1.1")``) offered when given."""
        if self.verify:
            if self.ca_bundle is not None:
                _readable(self.ca_bundle, "CA bundle")
                try:
                    ctx = ssl.create_default_context(cafile=str(self.ca_bundle))
                except (ssl.SSLError, OSError, ValueError) as exc:
                    raise TlsSetupError(
                        f"cannot use the CA bundle {self.ca_bundle}: {_reason(exc)} "
                        "(expected PEM certificates)"
                    ) from None
            else:
                ctx = ssl.create_default_context()
        else:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if self.client_cert is not None:
            self._load_client_cert(ctx)
        if alpn:
            ctx.set_alpn_protocols(list(alpn))
        return ctx

    def _load_client_cert(self, ctx: ssl.SSLContext) -> None:
        assert self.client_cert is not None
        _readable(self.client_cert, "client certificate")
        if self.client_key is not None:
            _readable(self.client_key, "client key")
        key = self.client_key or self.client_cert
        try:
            ctx.load_cert_chain(
                str(self.client_cert),
                str(self.client_key) if self.client_key else None,
                password=_no_password,
            )
        except _EncryptedKey:
            raise TlsSetupError(
                f"the client key {key} is encrypted; give an unencrypted PEM key"
            ) from None
        except (ssl.SSLError, OSError, ValueError) as exc:
            pair = str(self.client_cert)
            if self.client_key is not None:
                pair += f" with key {self.client_key}"
            raise TlsSetupError(
                f"cannot load the client certificate {pair}: {_reason(exc)} "
                "(expected a PEM certificate and its matching private key)"
            ) from None

    def httpx_verify(self) -> ssl.SSLContext | bool:
        """The ``verify=`` argument of ``httpx.Client`` / ``httpx.HTTPTransport``.

        True or False when httpx's own handling says the same thing (no CA bundle, no client
        certificate), else a context from ``ssl_context()``.
        """
        if self.ca_bundle is None and self.client_cert is None:
            return self.verify
        if not self.verify and self.client_cert is None:
            return False
        return self.ssl_context()

    def requests_kwargs(self) -> dict[str, Any]:
        """``verify=`` and ``cert=`` for ``requests.Session.request`` (and so schemathesis).

        ``verify``: False, True or the CA bundle path; ``cert``: None, the certificate path, or
        (certificate, key). The files are checked readable here, since requests reads them only
        when it first connects.
        """
        if self.verify and self.ca_bundle is not None:
            _readable(self.ca_bundle, "CA bundle")
            verify: bool | str = str(self.ca_bundle)
        else:
            verify = self.verify
        cert: tuple[str, str] | str | None = None
        if self.client_cert is not None:
            _readable(self.client_cert, "client certificate")
            if self.client_key is not None:
                _readable(self.client_key, "client key")
                cert = (str(self.client_cert), str(self.client_key))
            else:
                cert = str(self.client_cert)
        return {"verify": verify, "cert": cert}

    def describe(self) -> str:
        """One line for messages: what is trusted and what is presented."""
        if not self.verify:
            trust = "certificates not verified (--tls-verify 0)"
        elif self.ca_bundle is not None:
            trust = f"trusting the CA bundle {self.ca_bundle}"
        else:
            trust = "trusting the default CA store"
        if self.client_cert is not None:
            trust += f", client certificate {self.client_cert}"
        return trust


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
