"""`python -m transpile` runs the command line."""

import sys

from transpile.cli import main

if __name__ == "__main__":
    sys.exit(main())
