"""Trades settled by licensed exchanges (voucher against payment)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from sqlmodel import or_, select

from gateway.api.common import ERRORS, AddressQuery, IdQuery, Limit, Offset, Page, page_total
from gateway.api.deps import SessionDep
from gateway.api.legible import BrokerPaymentNames, TradeNames
from gateway.core.errors import not_found
from gateway.models import BrokerPayment, BrokerPaymentPublic, Trade, TradePublic
from gateway.services import legible

router = APIRouter(prefix="/v1/trades", tags=["trades"], responses=ERRORS)


class TradeOut(TradePublic, TradeNames):
    pass


class BrokerPaymentOut(BrokerPaymentPublic, BrokerPaymentNames):
    pass


class TradeDetail(TradeOut):
    broker_payments: list[BrokerPaymentOut]


def trade_rows(db: Any, trades: Any) -> list[TradeOut]:
    directory = legible.Directory(db.connection())
    directory.load_accounts([a for t in trades for a in (t.seller, t.buyer, t.exchange)])
    titles = legible.asset_titles(directory.conn, [t.asset_id for t in trades])
    return [TradeOut(**legible.enrich(directory, t.model_dump()), asset_title=titles.get(t.asset_id, (None, None))[0],
                     asset_title_zh=titles.get(t.asset_id, (None, None))[1]) for t in trades]


@router.get("", response_model=Page[TradeOut])
def list_trades(
    db: SessionDep,
    voucher_id: IdQuery = None,
    asset_id: IdQuery = None,
    party: AddressQuery = None,
    exchange: AddressQuery = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[TradeOut]:
    query = select(Trade)
    if voucher_id is not None:
        query = query.where(Trade.voucher_id == voucher_id)
    if asset_id is not None:
        query = query.where(Trade.asset_id == asset_id)
    if party is not None:
        query = query.where(or_(Trade.seller == party.lower(), Trade.buyer == party.lower()))
    if exchange is not None:
        query = query.where(Trade.exchange == exchange.lower())
    rows = db.exec(query.order_by(Trade.block_number.desc(), Trade.log_index.desc())  # type: ignore[attr-defined]
                   .offset(offset).limit(limit)).all()
    total, exact = page_total(db, query, offset, limit, len(rows))
    return Page(items=trade_rows(db, rows), total=total, total_exact=exact, limit=limit, offset=offset)


@router.get("/{trade_id}", response_model=TradeDetail)
def get_trade(trade_id: Annotated[str, Path(pattern=r"^0x[0-9a-fA-F]{64}$")], db: SessionDep) -> TradeDetail:
    t = db.get(Trade, trade_id.lower())
    if t is None:
        raise not_found("trade", trade_id=trade_id)
    payments = db.exec(select(BrokerPayment).where(BrokerPayment.trade_id == t.trade_id)).all()
    directory = legible.Directory(db.connection())
    return TradeDetail(**trade_rows(db, [t])[0].model_dump(),
                       broker_payments=[BrokerPaymentOut(**legible.enrich(directory, p.model_dump())) for p in payments])
