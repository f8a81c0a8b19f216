"""python -m gateway.indexer [--follow] [--json] ...: see gateway.indexer.cli."""

import sys

from gateway.indexer.cli import main

sys.exit(main())
