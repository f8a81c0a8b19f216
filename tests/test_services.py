"""The real services the suites run on: anvil (deploy and call), PostgreSQL (a table round trip)."""

from __future__ import annotations

from sqlmodel import Field, Session, SQLModel, create_engine, select
from web3 import Web3

from ledger.deploy import deploy_contract


def test_anvil_deploy_and_call(w3: Web3, chain: object, accounts: list) -> None:  # type: ignore[type-arg]
    admin = accounts[0].address
    registry = deploy_contract(w3, "ParticipantRegistry", admin, sender=admin)
    assert w3.eth.get_code(registry.address) not in (b"", None)
    assert registry.functions.hasRole(registry.functions.DEFAULT_ADMIN_ROLE().call(), admin).call()
    assert registry.functions.isActive(accounts[5].address).call() is False
    assert w3.eth.chain_id == 31337


class ServiceProbe(SQLModel, table=True):
    __tablename__ = "service_probe"
    id: int | None = Field(default=None, primary_key=True)
    name: str
    payload: bytes


def test_postgres_table_round_trip(postgres_url: str) -> None:
    engine = create_engine(postgres_url)
    try:
        assert engine.dialect.name == "postgresql"
        SQLModel.metadata.create_all(engine, tables=[ServiceProbe.__table__])  # type: ignore[list-item]
        with Session(engine) as session:
            session.add(ServiceProbe(name="资产凭证", payload=b"\x00\xff" * 8))
            session.commit()
        with Session(engine) as session:
            row = session.exec(select(ServiceProbe)).one()
            assert (row.name, row.payload) == ("资产凭证", b"\x00\xff" * 8)
        ServiceProbe.__table__.drop(engine)  # type: ignore[attr-defined]
    finally:
        engine.dispose()
