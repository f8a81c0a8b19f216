"""The development stack's settings: the library's :class:`ledger.settings.Settings` plus the
variables only ``make up`` and the test harnesses read."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from ledger.settings import Settings


class DevSettings(Settings):
    #: the anvil binary; unset: node_modules/.bin/anvil of the checkout, else anvil on PATH
    ANVIL_BIN: Optional[str] = None
    #: PostgreSQL's server binaries (initdb, pg_ctl); unset: Debian's /usr/lib/postgresql/*/bin, else PATH
    PG_BINDIR: Optional[Path] = None
    #: anvil's port for ``make up`` (the gateway's is GATEWAY_PORT)
    RPC_PORT: int = 8545
