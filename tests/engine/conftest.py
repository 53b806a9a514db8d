"""Fixtures for the reference engine's own tests: real engines in subprocesses."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from engine_helpers import start_engine

from seecodes_conformance.engine_process import EngineProcess
from seecodes_conformance.http import new_http_client


@pytest.fixture(scope="module")
def engine() -> Iterator[EngineProcess]:
    """A clean single-worker engine shared by one test module."""
    with start_engine() as process:
        yield process


@pytest.fixture
def http(engine: EngineProcess) -> Iterator[httpx.Client]:
    with new_http_client(engine.base_url) as client:
        yield client
