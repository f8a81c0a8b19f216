"""Typed clients of ParticipantRegistry, AssetRegistry and DataCustoms."""

from __future__ import annotations

from typing import Any, Optional

from ledger.contracts.base import ZERO_ADDRESS, ContractClient, TxResult, checksum
from ledger.contracts.models import (
    Asset,
    AssetStatus,
    Clearance,
    ClearanceState,
    ManifestVersion,
    Organisation,
    Participant,
    SourceType,
    Status,
    Valuation,
    bytes32_tag,
    cid_from_chain,
    cid_to_chain,
    jurisdiction,
    jurisdiction_str,
    org_id,
    parse_enum,
    parse_roles,
    role_names,
    tag_from_chain,
)
from ledger.errors import InvalidInput, UnknownAsset, UnknownClearance


def _hex(raw: bytes) -> str:
    return "0x" + bytes(raw).hex()


def _cid_arg(cid: str | bytes) -> bytes:
    if isinstance(cid, bytes):
        if not cid:
            raise InvalidInput("empty CID")
        return cid
    return cid_to_chain(cid)


class ParticipantsClient(ContractClient):
    """ParticipantRegistry: organisations, their accounts, roles, licences, suspension."""

    NAME = "ParticipantRegistry"

    # registrar
    def register_organisation(self, org: str | bytes, jur: str, allowed_roles: Any, officer: str) -> TxResult:
        return self.transact("registerOrganisation", org_id(org), jurisdiction(jur), parse_roles(allowed_roles),
                             checksum(officer, "officer address"))

    def set_officer(self, org: str | bytes, officer: str) -> TxResult:
        return self.transact("setOfficer", org_id(org), checksum(officer))

    def set_licence_expiry(self, account: str, expiry: int) -> TxResult:
        return self.transact("setLicenceExpiry", checksum(account), int(expiry))

    def set_licensed_roles(self, account: str, roles: Any, expiry: int) -> TxResult:
        """Grant or drop licensed roles (with the licence expiry): only the registrar changes them."""
        bits = 0 if roles in (0, None) or str(roles).strip().lower() in ("", "0", "none") else parse_roles(roles)
        return self.transact("setLicensedRoles", checksum(account), bits, int(expiry))

    def suspend_account(self, account: str, reason: str) -> TxResult:
        return self.transact("suspendAccount", checksum(account), reason)

    def reinstate_account(self, account: str, reason: str) -> TxResult:
        return self.transact("reinstateAccount", checksum(account), reason)

    def suspend_organisation(self, org: str | bytes, reason: str) -> TxResult:
        return self.transact("suspendOrganisation", org_id(org), reason)

    def reinstate_organisation(self, org: str | bytes, reason: str) -> TxResult:
        return self.transact("reinstateOrganisation", org_id(org), reason)

    # officer
    def add_account(self, org: str | bytes, account: str, roles: Any) -> TxResult:
        return self.transact("addAccount", org_id(org), checksum(account), parse_roles(roles))

    def set_account_roles(self, org: str | bytes, account: str, roles: Any) -> TxResult:
        return self.transact("setAccountRoles", org_id(org), checksum(account), parse_roles(roles))

    def remove_account(self, org: str | bytes, account: str) -> TxResult:
        return self.transact("removeAccount", org_id(org), checksum(account))

    # views
    def participant(self, account: str) -> Participant:
        address = checksum(account)
        jur, roles, expiry, status, oid = self.call("participant", address)
        return Participant(
            address=address,
            jurisdiction=jurisdiction_str(jur),
            roles=int(roles),
            role_names=role_names(int(roles)),
            licence_expiry=int(expiry),
            status=Status(status).name.lower(),
            org_id=_hex(oid),
            active=bool(self.call("isActive", address)),
        )

    def organisation(self, org: str | bytes) -> Organisation:
        oid = org_id(org)
        status, allowed, jur, officer, count, stored = self.call("organisation", oid)
        return Organisation(
            org_id=_hex(oid),
            status=Status(status).name.lower(),
            allowed_roles=int(allowed),
            jurisdiction=jurisdiction_str(jur),
            officer=officer,
            account_count=int(count),
        )

    def holdings_of(self, account: str) -> int:
        """Vouchers plus registered assets of ``account``: non-zero means it cannot leave its organisation."""
        return int(self.call("holdingsOf", checksum(account)))

    def is_active(self, account: str) -> bool:
        return bool(self.call("isActive", checksum(account)))

    def has_roles(self, account: str, roles: Any) -> bool:
        return bool(self.call("hasRoles", checksum(account), parse_roles(roles)))

    def licence_valid(self, account: str) -> bool:
        return bool(self.call("licenceValid", checksum(account)))


