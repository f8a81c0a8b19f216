"""The ``dataledger`` command line (typer). The console script runs :func:`main`."""

from dataledger.cli.app import app as app, main as main, run as run

__all__ = ["app", "main", "run"]
