"""``python -m triage``: the same command line as the ``triage`` console script."""

import sys

from triage.cli import main

if __name__ == "__main__":
    sys.exit(main())
