"""Shared FastAPI dependencies (Annotated style)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated, Optional

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlmodel import Session
from web3 import Web3

from gateway.core.config import Settings, get_settings
from gateway.core.errors import ApiError
from gateway.core.security import COOKIE_NAME, SessionToken, is_revoked, read_token
from gateway.models import Organisation, Participant
from ledger.contracts.models import LICENSED_ROLES, Role


async def get_app_settings(request: Request) -> Settings:
    # the trivial dependencies are ``async def`` so FastAPI calls them on the event loop: a sync
    # dependency costs a threadpool round trip per request
    settings: Settings = getattr(request.app.state, "settings", None) or get_settings()
    return settings


SettingsDep = Annotated[Settings, Depends(get_app_settings)]


async def get_web3(request: Request) -> Web3:
    w3: Web3 = request.app.state.web3
    return w3


Web3Dep = Annotated[Web3, Depends(get_web3)]


async def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


EngineDep = Annotated[Engine, Depends(get_engine)]


async def get_db(request: Request) -> AsyncIterator[Session]:
    """An async generator on purpose: a sync generator dependency needs a threadpool thread for
    its exit, which deadlocks once more requests than threadpool threads are in flight."""
    with Session(request.app.state.engine) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_db)]


@dataclass
class Caller:
    """Who is asking: anonymous (address None) or a signed-in account with its registry roles."""

    address: Optional[str] = None
    roles: int = 0
    status: str = "anonymous"  # anonymous | unregistered | active | suspended | removed
    jurisdiction: Optional[str] = None
    role_names: list[str] = field(default_factory=list)

    @property
    def authenticated(self) -> bool:
        return self.address is not None

    def has(self, role: Role) -> bool:
        return bool(self.roles & int(role))

    @property
    def supervisor(self) -> bool:
        """Customs or regulator: may see clearance details and everyone's uses."""
        return self.has(Role.CUSTOMS) or self.has(Role.REGULATOR)


def effective_roles(participant: Participant, organisation: Optional[Organisation], now: float) -> int:
    """Roles that count now: active account in an active organisation; licensed roles need a valid licence."""
    if participant.status != "active" or (organisation is not None and organisation.status != "active"):
        return 0
    roles = int(participant.roles)
    # expiry 0 is "no licence", not "a licence that never ends"
    if roles & int(LICENSED_ROLES) and (not participant.licence_expiry or participant.licence_expiry < now):
        roles &= ~int(LICENSED_ROLES)
    return roles


def caller_for(db: Session, address: str) -> Caller:
    participant = db.get(Participant, address.lower())
    if participant is None:
        return Caller(address=address, status="unregistered")
    organisation = db.get(Organisation, participant.org_id)
    roles = effective_roles(participant, organisation, time.time())
    status = participant.status if roles or participant.status != "active" else "active"
    return Caller(address=address, roles=roles, status=status, jurisdiction=participant.jurisdiction,
                  role_names=[r.name.lower() for r in Role if r.name is not None and roles & int(r)])


def session_token(request: Request) -> Optional[str]:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.cookies.get(COOKIE_NAME)


def current_session(request: Request) -> Optional[SessionToken]:
    """The request's session: None without a token; 401 for an invalid, expired or revoked one."""
    token = session_token(request)
    if not token:
        return None
    session = read_token(request.app.state.session_secret, token)
    if session is None:
        raise ApiError(401, "InvalidSession", "the session token is invalid or expired: sign in again",
                       headers={"WWW-Authenticate": "Bearer"})
    if is_revoked(request.app.state.engine, session):
        raise ApiError(401, "SessionRevoked", "this session was signed out: sign in again",
                       headers={"WWW-Authenticate": "Bearer"})
    return session


def get_caller(request: Request, db: SessionDep) -> Caller:
    session = current_session(request)
    if session is None:
        return Caller()
    return caller_for(db, session.address)


CallerDep = Annotated[Caller, Depends(get_caller)]


async def require_session(caller: CallerDep) -> Caller:
    if not caller.authenticated:
        raise ApiError(401, "Unauthorized", "sign in with Ethereum first (GET /v1/auth/nonce, POST /v1/auth/login)",
                       headers={"WWW-Authenticate": "Bearer"})
    return caller


AuthedCallerDep = Annotated[Caller, Depends(require_session)]


async def require_participant(caller: AuthedCallerDep) -> Caller:
    if caller.roles == 0:
        raise ApiError(403, "NotAParticipant",
                       f"{caller.address} is not an active registered participant ({caller.status})",
                       {"address": caller.address, "status": caller.status})
    return caller


ParticipantCallerDep = Annotated[Caller, Depends(require_participant)]
