"""python -m gateway.verify ... (same arguments as ``dataledger verify``)."""

import sys

from gateway.verify.cli import main

sys.exit(main(sys.argv[1:]))
