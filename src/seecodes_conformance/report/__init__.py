"""Reports and the CI gate: JUnit XML, the certification JSON, the HTML report, the bundle.

``collector.ReportCollector`` is the pytest plugin (registered by plugin.py); everything else
here is small and pure: records -> invariant results -> gate and verdict -> files.
"""

from __future__ import annotations

from pathlib import Path

import pytest

PLUGIN_NAME = "seecodes-report"


def report_dir(config: pytest.Config) -> Path | None:
    """This run's report folder (None: reports are off), in the controller and in workers.

    Suites that produce report material (the fuzz suite's ``fuzz-coverage.json``) write it here;
    the folder may not exist yet.
    """
    worker = getattr(config, "workerinput", None)
    if worker is not None:
        value = worker.get("seecodes_report_dir")
        return Path(value) if value else None
    plugin = config.pluginmanager.get_plugin(PLUGIN_NAME)
    run_dir = getattr(plugin, "run_dir", None)
    return run_dir if isinstance(run_dir, Path) else None
