"""Repository-root conftest: the harness itself is the installed pytest plugin.

`pip install -e .` registers `seecodes_conformance.plugin` through its pytest11 entry point, so
the same options and fixtures work here and from an installed copy run anywhere.
"""

import importlib.util

if importlib.util.find_spec("seecodes_conformance") is None:  # pragma: no cover - setup hint
    raise ImportError(
        "seecodes-conformance is not installed: run `pip install -e '.[dev]'` in the repository "
        "root first (see README.md, Quickstart)"
    )
