"""The pytest plugin (the ``pytest11`` entry point): hooks, fixtures and xdist coordination.

Loaded from the repository root and from an installed copy run anywhere alike. pytest registers
this module, so it re-exports every hook and fixture of its submodules:

- ``hooks``: options, markers, invariant selection, the fail-fast probe, redaction of reports;
- ``fixtures``: settings, Forge credentials, the target, HTTP clients, protocol steps;
- ``xdist``: one bundled engine and one run prefix for every worker;
- ``engine``: the bundled reference engine as the default target; restarting the target;
- ``_stash``: what the plugin keeps on the pytest config.
"""

from seecodes_conformance.plugin.engine import EMBEDDED_ENGINE_ARGS, target_restart
from seecodes_conformance.plugin.fixtures import _handshake as _handshake
from seecodes_conformance.plugin.fixtures import (
    deferred_state,
    forge,
    http,
    ids,
    jira,
    jira_factory,
    module_protocol,
    protocol,
    run_prefix,
    secrets,
    seecodes_settings,
    target,
    test_issuer,
)
from seecodes_conformance.plugin.hooks import (
    pytest_addoption,
    pytest_cmdline_main,
    pytest_collection_finish,
    pytest_collection_modifyitems,
    pytest_configure,
    pytest_report_header,
    pytest_runtest_call,
    pytest_runtest_makereport,
    pytest_runtest_setup,
)

pytest_plugins = ["seecodes_conformance.plugin.spelling"]  # command-line checks, before all

__all__ = [
    "EMBEDDED_ENGINE_ARGS",
    "deferred_state",
    "forge",
    "http",
    "ids",
    "jira",
    "jira_factory",
    "module_protocol",
    "protocol",
    "pytest_addoption",
    "pytest_cmdline_main",
    "pytest_collection_finish",
    "pytest_collection_modifyitems",
    "pytest_configure",
    "pytest_report_header",
    "pytest_runtest_call",
    "pytest_runtest_makereport",
    "pytest_runtest_setup",
    "run_prefix",
    "secrets",
    "seecodes_settings",
    "target",
    "target_restart",
    "test_issuer",
]
