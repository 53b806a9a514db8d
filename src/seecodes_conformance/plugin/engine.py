"""The bundled reference engine as the default target, started for the session, and the
restart of the target that the durability checks need."""

from __future__ import annotations

import pytest

from seecodes_conformance.engine_process import EngineProcess, EngineStartError
from seecodes_conformance.restart import BundledEngineRestart, CommandRestart, TargetRestart
from seecodes_conformance.settings import Settings
from seecodes_conformance.target import (
    EXIT_TARGET_UNAVAILABLE,
    Target,
)

# The bundled engine runs with short credential lifetimes so expiry is testable in seconds.
EMBEDDED_ENGINE_ARGS = ("--request-key-ttl", "8", "--launch-code-ttl", "8")


def start_engine(settings: Settings) -> EngineProcess:
    """The bundled engine on a database file of its own (EngineProcess' default), so that it
    can be restarted without losing what it stored."""
    engine = EngineProcess(
        faults=settings.engine_faults,
        variants=settings.engine_variants,
        workers=settings.engine_workers,
        extra_args=EMBEDDED_ENGINE_ARGS,
    )
    try:
        return engine.start()
    except EngineStartError as exc:
        engine.close()
        pytest.exit(
            f"seecodes: the bundled reference engine did not start: {exc}",
            returncode=EXIT_TARGET_UNAVAILABLE,
        )


class NoRestart:
    """Why this run cannot restart the target: the durability checks are not verified."""

    def __init__(self, detail: str, configure: str) -> None:
        self.detail = detail
        self.configure = configure


NO_RESTART_COMMAND = "no restart command (--restart-command)"


def restart_of(target: Target, settings: Settings) -> TargetRestart | NoRestart:
    """How this run restarts the target, if it can.

    With several xdist workers a restart would cut the tests the other workers are running
    against the same target, so no worker restarts it.
    """
    if settings.workers > 1:
        return NoRestart(
            f"a restart would interrupt the tests {settings.workers} xdist workers run "
            "against the same target",
            "-n 0 (for instance: pytest suites/test_durability.py -n 0)",
        )
    if settings.restart_command:
        return CommandRestart(settings.restart_command, target.base_url, settings.tls)
    if target.engine is not None:
        return BundledEngineRestart(target.engine)
    if settings.base_url is None:
        return NoRestart(
            "the bundled engine runs in the xdist controller, which a worker cannot restart",
            "-n 0 (for instance: pytest suites/test_durability.py -n 0)",
        )
    return NoRestart(
        NO_RESTART_COMMAND,
        "--restart-command CMD: a shell command that restarts the target",
    )


@pytest.fixture(scope="session")
def target_restart(target: Target, seecodes_settings: Settings) -> TargetRestart | NoRestart:
    """Restarts the target (``.restart()``), or says why this run cannot (``NoRestart``)."""
    return restart_of(target, seecodes_settings)
