"""Start and stop the bundled reference engine in a background process.

Used when no ``--base-url`` is given, and by the self-tests that run the suites against faulty
engines. The engine is a real server on a free loopback port; nothing here talks to it in-process.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import httpx

from seecodes_conformance.resources import forge_dir


class EngineStartError(RuntimeError):
    """The reference engine did not come up; the message includes the tail of its log."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EngineProcess:
    """The reference engine as a subprocess; a context manager exposing ``base_url``."""

    def __init__(
        self,
        *,
        faults: Sequence[str] = (),
        variants: Sequence[str] = (),
        workers: int = 1,
        database: str | None = None,
        extra_args: Sequence[str] = (),
        startup_timeout: float = 30.0,
    ) -> None:
        self.faults = tuple(faults)
        self.variants = tuple(variants)
        self.workers = workers
        self.extra_args = tuple(extra_args)
        self.startup_timeout = startup_timeout
        self._tmp = tempfile.TemporaryDirectory(prefix="seecodes-engine-")
        self.database = database or str(Path(self._tmp.name) / "engine.sqlite3")
        self.log_path = Path(self._tmp.name) / "engine.log"
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        cmd = [
            sys.executable, "-m", "seecodes_reference_engine",
            "--host", "127.0.0.1", "--port", str(self.port),
            "--workers", str(self.workers), "--database", self.database,
        ]  # fmt: skip
        for fault in self.faults:
            cmd += ["--fault", fault]
        for variant in self.variants:
            cmd += ["--variant", variant]
        return cmd + list(self.extra_args)

    def start(self, *, port: int | None = None) -> EngineProcess:
        """Start on ``port``, or on a free one when none is given."""
        self.port = port or free_port()
        env = dict(os.environ)
        env.setdefault("SEECODES_FORGE_JWKS", str(forge_dir() / "jwks.json"))
        env.pop("SEECODES_ENGINE_FAULTS", None)
        env.pop("SEECODES_ENGINE_VARIANTS", None)
        log = self.log_path.open("ab")
        self._proc = subprocess.Popen(
            self.command(), stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        log.close()
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise EngineStartError(f"reference engine exited early:\n{self.log_tail()}")
            try:
                if httpx.get(self.base_url + "/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise EngineStartError(
            f"reference engine not ready after {self.startup_timeout:.0f}s:\n{self.log_tail()}"
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

    def restart(self, *, same_port: bool = False) -> None:
        """Stop and start again on the same database file: what it stored survives.

        ``same_port``: keep the address, so clients that hold ``base_url`` (the harness's
        session, a run's xdist workers) carry on; otherwise a new free port is picked.
        """
        port = self.port if same_port else None
        self.stop()
        self.start(port=port)

    def close(self) -> None:
        self.stop()
        self._tmp.cleanup()

    def __enter__(self) -> EngineProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
