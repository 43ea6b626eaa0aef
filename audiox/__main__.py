"""``python -m audiox ...``: the ``audiox`` command without an installed console script."""

import sys

from audiox.cli import main

sys.exit(main())
