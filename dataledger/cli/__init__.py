"""The ``dataledger`` command line (typer). The console script runs :func:`main`."""

from dataledger.cli.app import app as app
from dataledger.cli.app import main as main
from dataledger.cli.app import run as run

__all__ = ["app", "main", "run"]
