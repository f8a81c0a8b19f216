"""Provenance verification in the API: is what this gateway serves what the chain says?

    GET /v1/vouchers/{id}/verification   verdict of the voucher's history (gateway.verify.verify_history)
    GET /v1/assets/{id}/verification     same for an asset
    GET /v1/participants/{account}/verification   a participant's served standing (row, organisation,
                                         holdings) against its ParticipantRegistry events and views
    GET /v1/vouchers/{id}/bundle         proof bundle (canonical JSON bytes: save and check offline with
    GET /v1/assets/{id}/bundle           ``dataledger verify --bundle FILE --trusted-head HASH``)

The verdict compares the gateway's own database (the same selection the provenance endpoint
serves, gateway.verify.selection.select_history) with the node at RPC_URL. A regulator should run
``dataledger verify`` against a node of their own; this endpoint is the gateway checking itself
(for the voucher page's "history verified" badge).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request, Response

from gateway.api.common import ERRORS, IdPath, address
from gateway.api.deps import SettingsDep
from gateway.core.config import Settings

router = APIRouter(tags=["verification"], responses=ERRORS)


@lru_cache(maxsize=4)
def _engine(url: str) -> Any:
    from gateway.indexer.store import make_engine

    return make_engine(url)


def _contracts(request: Request, settings: Settings) -> dict[str, dict[str, Any]]:
    from ledger.deployment import Deployment
    from ledger.errors import LedgerError

    deployment: Deployment | None = getattr(request.app.state, "deployment", None)
    if deployment is not None:
        return deployment.entries()
    from ledger.rpc import RpcClient

    rpc = RpcClient(settings.RPC_URL, timeout=10)
    try:
        return Deployment.require(settings.STATE_DIR, rpc.chain_id()).entries()
    except LedgerError as exc:
        raise HTTPException(503, f"no deployment record: {exc}") from None
    except Exception as exc:  # node down
        raise HTTPException(503, f"chain unreachable: {exc}") from None
    finally:
        rpc.close()


def _ipfs(settings: Settings) -> Any:
    from gateway.verify.manifests import ipfs_fetcher

    return ipfs_fetcher(settings.IPFS_API or str(settings.IPFS_STORE_DIR))


@contextmanager
def _answerable() -> Iterator[None]:
    """The verification routes' one error mapping: node, verifier or database down -> 503."""
    from sqlalchemy.exc import SQLAlchemyError

    from gateway.verify import VerifyError
    from ledger.rpc import NodeUnavailable, RpcError

    try:
        yield
    except (NodeUnavailable, RpcError) as exc:
        raise HTTPException(503, f"chain unreachable: {exc}") from None
    except VerifyError as exc:
        raise HTTPException(503, str(exc)) from None
    except SQLAlchemyError as exc:
        raise HTTPException(503, f"database unavailable: {type(exc).__name__}") from None


def _answer(verdict: Any, what: str) -> dict[str, Any]:
    """The verdict as JSON; an unknown subject is 404."""
    if verdict.verdict == "unknown":
        raise HTTPException(404, f"unknown {what}: none on chain at block {verdict.block}, none served")
    out: dict[str, Any] = verdict.to_dict()
    return out


def history_verdict(kind: str, subject_id: int, request: Request, settings: Settings, manifests: bool) -> dict[str, Any]:
    from gateway.services.redaction import EVENT_HIDDEN, WITHHELD_TABLES, viewer_from_request
    from gateway.verify import SqlSource, verify_history
    from gateway.verify.sources import api_reader

    contracts = _contracts(request, settings)
    engine = getattr(request.app.state, "engine", None) or _engine(settings.DATABASE_URL)
    with _answerable():
        with engine.connect() as conn:
            viewer = viewer_from_request(request, conn)
        # the gateway checks every field, but shows the values of uses, user authorisations and
        # clearances only to supervisors (one redaction policy; a party reads its rows elsewhere)
        hide = not viewer.supervisor
        # through the provenance endpoint's own query code: what it serves is what gets verified
        verdict = verify_history(settings.RPC_URL, kind, subject_id, source=SqlSource(engine, reader=api_reader()),
                                 contracts=contracts, fetch=_ipfs(settings) if manifests else None,
                                 manifests=manifests, withhold=WITHHELD_TABLES if hide else frozenset(),
                                 withhold_events=frozenset(EVENT_HIDDEN) if hide else frozenset())
    return _answer(verdict, f"{kind} {subject_id}")


