"""Restart the target mid-run, so the durability checks can ask what survived the restart.

Two ways: the bundled engine is restarted by the harness itself (same database file, same
port); any other target through the user's ``--restart-command``, a shell command the harness
runs and then waits for ``/healthz`` to answer again. A restart that fails, or a target that
does not come back, is a setup problem (``RestartFailed``), never a protocol verdict.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from typing import IO, Protocol

import httpx

from seecodes_conformance.engine_process import EngineProcess, EngineStartError
from seecodes_conformance.http import new_http_client
from seecodes_conformance.redaction import REGISTRY, SecretRegistry
from seecodes_conformance.tls import TlsConfig

__all__ = [
    "COMMAND_TIMEOUT_S",
    "HEALTHY_TIMEOUT_S",
    "BundledEngineRestart",
    "CommandRestart",
    "RestartFailed",
    "TargetRestart",
    "wait_until_healthy",
]

COMMAND_TIMEOUT_S = 120.0  # a restart script may stop a service and start it again
HEALTHY_TIMEOUT_S = 120.0  # then the target may take a while to answer /healthz
_FIRST_POLL_S = 0.1
_MAX_POLL_S = 2.0  # polite: at most one health probe every two seconds once it takes a while


class RestartFailed(RuntimeError):
    """The restart did not happen or the target did not come back; meant for a person.

    ``target_down``: the target does not answer ``/healthz`` any more, so nothing after this
    can be tested (the run ends as an outage rather than charging the protocol with it).
    """

    def __init__(self, message: str, *, target_down: bool) -> None:
        super().__init__(message)
        self.target_down = target_down


class TargetRestart(Protocol):
    """Something that restarts the target and returns once it answers ``/healthz`` again."""

    description: str

    def restart(self) -> None: ...


def wait_until_healthy(
    base_url: str, tls: TlsConfig, timeout: float = HEALTHY_TIMEOUT_S, *, after: str
) -> None:
    """Poll ``GET /healthz`` until it answers 200, backing off up to ``_MAX_POLL_S``.

    ``after`` names what was done (for the message when the target never comes back). The
    probes go through the run's traffic policy like every request: counted and paced.
    """
    deadline = time.monotonic() + timeout
    pause = _FIRST_POLL_S
    last = "no answer"
    with new_http_client(base_url, timeout=5.0, tls=tls) as client:
        while True:
            try:
                response = client.get("/healthz")
                if response.status_code == 200:
                    return
                last = f"answered {response.status_code}"
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}"
            if time.monotonic() + pause > deadline:
                raise RestartFailed(
                    f"the target did not answer GET /healthz with 200 within {timeout:g} s "
                    f"{after} (last: {last})",
                    target_down=True,
                )
            time.sleep(pause)
            pause = min(_MAX_POLL_S, pause * 2)


class CommandRestart:
    """``--restart-command``: run by the shell, within ``timeout`` seconds.

    Its stdout is discarded and its stderr goes to a file, not a pipe: a command that starts
    the target in the background leaves it holding inherited pipes, and waiting for those to
    close would wait for the target to stop. The command line itself is never shown (it may
    carry a secret); its stderr is, redacted, when it fails.
    """

    description = "the restart command (--restart-command)"

    def __init__(
        self,
        command: str,
        base_url: str,
        tls: TlsConfig,
        *,
        timeout: float = COMMAND_TIMEOUT_S,
        healthy_timeout: float = HEALTHY_TIMEOUT_S,
        secrets: SecretRegistry = REGISTRY,
    ) -> None:
        self._command = command
        self._base_url = base_url
        self._tls = tls
        self._timeout = timeout
        self._healthy_timeout = healthy_timeout
        self._secrets = secrets

    def restart(self) -> None:
        try:
            self._run()
        except RestartFailed as failed:
            failed.target_down = not self._answers()
            raise
        wait_until_healthy(
            self._base_url,
            self._tls,
            self._healthy_timeout,
            after="after the restart command (--restart-command) finished",
        )

    def _answers(self) -> bool:
        """One quick look: does the target still answer /healthz after a failed command?"""
        try:
            wait_until_healthy(self._base_url, self._tls, 3.0, after="")
        except RestartFailed:
            return False
        return True

    def _run(self) -> None:
        with tempfile.TemporaryFile() as stderr:
            try:
                done = subprocess.run(
                    self._command,
                    shell=True,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=stderr,
                    timeout=self._timeout,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                raise RestartFailed(
                    f"the restart command (--restart-command) did not finish within "
                    f"{self._timeout:g} s" + self._stderr(stderr),
                    target_down=False,
                ) from None
            except OSError as exc:
                raise RestartFailed(
                    f"the restart command (--restart-command) could not start: "
                    f"{exc.strerror or exc}",
                    target_down=False,
                ) from None
            if done.returncode != 0:
                raise RestartFailed(
                    f"the restart command (--restart-command) exited {done.returncode}"
                    + self._stderr(stderr),
                    target_down=False,
                )

    def _stderr(self, stderr: IO[bytes], lines: int = 8) -> str:
        """The end of the command's stderr, redacted, as indented lines of a message."""
        stderr.seek(0)
        text = stderr.read().decode("utf-8", errors="replace")
        shown = [line.rstrip()[:300] for line in text.splitlines() if line.strip()]
        if not shown:
            return " (nothing on stderr)"
        redacted = self._secrets.redact("\n".join(shown[-lines:]))
        return "".join(f"\n  stderr: {line}" for line in redacted.splitlines())


class BundledEngineRestart:
    """The bundled engine, stopped and started again on its database file and its port."""

    description = "the bundled engine's restart"

    def __init__(self, engine: EngineProcess) -> None:
        self._engine = engine

    def restart(self) -> None:
        try:
            self._engine.restart(same_port=True)
        except EngineStartError as exc:
            raise RestartFailed(
                f"the bundled engine did not start again: {exc}", target_down=True
            ) from None