class AssetsClient(ContractClient):
    """AssetRegistry: registration of rights over datasets (确权登记), manifests, valuations."""

    NAME = "AssetRegistry"

    def register(self, manifest_cid: str | bytes, content_hash: bytes, level: int, source: Any) -> TxResult:
        """Register a dataset held by the caller; ``result.value`` is the new asset id."""
        if not isinstance(content_hash, (bytes, bytearray)) or len(content_hash) != 32:
            raise InvalidInput("content hash must be 32 bytes (sha-256 of the dataset)")
        if int(level) not in (1, 2, 3, 4):
            raise InvalidInput(f"classification level {level} is not within 1..4")
        result = self.transact("registerAsset", _cid_arg(manifest_cid), bytes(content_hash), int(level),
                               int(parse_enum(SourceType, source)))
        result.value = int(result.event("AssetRegistered")["assetId"])
        return result

    def update_manifest(self, asset_id: int, manifest_cid: str | bytes, content_hash: bytes) -> TxResult:
        result = self.transact("updateManifest", int(asset_id), _cid_arg(manifest_cid), bytes(content_hash))
        result.value = int(result.event("ManifestUpdated")["version"])
        return result

    def record_valuation(self, asset_id: int, amount: int, currency: str, method: str,
                         report_cid: str | bytes) -> TxResult:
        cur = currency.encode("ascii") if isinstance(currency, str) else bytes(currency)
        if len(cur) != 3 or not cur.isupper() or not cur.isalpha():
            raise InvalidInput(f"invalid currency {currency!r}: three upper-case letters (ISO-4217)")
        result = self.transact("recordValuation", int(asset_id), int(amount), cur, bytes32_tag(method),
                               _cid_arg(report_cid))
        result.value = int(result.event("ValuationRecorded")["index"])
        return result

    def freeze(self, asset_id: int, reason: str) -> TxResult:
        return self.transact("freeze", int(asset_id), reason)

    def unfreeze(self, asset_id: int, reason: str) -> TxResult:
        return self.transact("unfreeze", int(asset_id), reason)

    def revoke(self, asset_id: int, reason: str) -> TxResult:
        return self.transact("revoke", int(asset_id), reason)

    def release_content_hash(self, content_hash: bytes | str, claimant: Optional[str], reason: str) -> TxResult:
        """Registrar: free the content hash of a revoked asset (squatting) for ``claimant`` (None: anyone)."""
        return self.transact("releaseContentHash", _hash32(content_hash),
                             checksum(claimant, "claimant") if claimant else ZERO_ADDRESS, reason)

    # views
    def asset(self, asset_id: int) -> Asset:
        holder, level, source, status, home, versions = self.call("assetCore", int(asset_id))
        if AssetStatus(status) == AssetStatus.NONE:
            raise UnknownAsset(int(asset_id))
        version, manifest = self.call("latestManifest", int(asset_id))
        return Asset(
            asset_id=int(asset_id),
            holder=holder,
            level=int(level),
            source_type=SourceType(source).name.lower().replace("_", "-"),
            status=AssetStatus(status).name.lower(),
            home_jurisdiction=jurisdiction_str(home),
            version_count=int(versions),
            manifest=self._manifest(int(version), manifest),
            valuation_count=int(self.call("valuationCount", int(asset_id))),
        )

    @staticmethod
    def _manifest(version: int, m: Any) -> ManifestVersion:
        content_hash, timestamp, cid = m
        return ManifestVersion(version=version, content_hash=_hex(content_hash), timestamp=int(timestamp),
                               cid=cid_from_chain(cid))

    def manifest_version(self, asset_id: int, version: int) -> ManifestVersion:
        return self._manifest(version, self.call("manifestVersion", int(asset_id), int(version)))

    def valuations(self, asset_id: int) -> list[Valuation]:
        out = []
        for i in range(int(self.call("valuationCount", int(asset_id)))):
            appraiser, ts, cur, amount, method, report = self.call("valuation", int(asset_id), i)
            out.append(Valuation(index=i, appraiser=appraiser, timestamp=int(ts),
                                 currency=bytes(cur).decode("ascii", "replace"), amount=int(amount),
                                 method=tag_from_chain(method),
                                 report_cid=cid_from_chain(report)))
        return out

    def asset_count(self) -> int:
        return int(self.call("assetCount"))

    def asset_of_content(self, content_hash: bytes | str) -> int:
        return int(self.call("assetOfContent", _hash32(content_hash)))

    def claimant_of(self, content_hash: bytes | str) -> Optional[str]:
        """The only account that may register a released hash (None: anyone)."""
        claimant = str(self.call("claimantOf", _hash32(content_hash)))
        return None if int(claimant, 16) == 0 else checksum(claimant)


