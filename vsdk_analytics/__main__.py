"""``python -m vsdk_analytics``: the ``vsdk-analytics`` command line (see `vsdk_analytics._cli`)."""

from __future__ import annotations

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())
