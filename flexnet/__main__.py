"""``python -m flexnet``: the same command line as ``flexnet``."""

import sys

from flexnet.cli import main

sys.exit(main())