def _hash32(value: bytes | str) -> bytes:
    """A 32-byte content hash from bytes or 0x-hex."""
    if isinstance(value, str):
        try:
            value = bytes.fromhex(value.removeprefix("0x"))
        except ValueError:
            raise InvalidInput(f"content hash {value!r} is not hex") from None
    if len(value) != 32:
        raise InvalidInput("content hash must be 32 bytes (sha-256 of the dataset)")
    return bytes(value)


class CustomsClient(ContractClient):
    """DataCustoms (数据海关): cross-border clearances."""

    NAME = "DataCustoms"

    def request(self, asset_id: int, destination: str, purpose_cid: str | bytes,
                recipient: Optional[str] = None) -> TxResult:
        """Open a clearance request; ``result.value`` is the clearance id. ``recipient`` None = anyone there."""
        to = checksum(recipient, "recipient") if recipient else ZERO_ADDRESS
        result = self.transact("requestClearance", int(asset_id), jurisdiction(destination), to,
                               _cid_arg(purpose_cid))
        result.value = int(result.event("ClearanceRequested")["clearanceId"])
        return result

    def approve(self, clearance_id: int, expiry: int, conditions_cid: str | bytes = b"") -> TxResult:
        conditions = _cid_arg(conditions_cid) if conditions_cid else b""
        return self.transact("approveClearance", int(clearance_id), int(expiry), conditions)

    def reject(self, clearance_id: int, reason: str) -> TxResult:
        return self.transact("rejectClearance", int(clearance_id), reason)

    def revoke(self, clearance_id: int, reason: str) -> TxResult:
        return self.transact("revokeClearance", int(clearance_id), reason)

    def clearance(self, clearance_id: int) -> Clearance:
        c = self.call("clearance", int(clearance_id))
        (asset_id, requester, dest, state, requested_at, recipient, expiry, decided_by, decided_at,
         purpose, conditions) = c
        if ClearanceState(state) == ClearanceState.NONE:
            raise UnknownClearance(int(clearance_id))
        return Clearance(
            clearance_id=int(clearance_id), asset_id=int(asset_id), requester=requester,
            destination=jurisdiction_str(dest), state=ClearanceState(state).name.lower(),
            requested_at=int(requested_at), recipient=recipient, expiry=int(expiry),
            decided_by=decided_by, decided_at=int(decided_at), purpose_cid=cid_from_chain(purpose),
            conditions_cid=cid_from_chain(conditions),
        )

    def is_cleared(self, asset_id: int, destination: str, recipient: str) -> bool:
        return bool(self.call("isCleared", int(asset_id), jurisdiction(destination), checksum(recipient)))

    def clearance_count(self) -> int:
        return int(self.call("clearanceCount"))