def bundle_response(kind: str, subject_id: int, request: Request, settings: Settings) -> Response:
    from gateway.services.redaction import guard_bundle, guard_bundle_logs
    from gateway.verify import build_bundle, dumps
    from gateway.verify.receipts import EncodingError
    from ledger.rpc import NodeUnavailable, RpcError

    # raw receipts would serve fields hidden from the caller (gateway.services.redaction)
    engine = getattr(request.app.state, "engine", None) or _engine(settings.DATABASE_URL)
    guard_bundle(kind, subject_id, request, engine)
    contracts = _contracts(request, settings)
    try:
        bundle = build_bundle(settings.RPC_URL, kind, subject_id, contracts, fetch=_ipfs(settings))
    except (NodeUnavailable, RpcError) as exc:
        raise HTTPException(503, f"chain unreachable: {exc}") from None
    except EncodingError as exc:
        raise HTTPException(503, f"could not build the bundle: {exc}") from None
    # and every other log the included blocks' receipts carry
    guard_bundle_logs(bundle, request, engine, {n: str(c["address"]) for n, c in contracts.items()})
    if not bundle["events"]:
        raise HTTPException(404, f"no {kind} {subject_id}")
    # the exact canonical bytes: a saved response verifies offline byte for byte
    return Response(content=dumps(bundle), media_type="application/json", headers={
        "Content-Disposition": f'attachment; filename="{kind}-{subject_id}-proof.json"',
        "X-Trusted-Head": bundle["head"]["hash"],
    })


@router.get("/v1/vouchers/{voucher_id}/verification")
def voucher_verification(voucher_id: IdPath, request: Request, settings: SettingsDep,
                         manifests: bool = Query(True, description="also re-hash the asset's manifests from IPFS")
                         ) -> dict[str, Any]:
    """Whether the voucher's served history matches the chain (event by event, with proofs)."""
    return history_verdict("voucher", voucher_id, request, settings, manifests)


@router.get("/v1/assets/{asset_id}/verification")
def asset_verification(asset_id: IdPath, request: Request, settings: SettingsDep,
                       manifests: bool = Query(True, description="also re-hash the manifests from IPFS")
                       ) -> dict[str, Any]:
    """Whether the asset's served history matches the chain (event by event, with proofs)."""
    return history_verdict("asset", asset_id, request, settings, manifests)


@router.get("/v1/vouchers/{voucher_id}/bundle")
def voucher_bundle(voucher_id: IdPath, request: Request, settings: SettingsDep) -> Response:
    """Self-contained proof bundle of the voucher's history (check offline against its head)."""
    return bundle_response("voucher", voucher_id, request, settings)


@router.get("/v1/assets/{asset_id}/bundle")
def asset_bundle(asset_id: IdPath, request: Request, settings: SettingsDep) -> Response:
    """Self-contained proof bundle of the asset's history."""
    return bundle_response("asset", asset_id, request, settings)


@router.get("/v1/participants/{account}/verification")
def participant_verification(account: str, request: Request, settings: SettingsDep) -> dict[str, Any]:
    """Whether the participant's served standing (status, roles, licence, jurisdiction, organisation,
    holdings) matches its ParticipantRegistry events and the registry's views at the node's head.
    The participant directory is public: nothing is redacted."""
    from gateway.verify import SqlSource
    from gateway.verify.participant import verify_participant

    acct = address(account)  # 422 for anything but 0x + 40 hex digits
    contracts = _contracts(request, settings)
    engine = getattr(request.app.state, "engine", None) or _engine(settings.DATABASE_URL)
    with _answerable():
        verdict = verify_participant(settings.RPC_URL, acct, source=SqlSource(engine), contracts=contracts)
    return _answer(verdict, f"participant {acct}")
