"""A reference engine that a shell command restarts, as an operator's restart script would.

The self-tests give the harness ``--restart-command`` for a ``--base-url`` target with this:
the engine runs detached in a process group of its own, on a database file and a fixed port,
and a state directory records its pid and the command line that starts it.

    python tests/restartable_engine.py restart STATE_DIR

stops that process group, waits until it is gone and starts the same command again (same port,
same database file). It does not wait for the engine to answer: the harness waits for
``/healthz`` itself. ``start`` and ``stop`` do the halves. The engine is never a child of the
test process (``start`` runs in a process of its own), so a stopped engine leaves no zombie the
restart would wait for.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import httpx

from seecodes_conformance.engine_process import EngineProcess, free_port
from seecodes_conformance.resources import forge_dir

__all__ = ["RESTARTABLE_ENGINE_ARGS", "RestartableEngine"]

SCRIPT = Path(__file__).resolve()
# Credentials outlive a restart on a busy machine by far, so a replay after it is judged on its
# use, never on an expiry (the suite would call that "not verified", not a catch).
RESTARTABLE_ENGINE_ARGS = ("--request-key-ttl", "120", "--launch-code-ttl", "120")
STOP_TIMEOUT_S = 20.0
READY_TIMEOUT_S = 60.0


def _pid_alive(pid: int) -> bool:
    """Running, and not a zombie waiting to be reaped."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    return True


def start(state_dir: Path) -> None:
    """Launch the recorded command detached, in a new session; record its pid."""
    state = json.loads((state_dir / "engine.json").read_text())
    env = dict(os.environ)
    env.update(state["env"])
    with (state_dir / "engine.log").open("ab") as log:
        proc = subprocess.Popen(
            state["command"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    (state_dir / "engine.pid").write_text(str(proc.pid))


def stop(state_dir: Path) -> None:
    """SIGTERM the engine's process group, SIGKILL if it lingers; return once it is gone."""
    pid_file = state_dir / "engine.pid"
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text())
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while _pid_alive(pid):
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            deadline = time.monotonic() + STOP_TIMEOUT_S
        time.sleep(0.05)
    pid_file.unlink()


class RestartableEngine:
    """The reference engine under ``state_dir``; ``restart_command`` restarts it."""

    def __init__(
        self,
        state_dir: Path,
        *,
        faults: Sequence[str] = (),
        variants: Sequence[str] = (),
        extra_args: Sequence[str] = RESTARTABLE_ENGINE_ARGS,
    ) -> None:
        self.state_dir = state_dir
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        process = EngineProcess(
            faults=faults,
            variants=variants,
            database=str(state_dir / "engine.sqlite3"),
            extra_args=extra_args,
        )
        process.port = self.port
        self._command = process.command()
        process.close()  # only its command line was needed

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def restart_command(self) -> str:
        """The shell command the harness is given as ``--restart-command``."""
        return shlex.join([sys.executable, str(SCRIPT), "restart", str(self.state_dir)])

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            text = (self.state_dir / "engine.log").read_text(errors="replace")
            return "\n".join(text.splitlines()[-lines:])
        return "(no log)"

    def __enter__(self) -> RestartableEngine:
        state = {
            "command": self._command,
            "env": {
                "SEECODES_FORGE_JWKS": os.environ.get(
                    "SEECODES_FORGE_JWKS", str(forge_dir() / "jwks.json")
                ),
                "SEECODES_ENGINE_FAULTS": "",
                "SEECODES_ENGINE_VARIANTS": "",
            },
        }
        (self.state_dir / "engine.json").write_text(json.dumps(state))
        subprocess.run([sys.executable, str(SCRIPT), "start", str(self.state_dir)], check=True)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.base_url + "/healthz", timeout=1.0).status_code == 200:
                    return self
            time.sleep(0.05)
        stop(self.state_dir)
        raise RuntimeError(f"restartable engine not ready:\n{self.log_tail()}")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stop(self.state_dir)


def main(argv: Sequence[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("start", "stop", "restart"):
        print("usage: restartable_engine.py start|stop|restart STATE_DIR", file=sys.stderr)
        return 2
    action, state_dir = argv[0], Path(argv[1])
    if action in ("stop", "restart"):
        stop(state_dir)
    if action in ("start", "restart"):
        start(state_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
