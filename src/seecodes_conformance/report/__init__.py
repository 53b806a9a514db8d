"""Reports and the CI gate: JUnit XML, the certification JSON, the HTML report, the bundle.

``collector.ReportCollector`` is the pytest plugin (registered by the plugin's configure hook);
everything else here is small and pure: records -> invariant results -> gate and verdict -> files.
"""
