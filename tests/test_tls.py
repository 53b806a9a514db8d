"""TlsConfig: one TLS configuration rendered for sockets, httpx and requests.

The contexts are checked against a real TLS server on loopback (``tls_certs.tls_server``) that
presents a certificate from a generated CA and, for mTLS, requires a client one.
"""

from __future__ import annotations

import os
import socket
import ssl
from pathlib import Path

import httpx
import pytest
import requests

from seecodes_conformance.tls import TlsConfig, TlsSetupError
from tls_certs import Pki, TlsServer, make_pki, tls_server


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _handshake(server: TlsServer, context: ssl.SSLContext) -> str | None:
    """Connect with ``context``; the negotiated ALPN protocol."""
    with (
        socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as conn,
    ):
        conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        conn.recv(1024)
        return conn.selected_alpn_protocol()


# -- ssl_context -----------------------------------------------------------------------------


def test_default_verifies_against_the_system_store(pki: Pki) -> None:
    context = TlsConfig().ssl_context()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    with tls_server(pki) as server, pytest.raises(ssl.SSLCertVerificationError):
        _handshake(server, context)


def test_a_ca_bundle_is_trusted_and_alpn_offered(pki: Pki) -> None:
    tls = TlsConfig(ca_bundle=pki.ca)
    with tls_server(pki) as server:
        assert _handshake(server, tls.ssl_context(("h2", "http/1.1"))) == "h2"
        assert _handshake(server, tls.ssl_context(("http/1.1",))) == "http/1.1"
        assert _handshake(server, tls.ssl_context()) is None


def test_a_ca_bundle_replaces_the_default_store(pki: Pki) -> None:
    """A bundle of another CA does not fall back to anything: the handshake fails."""
    with tls_server(pki) as server, pytest.raises(ssl.SSLCertVerificationError):
        _handshake(server, TlsConfig(ca_bundle=pki.other_ca).ssl_context())


def test_verification_off_accepts_any_certificate(pki: Pki) -> None:
    context = TlsConfig(verify=False, ca_bundle=pki.other_ca).ssl_context()
    assert context.verify_mode == ssl.CERT_NONE and not context.check_hostname
    with tls_server(pki) as server:
        _handshake(server, context)


@pytest.mark.parametrize("combined", [False, True], ids=["cert-and-key", "one-file"])
def test_a_client_certificate_is_presented(pki: Pki, combined: bool) -> None:
    tls = (
        TlsConfig(ca_bundle=pki.ca, client_cert=pki.client_combined)
        if combined
        else TlsConfig(ca_bundle=pki.ca, client_cert=pki.client_cert, client_key=pki.client_key)
    )
    with tls_server(pki, require_client_cert=True) as server:
        _handshake(server, tls.ssl_context())
        assert server.client_subjects == ["seecodes-conformance client"]


def test_without_a_client_certificate_an_mtls_server_refuses(pki: Pki) -> None:
    with tls_server(pki, require_client_cert=True) as server, pytest.raises(OSError):
        _handshake(server, TlsConfig(ca_bundle=pki.ca).ssl_context())


# -- httpx and requests ------------------------------------------------------------------------


def test_httpx_verify(pki: Pki) -> None:
    assert TlsConfig().httpx_verify() is True  # httpx's own defaults (certifi, SSL_CERT_FILE)
    assert TlsConfig(verify=False).httpx_verify() is False
    assert TlsConfig(verify=False, ca_bundle=pki.ca).httpx_verify() is False
    with_client = TlsConfig(verify=False, client_cert=pki.client_combined).httpx_verify()
    assert isinstance(with_client, ssl.SSLContext) and with_client.verify_mode == ssl.CERT_NONE
    mtls = TlsConfig(ca_bundle=pki.ca, client_cert=pki.client_cert, client_key=pki.client_key)
    with tls_server(pki, require_client_cert=True) as server:
        with httpx.Client(verify=mtls.httpx_verify()) as client:
            assert client.get(server.url).text == "ok"
        assert server.client_subjects == ["seecodes-conformance client"]
        with (
            httpx.Client(verify=TlsConfig().httpx_verify()) as client,
            pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"),
        ):
            client.get(server.url)


