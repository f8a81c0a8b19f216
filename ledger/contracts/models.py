"""Domain values and result models shared by the typed clients (and the CLI's --json output)."""

from __future__ import annotations

import hashlib
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict

from ledger.errors import InvalidInput
from ledger.ipfs.unixfs import cid_from_chain as cid_from_chain  # one definition, in ledger.ipfs

# the contracts' enums and role bits: generated from the compiler output (python -m ledger.build)
from ledger.vocabulary import (
    LICENSED_ROLES as LICENSED_ROLES,
)
from ledger.vocabulary import (
    AssetStatus as AssetStatus,
)
from ledger.vocabulary import (
    ClearanceState as ClearanceState,
)
from ledger.vocabulary import (
    RightType as RightType,
)
from ledger.vocabulary import (
    Role as Role,
)
from ledger.vocabulary import (
    Side as Side,
)
from ledger.vocabulary import (
    SourceType as SourceType,
)
from ledger.vocabulary import (
    Status as Status,
)
from ledger.vocabulary import (
    VoucherStatus as VoucherStatus,
)


def parse_enum(enum: Any, value: Any) -> Any:
    """Enum member from a member, an int, or a name (case-insensitive, '-' for '_')."""
    if isinstance(value, enum):
        return value
    if isinstance(value, int):
        return enum(value)
    text = str(value).strip().upper().replace("-", "_")
    if text.isdigit():
        return enum(int(text))
    try:
        return enum[text]
    except KeyError:
        names = ", ".join(m.name.lower().replace("_", "-") for m in enum)
        raise InvalidInput(f"unknown {enum.__name__} {value!r} (one of: {names})") from None


def parse_roles(value: Any) -> int:
    """Role bits from an int or names like 'holder,exchange'."""
    if isinstance(value, int):
        roles = int(value)  # a Role (IntFlag) is iterable: web3 would encode it as a list
    else:
        text = str(value).strip()
        if text.isdigit() or text.lower().startswith("0x"):
            roles = int(text, 0)
        else:
            roles = 0
            for part in text.replace("|", ",").split(","):
                if part.strip():
                    roles |= int(parse_enum(Role, part.strip()))
    if roles <= 0 or roles > 0xFF:
        raise InvalidInput(f"invalid roles {value!r}")
    return roles


def role_names(bits: int) -> list[str]:
    return [r.name.lower() for r in Role if bits & r and r.name]


def jurisdiction(code: str | bytes) -> bytes:
    """bytes2 of a two-letter upper-case code ("CN", "HK", "MO", ISO-3166 alpha-2)."""
    raw = code.encode("ascii") if isinstance(code, str) else bytes(code)
    if len(raw) != 2 or not all(0x41 <= b <= 0x5A for b in raw):
        raise InvalidInput(f"invalid jurisdiction {code!r}: two upper-case letters, e.g. CN, HK, MO, SG")
    return raw


def jurisdiction_str(raw: bytes) -> str:
    return bytes(raw).rstrip(b"\0").decode("ascii", "replace")


def org_id(value: str | bytes) -> bytes:
    """bytes32 organisation id: 0x-hex of 32 bytes as is, else sha-256 of the unified social
    credit code (统一社会信用代码)."""
    if isinstance(value, bytes):
        if len(value) != 32:
            raise InvalidInput("an organisation id is 32 bytes")
        return value
    text = value.strip()
    if text.startswith("0x") and len(text) == 66:
        return bytes.fromhex(text[2:])
    if not text:
        raise InvalidInput("empty organisation code")
    return hashlib.sha256(text.encode("utf-8")).digest()


def bytes32_tag(text: str | bytes) -> bytes:
    """Right-padded bytes32 of a short tag (valuation method), or 0x-hex of 32 bytes."""
    if isinstance(text, bytes):
        raw = text
    elif text.startswith("0x") and len(text) == 66:
        return bytes.fromhex(text[2:])
    else:
        raw = text.encode("utf-8")
    if len(raw) > 32:
        raise InvalidInput(f"tag {text!r} is longer than 32 bytes")
    return raw.ljust(32, b"\0")


def tag_from_chain(raw: bytes) -> str:
    """A bytes32 tag as written by :func:`bytes32_tag`: its text when it is short printable text
    right-padded with zeros, else ``0x`` + the 32 bytes in hex (e.g. a sha-256, never decoded as text)."""
    raw = bytes(raw)
    text = raw.rstrip(b"\0")
    if text and b"\0" not in text:
        try:
            decoded = text.decode("utf-8")
        except UnicodeDecodeError:
            decoded = ""
        if decoded and decoded.isprintable():
            return decoded
    return "0x" + raw.hex()


#: valuation method names recognised when recorded as their sha-256 (the demo does): hex -> name
KNOWN_METHODS = {"0x" + hashlib.sha256(name.encode()).hexdigest(): name
                 for name in ("income", "cost", "market", "income-approach", "cost-approach", "market-approach")}


def hash32(text: str | bytes) -> bytes:
    """A bytes32 value: 0x-hex of 32 bytes as is, else sha-256 of the text (scope, purpose)."""
    if isinstance(text, bytes):
        return text if len(text) == 32 else hashlib.sha256(text).digest()
    if text.startswith("0x") and len(text) == 66:
        return bytes.fromhex(text[2:])
    return hashlib.sha256(text.encode("utf-8")).digest()


def cid_to_chain(cid: str) -> bytes:
    """A CID string -> its binary form, as the registries store it."""
    from ledger.ipfs import Cid

    try:
        return bytes(Cid.decode(cid).binary)
    except Exception:  # any parse failure is an invalid input
        raise InvalidInput(f"invalid CID {cid!r}") from None


class Model(BaseModel):
    model_config = ConfigDict(frozen=True)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class Participant(Model):
    address: str
    jurisdiction: str
    roles: int
    role_names: list[str]
    licence_expiry: int
    status: str
    org_id: str
    active: bool

    @property
    def registered(self) -> bool:
        return self.status != "none"


class Organisation(Model):
    org_id: str
    status: str
    allowed_roles: int
    jurisdiction: str
    officer: str
    account_count: int


class ManifestVersion(Model):
    version: int
    content_hash: str
    timestamp: int
    cid: str


class Valuation(Model):
    index: int
    appraiser: str
    timestamp: int
    currency: str
    amount: int
    method: str
    report_cid: str


class Asset(Model):
    asset_id: int
    holder: str
    level: int
    source_type: str
    status: str
    home_jurisdiction: str
    version_count: int
    manifest: Optional[ManifestVersion] = None
    valuation_count: int = 0


class Clearance(Model):
    clearance_id: int
    asset_id: int
    requester: str
    destination: str
    state: str
    requested_at: int
    recipient: str
    expiry: int
    decided_by: str
    decided_at: int
    purpose_cid: str
    conditions_cid: str


class Voucher(Model):
    voucher_id: int
    holder: Optional[str]
    asset_id: int
    right: str
    status: str
    transferable: bool
    valid_from: int
    valid_until: int
    max_uses: int
    uses: int
    issuer: str
    scope_hash: str


class Restriction(Model):
    code: int
    message: str

    @property
    def allowed(self) -> bool:
        return self.code == 0


class RecoveryProposal(Model):
    """A pending two-regulator recovery of a voucher (``proposer`` empty when none)."""

    voucher_id: int
    from_: str
    to: str
    proposer: Optional[str]
    expires_at: int

    @property
    def pending(self) -> bool:
        return self.proposer is not None
