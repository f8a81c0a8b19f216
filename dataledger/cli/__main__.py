"""``python -m dataledger.cli``: the same as the ``dataledger`` console script."""

from dataledger.cli.app import main

main()
