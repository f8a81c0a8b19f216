"""Issue 11 Low: the index keys user authorisations as the chain does, (voucher, holder, user).

On chain ``_users[voucherId][holder][user]``: an authorisation belongs to the holder that gave it,
lapses when the voucher is transferred away and applies again when it comes back. The API's
``live`` must equal the contract's ``isAuthorisedUser`` at every step. SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

from alembic import command
from sqlalchemy import create_engine, inspect, text

from gateway.indexer.store import alembic_config, dump_hash, make_engine
from tests.gateway.data_market import dclient, dmarket, forget_what_later_migrations_add, issue, send, token

LINE = 2  # holder_cn's level-2 CN asset


def _rows(client: Any, headers: dict[str, str], v: int) -> list[dict[str, Any]]:
    r = client.get(f"/v1/vouchers/{v}/users", headers=headers)
    assert r.status_code == 200, r.text
    page = r.json()
    rows: list[dict[str, Any]] = page["items"]  # a page like every list
    assert page["total"] == len(rows) and page["offset"] == 0
    return rows


def _agree(client: Any, market: Any, headers: dict[str, str], v: int, users: list[str]) -> list[dict[str, Any]]:
    """The API's answer for every user equals the contract's view function."""
    rows = _rows(client, headers, v)
    view = market.contracts["DataVoucher"].functions.isAuthorisedUser
    for user in users:
        chain = bool(view(v, market.w3.to_checksum_address(user)).call())
        served = any(r["live"] for r in rows if r["user"] == user.lower())
        assert served == chain, (user, chain, rows)
    return rows


def test_authorisation_lapses_on_transfer_and_returns_with_the_voucher(dclient: Any, dmarket: Any) -> None:
    m = dmarket
    reg = token(dclient, m, "regulator")
    cn, op, bank = (m.address(k).lower() for k in ("holder_cn", "operator", "bank_cn"))
    v = issue(m, "holder_cn", "holder_cn", LINE)

    send(m, "DataVoucher", "authoriseUser", "holder_cn", v, m.address("bank_cn"), True)
    m.index()
    rows = _agree(dclient, m, reg, v, [bank])
    assert [(r["holder"], r["user"], r["allowed"], r["live"]) for r in rows] == [(cn, bank, True, True)]

    # transferred away: the authorisation stays on record (holder_cn's) but has lapsed
    send(m, "DataVoucher", "transferFrom", "holder_cn", m.address("holder_cn"), m.address("operator"), v)
    m.index()
    rows = _agree(dclient, m, reg, v, [bank])
    assert [(r["holder"], r["live"]) for r in rows] == [(cn, False)]

    # the new holder authorises, then withdraws: its own row, the first holder's is untouched
    send(m, "DataVoucher", "authoriseUser", "operator", v, m.address("bank_cn"), True)
    m.index()
    _agree(dclient, m, reg, v, [bank])
    send(m, "DataVoucher", "authoriseUser", "operator", v, m.address("bank_cn"), False)
    m.index()
    rows = _agree(dclient, m, reg, v, [bank])
    assert sorted((r["holder"], r["allowed"], r["live"]) for r in rows) == sorted([(cn, True, False), (op, False, False)])

    # back to the first holder: its authorisation applies again
    send(m, "DataVoucher", "transferFrom", "operator", m.address("operator"), m.address("holder_cn"), v)
    m.index()
    rows = _agree(dclient, m, reg, v, [bank])
    assert any(r["holder"] == cn and r["live"] for r in rows)

    # who sees which rows: the user sees both its rows, the current holder its own, a stranger none
    user_rows = _rows(dclient, token(dclient, m, "bank_cn"), v)
    assert {r["holder"] for r in user_rows} == {cn, op}
    holder_rows = _rows(dclient, token(dclient, m, "holder_cn"), v)
    assert {r["holder"] for r in holder_rows} == {cn}
    assert dclient.get(f"/v1/vouchers/{v}/users", headers=token(dclient, m, "holder_mo")).status_code == 403


def _spell_events(raw: Any, old: tuple[str, str], new: tuple[str, str]) -> None:
    """Rename the stored UserAuthori[sz]ed events and their voucher-id key (old -> new)."""
    with raw.begin() as conn:
        n = conn.execute(text("UPDATE events SET event = :ne, args = replace(args, :ok, :nk) "
                              "WHERE contract = 'DataVoucher' AND event = :oe"),
                         {"ne": new[0], "nk": new[1], "oe": old[0], "ok": old[1]}).rowcount
    assert n > 0


def test_migration_0002_rebuilds_the_rows_exactly(dmarket: Any) -> None:
    """Down to 0001 (keyed by (voucher, user)) and up again: the same rows as indexing at head."""
    m = dmarket
    m.index()
    forget_what_later_migrations_add(m.database_url)
    engine = make_engine(m.database_url)
    before = dump_hash(engine)
    cfg = alembic_config(m.database_url)
    command.downgrade(cfg, "0001")
    raw = create_engine(m.database_url)
    assert inspect(raw).get_pk_constraint("voucher_users")["constrained_columns"] == ["token_id", "user"]
    # 0002 replays the events as the contracts of its time named them (UserAuthorized, tokenId);
    # the contracts now say UserAuthorised(voucherId, ...) (issue 12): give it an index of that time
    _spell_events(raw, ("UserAuthorised", '"voucherId"'), ("UserAuthorized", '"tokenId"'))
    command.upgrade(cfg, "head")
    _spell_events(raw, ("UserAuthorized", '"tokenId"'), ("UserAuthorised", '"voucherId"'))
    pk = inspect(raw).get_pk_constraint("voucher_users")["constrained_columns"]
    raw.dispose()
    assert sorted(pk) == ["holder", "user", "voucher_id"]
    assert dump_hash(engine) == before
    engine.dispose()
    m.index()  # indexing goes on from there
