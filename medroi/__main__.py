"""``python -m medroi``: the same command line as ``medroi``."""

import sys

from medroi.cli import main

if __name__ == "__main__":
    sys.exit(main())
