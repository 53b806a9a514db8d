"""Stash keys: what the plugin keeps on the pytest config, one definition each."""

from __future__ import annotations

import pytest

from seecodes_conformance.deferred import StateFile
from seecodes_conformance.engine_process import EngineProcess
from seecodes_conformance.settings import Settings, read_settings

RUN_PREFIX = pytest.StashKey[str]()
SETTINGS = pytest.StashKey[Settings]()
SHARED_ENGINE = pytest.StashKey[EngineProcess]()
# The state file of deferred expiry checks (None: none), and the one line to show about it.
DEFERRED_STATE = pytest.StashKey[tuple[StateFile | None, str | None]]()


def settings_of(config: pytest.Config) -> Settings:
    if SETTINGS not in config.stash:
        config.stash[SETTINGS] = read_settings(config)
    return config.stash[SETTINGS]
