"""Trades settled by licensed exchanges (voucher against payment)."""

from __future__ import annotations

from typing import Annotated, Optional

from fastapi import APIRouter, Path
from sqlalchemy import func
from sqlmodel import or_, select

from gateway.api.common import ERRORS, AddressQuery, IdQuery, Limit, Offset, Page
from gateway.api.deps import SessionDep
from gateway.core.errors import not_found
from gateway.models import BrokerPayment, BrokerPaymentPublic, Trade, TradePublic

router = APIRouter(prefix="/v1/trades", tags=["trades"], responses=ERRORS)


class TradeDetail(TradePublic):
    broker_payments: list[BrokerPaymentPublic]


@router.get("", response_model=Page[TradePublic])
def list_trades(
    db: SessionDep,
    voucher_id: IdQuery = None,
    asset_id: IdQuery = None,
    party: AddressQuery = None,
    exchange: AddressQuery = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[TradePublic]:
    query = select(Trade)
    if voucher_id is not None:
        query = query.where(Trade.voucher_id == voucher_id)
    if asset_id is not None:
        query = query.where(Trade.asset_id == asset_id)
    if party is not None:
        query = query.where(or_(Trade.seller == party.lower(), Trade.buyer == party.lower()))
    if exchange is not None:
        query = query.where(Trade.exchange == exchange.lower())
    total = db.exec(select(func.count()).select_from(query.subquery())).one()
    rows = db.exec(query.order_by(Trade.block_number.desc(), Trade.log_index.desc())  # type: ignore[attr-defined]
                   .offset(offset).limit(limit)).all()
    return Page(items=[TradePublic(**t.model_dump()) for t in rows], total=total, limit=limit, offset=offset)


@router.get("/{trade_id}", response_model=TradeDetail)
def get_trade(trade_id: Annotated[str, Path(pattern=r"^0x[0-9a-fA-F]{64}$")], db: SessionDep) -> TradeDetail:
    t = db.get(Trade, trade_id.lower())
    if t is None:
        raise not_found("trade", trade_id=trade_id)
    payments = db.exec(select(BrokerPayment).where(BrokerPayment.trade_id == t.trade_id)).all()
    return TradeDetail(**t.model_dump(), broker_payments=[BrokerPaymentPublic(**p.model_dump()) for p in payments])
