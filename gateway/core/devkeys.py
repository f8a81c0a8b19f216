"""The public development keys (anvil's and hardhat's default mnemonic): used as the relayer on the
local chain (id 31337) only, and recognised so that no other chain accepts one."""

from __future__ import annotations

from functools import lru_cache

from eth_account import Account

#: anvil's (and hardhat's) default mnemonic. Public: anyone holds these keys. The dev stack
#: (dataledger.dev.anvil) starts anvil with it; the gateway recognises its keys to refuse them off chain 31337.
DEFAULT_MNEMONIC = "test test test test test test test test test test test junk"


@lru_cache
def _accounts() -> dict[str, str]:
    Account.enable_unaudited_hdwallet_features()
    out: dict[str, str] = {}
    for i in range(20):
        acct = Account.from_mnemonic(DEFAULT_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}")
        out[acct.address.lower()] = "0x" + bytes(acct.key).hex()
    return out


def dev_key(index: int) -> str:
    """Private key of default-mnemonic account ``index`` (0-19)."""
    return list(_accounts().values())[index]


def is_dev_key(key: str) -> bool:
    """True when ``key`` is one of the 20 default-mnemonic accounts."""
    try:
        address = Account.from_key(key).address.lower()
    except Exception:
        return False
    return address in _accounts()
