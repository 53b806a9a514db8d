"""``python -m seecodes_conformance``: the same as the ``seecodes-conformance`` command."""

import sys

from seecodes_conformance.cli import main

if __name__ == "__main__":
    sys.exit(main())
