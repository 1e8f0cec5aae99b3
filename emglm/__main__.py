"""``python -m emglm``: the command line (see :mod:`emglm.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
