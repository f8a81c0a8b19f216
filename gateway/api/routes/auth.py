"""Sign-In with Ethereum (EIP-4361) -> session token (bearer or dl_session cookie)."""

from __future__ import annotations

from typing import Optional

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from gateway.api.common import AUTH_ERRORS, ERRORS
from gateway.api.deps import AuthedCallerDep, EngineDep, SessionDep, SettingsDep, caller_for, current_session
from gateway.core.config import ConfigError, check_startup, siwe_domain, siwe_uri
from gateway.core.errors import ApiError
from gateway.core.security import (
    COOKIE_NAME,
    SiweError,
    consume_nonce,
    iso,
    issue_nonce,
    make_token,
    revoke_session,
    verify_message,
)

router = APIRouter(prefix="/v1/auth", tags=["auth"], responses=ERRORS)


class NoncePublic(BaseModel):
    nonce: str
    expires_at: str
    domain: str
    uri: str
    chain_id: Optional[int]


class LoginIn(BaseModel):
    message: str = Field(max_length=4096, description="the EIP-4361 message the wallet signed")
    signature: str = Field(max_length=200, description="0x-hex 65-byte personal_sign signature")


class SessionPublic(BaseModel):
    token: str
    address: str
    expires_at: int
    roles: list[str]
    status: str


class MePublic(BaseModel):
    address: str
    roles: list[str]
    status: str
    jurisdiction: Optional[str] = None


def chain_id_of(request: Request) -> Optional[int]:
    cid = getattr(request.app.state, "chain_id", None)
    if cid is None:
        try:
            cid = int(request.app.state.web3.eth.chain_id)
        except Exception:  # node down
            return None
        try:  # the node was down at start-up: its chain must now pass the start-up check
            check_startup(request.app.state.settings, cid)
        except ConfigError as exc:
            raise ApiError(503, "GatewayMisconfigured", f"this gateway is not configured for its chain: {exc}") from None
        request.app.state.chain_id = cid
    return int(cid)


@router.get("/nonce", response_model=NoncePublic)
def nonce(request: Request, engine: EngineDep, settings: SettingsDep) -> NoncePublic:
    """A fresh single-use nonce to put in the EIP-4361 message (expires in SIWE_NONCE_TTL s)."""
    value, expires = issue_nonce(engine, settings.SIWE_NONCE_TTL)
    return NoncePublic(nonce=value, expires_at=iso(expires), domain=siwe_domain(settings), uri=siwe_uri(settings),
                       chain_id=chain_id_of(request))


@router.post("/login", response_model=SessionPublic, responses=AUTH_ERRORS)
def login(body: LoginIn, request: Request, response: Response, engine: EngineDep, db: SessionDep,
          settings: SettingsDep) -> SessionPublic:
    chain_id = chain_id_of(request)
    if chain_id is None:
        raise ApiError(503, "NodeUnavailable", "the chain node does not answer")
    try:
        # the domain and URI come from configuration only, never from the request (Host header)
        msg = verify_message(body.message, body.signature, domain=siwe_domain(settings), uri=siwe_uri(settings),
                             chain_id=chain_id)
        consume_nonce(engine, msg.nonce)
    except SiweError as exc:
        raise ApiError(401, exc.code, exc.reason) from None
    token, session = make_token(request.app.state.session_secret, msg.address, settings.SESSION_TTL)
    caller = caller_for(db, session.address)
    response.set_cookie(COOKIE_NAME, token, max_age=settings.SESSION_TTL, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
    return SessionPublic(token=token, address=session.address, expires_at=session.expires_at,
                         roles=caller.role_names, status=caller.status)


@router.post("/logout", status_code=204)
def logout(request: Request, response: Response, engine: EngineDep) -> Response:
    """Ends the session: its token is revoked (every gateway process over this database refuses it
    from now on) and the cookie is cleared. Without a token: only the cookie is cleared."""
    try:
        session = current_session(request)
    except ApiError:
        session = None  # already invalid, expired or revoked: nothing to revoke
    if session is not None:
        revoke_session(engine, session)
    response.delete_cookie(COOKIE_NAME)
    response.status_code = 204
    return response


@router.get("/me", response_model=MePublic, responses=AUTH_ERRORS)
def me(caller: AuthedCallerDep) -> MePublic:
    return MePublic(address=str(caller.address), roles=caller.role_names, status=caller.status,
                    jurisdiction=caller.jurisdiction)
