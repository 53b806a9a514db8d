"""The bundled reference engine as the default target, started for the session."""

from __future__ import annotations

import pytest

from seecodes_conformance.engine_process import EngineProcess, EngineStartError
from seecodes_conformance.settings import Settings
from seecodes_conformance.target import (
    EXIT_TARGET_UNAVAILABLE,
)

# The bundled engine runs with short credential lifetimes so expiry is testable in seconds.
EMBEDDED_ENGINE_ARGS = ("--request-key-ttl", "8", "--launch-code-ttl", "8")


def start_engine(settings: Settings) -> EngineProcess:
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
