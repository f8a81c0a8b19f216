"""The real services the suites run on: anvil (deploy and call), PostgreSQL (a table round trip)."""

from __future__ import annotations

from sqlalchemy import Column, Integer, LargeBinary, MetaData, Table, Text, create_engine, insert, select
from web3 import Web3

from ledger.deploy import deploy_contract


def test_anvil_deploy_and_call(w3: Web3, chain: object, accounts: list) -> None:  # type: ignore[type-arg]
    admin = accounts[0].address
    registry = deploy_contract(w3, "ParticipantRegistry", admin, sender=admin)
    assert w3.eth.get_code(registry.address) not in (b"", None)
    assert registry.functions.hasRole(registry.functions.DEFAULT_ADMIN_ROLE().call(), admin).call()
    assert registry.functions.isActive(accounts[5].address).call() is False
    assert w3.eth.chain_id == 31337


#: its own MetaData: the gateway's models (SQLModel.metadata) must not see this probe table
PROBE = Table(
    "service_probe", MetaData(),
    Column("id", Integer, primary_key=True), Column("name", Text, nullable=False),
    Column("payload", LargeBinary, nullable=False),
)


def test_postgres_table_round_trip(postgres_url: str) -> None:
    engine = create_engine(postgres_url)
    try:
        assert engine.dialect.name == "postgresql"
        PROBE.create(engine)
        with engine.begin() as conn:
            conn.execute(insert(PROBE).values(name="资产凭证", payload=b"\x00\xff" * 8))
        with engine.connect() as conn:
            row = conn.execute(select(PROBE.c.name, PROBE.c.payload)).one()
            assert (row.name, row.payload) == ("资产凭证", b"\x00\xff" * 8)
        PROBE.drop(engine)
    finally:
        engine.dispose()
