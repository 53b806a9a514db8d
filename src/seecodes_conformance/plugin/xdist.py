"""xdist coordination: one bundled engine and one run prefix serve every worker."""

from __future__ import annotations

from typing import Any

import pytest

from seecodes_conformance.plugin._stash import RUN_PREFIX, SHARED_ENGINE, settings_of
from seecodes_conformance.plugin.engine import start_engine


class XdistController:
    """With xdist, one embedded engine and one run prefix serve every worker."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl
    def pytest_configure_node(self, node: Any) -> None:
        settings = settings_of(self.config)
        base_url = settings.base_url
        if base_url is None and session_needs_target(self.config):
            engine = self.config.stash.get(SHARED_ENGINE, None)
            if engine is None:
                engine = start_engine(settings)
                self.config.stash[SHARED_ENGINE] = engine
            base_url = engine.base_url
        node.workerinput["seecodes_base_url"] = base_url
        node.workerinput["seecodes_run_prefix"] = self.config.stash[RUN_PREFIX]

    @pytest.hookimpl
    def pytest_unconfigure(self, config: pytest.Config) -> None:
        engine = config.stash.get(SHARED_ENGINE, None)
        if engine is not None:
            engine.close()


def session_needs_target(config: pytest.Config) -> bool:
    """The harness's own tests (tests/) start the engines they need themselves."""
    args = [a for a in config.args if not a.startswith("-")]
    return not args or any("suites" in a or not a.startswith("tests") for a in args)