def test_requests_kwargs(pki: Pki) -> None:
    assert TlsConfig().requests_kwargs() == {"verify": True, "cert": None}
    assert TlsConfig(verify=False, ca_bundle=pki.ca).requests_kwargs() == {
        "verify": False,
        "cert": None,
    }
    assert TlsConfig(ca_bundle=pki.ca, client_cert=pki.client_combined).requests_kwargs() == {
        "verify": str(pki.ca),
        "cert": str(pki.client_combined),
    }
    mtls = TlsConfig(ca_bundle=pki.ca, client_cert=pki.client_cert, client_key=pki.client_key)
    kwargs = mtls.requests_kwargs()
    assert kwargs == {"verify": str(pki.ca), "cert": (str(pki.client_cert), str(pki.client_key))}
    with tls_server(pki, require_client_cert=True) as server, requests.Session() as session:
        # Exactly what requests takes, as schemathesis passes it.
        assert session.request("GET", server.url, timeout=5, **kwargs).text == "ok"
        assert server.client_subjects == ["seecodes-conformance client"]


def test_coerce_reads_the_older_forms(pki: Pki) -> None:
    assert TlsConfig.coerce(None) == TlsConfig.coerce(True) == TlsConfig()
    assert TlsConfig.coerce(False) == TlsConfig(verify=False)
    assert TlsConfig.coerce(str(pki.ca)) == TlsConfig(ca_bundle=pki.ca)
    tls = TlsConfig(verify=False)
    assert TlsConfig.coerce(tls) is tls


# -- files that cannot be used ------------------------------------------------------------------


def _unreadable(tmp_path: Path) -> Path:
    path = tmp_path / "locked.pem"
    path.write_text("x")
    path.chmod(0)
    if os.access(path, os.R_OK):  # root reads anything: use a directory instead
        path.chmod(0o600)
        path.unlink()
        path.mkdir()
    return path


@pytest.mark.parametrize("role", ["ca_bundle", "client_cert", "client_key"])
@pytest.mark.parametrize("problem", ["missing", "unreadable"])
def test_an_unusable_file_is_named(pki: Pki, tmp_path: Path, role: str, problem: str) -> None:
    bad = tmp_path / "nope.pem" if problem == "missing" else _unreadable(tmp_path)
    files = {"ca_bundle": pki.ca, "client_cert": pki.client_cert, "client_key": pki.client_key}
    files[role] = bad
    tls = TlsConfig(**files)  # type: ignore[arg-type]
    for render in (tls.check, tls.ssl_context, tls.httpx_verify, tls.requests_kwargs):
        with pytest.raises(TlsSetupError, match=str(bad)):
            render()


def test_files_that_are_not_pem_are_named(pki: Pki, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    with pytest.raises(TlsSetupError, match=f"CA bundle {garbage}"):
        TlsConfig(ca_bundle=garbage).ssl_context()
    with pytest.raises(TlsSetupError, match=f"client certificate {garbage}"):
        TlsConfig(client_cert=garbage).ssl_context()
    with pytest.raises(TlsSetupError, match="matching private key"):
        TlsConfig(client_cert=pki.client_cert, client_key=pki.server_key).ssl_context()


def test_an_encrypted_client_key_is_refused_without_prompting(pki: Pki, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(pki.client_key.read_bytes(), password=None)
    encrypted = tmp_path / "encrypted.key"
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    with pytest.raises(TlsSetupError, match=f"client key {encrypted} is encrypted"):
        TlsConfig(client_cert=pki.client_cert, client_key=encrypted).ssl_context()


def test_a_key_without_its_certificate_is_refused(pki: Pki) -> None:
    with pytest.raises(TlsSetupError, match="--client-cert"):
        TlsConfig(client_key=pki.client_key)
