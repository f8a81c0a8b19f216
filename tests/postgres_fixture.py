"""Session fixture: a private PostgreSQL cluster from Debian's packages, removed afterwards.

``TEST_POSTGRES_URL`` points the tests at an existing server instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from dataledger.dev.postgres import PostgresCluster, PostgresError


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    external = os.environ.get("TEST_POSTGRES_URL")
    if external:
        yield external
        return
    try:
        cluster = PostgresCluster().start()
    except (PostgresError, OSError) as exc:
        pytest.fail(f"PostgreSQL could not start: {exc}", pytrace=False)
    try:
        yield cluster.url
    finally:
        cluster.stop()
