"""`python -m transpile` runs the command line."""

import sys

from transpile.cli import main

sys.exit(main())
