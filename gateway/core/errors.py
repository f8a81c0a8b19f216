"""One JSON error shape for every refusal: {"error": name, "reason": readable, "values": {...}}."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ledger.errors import ContractRevert, InvalidInput, LedgerError, NotFound, TransferRefused
from ledger.ipfs.errors import IpfsError
from ledger.manifest import ManifestError

log = logging.getLogger(__name__)


class ApiError(Exception):
    """Raised by routes: status, error name, reason, values (and optional headers)."""

    def __init__(self, status: int, error: str, reason: str, values: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.error = error
        self.reason = reason
        self.values = values or {}
        self.headers = headers


def jsonable(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**53:
        return str(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def body(error: str, reason: str, values: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": error, "reason": reason, "values": jsonable(values or {})}


def not_found(what: str, **values: Any) -> ApiError:
    return ApiError(404, "NotFound", f"{what} not found", values)


#: Custom errors that mean "you may not" rather than "this cannot be done now".
_FORBIDDEN_ERRORS = {"NotAuthorised", "NotAuthorisedIssuer", "NotVoucherHolder", "NotAuthorisedUser",
                     "NotHolder", "ExchangeNotLicensed", "WrongExchange", "InactiveParticipant", "NotActive",
                     "ERC2771UntrustfulTarget", "ERC2771ForwarderInvalidSigner"}


def revert_response(exc: ContractRevert) -> tuple[int, dict[str, Any]]:
    status = 403 if exc.name in _FORBIDDEN_ERRORS else 409
    reason = exc.message or str(exc)
    if exc.name == "Error":
        reason = str(exc.values.get("message") or reason)
    return status, body(exc.name, reason, exc.values)


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(body(exc.error, exc.reason, exc.values), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(ContractRevert)
    async def _revert(_: Request, exc: ContractRevert) -> JSONResponse:
        status, payload = revert_response(exc)
        return JSONResponse(payload, status_code=status)

    @app.exception_handler(TransferRefused)
    async def _refused(_: Request, exc: TransferRefused) -> JSONResponse:
        return JSONResponse(body("TransferRestricted", exc.message, {
            "code": exc.code, "voucherId": exc.voucher_id, "from": exc.sender, "to": exc.recipient}), status_code=409)

    @app.exception_handler(NotFound)
    async def _nf(_: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse(body(type(exc).__name__, str(exc)), status_code=404)

    @app.exception_handler(InvalidInput)
    async def _invalid(_: Request, exc: InvalidInput) -> JSONResponse:
        return JSONResponse(body("InvalidInput", str(exc)), status_code=422)

    @app.exception_handler(ManifestError)
    async def _manifest(_: Request, exc: ManifestError) -> JSONResponse:
        return JSONResponse(body("InvalidManifest", str(exc)), status_code=422)

    @app.exception_handler(IpfsError)
    async def _ipfs(_: Request, exc: IpfsError) -> JSONResponse:
        return JSONResponse(body(type(exc).__name__, str(exc)), status_code=502)

    @app.exception_handler(LedgerError)
    async def _ledger(_: Request, exc: LedgerError) -> JSONResponse:
        return JSONResponse(body(type(exc).__name__, str(exc)), status_code=400)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))} for e in exc.errors()]
        reason = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors) or "invalid request"
        return JSONResponse(body("ValidationError", reason, {"errors": errors}), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        name = {401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
                429: "TooManyRequests"}.get(exc.status_code, "HTTPError")
        return JSONResponse(body(name, str(exc.detail)), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))
