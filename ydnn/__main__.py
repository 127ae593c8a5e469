"""`python -m ydnn ...`: the `ydnn` command line (see `ydnn.cli`)."""

import sys

from ydnn.cli import main

sys.exit(main())
