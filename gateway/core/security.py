"""Sign-In with Ethereum (EIP-4361) and session tokens.

Flow: ``GET /v1/auth/nonce`` issues a random nonce (stored, single use, expiring) -> the wallet
signs an EIP-4361 message carrying it (personal_sign) -> ``POST /v1/auth/login`` checks the domain,
chain id, nonce, issued-at / expiration / not-before and the signature, consumes the nonce and
returns a session token: ``base64url(payload).base64url(HMAC-SHA256(secret, payload))`` with
``{"sub": address, "iat", "exp", "sid"}``. It is accepted as ``Authorization: Bearer <token>`` or
the ``dl_session`` cookie. Roles are NOT in the token: they are read from the participant registry
(the indexed ``participants`` table) on every request, so a suspension takes effect at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Optional

from eth_account import Account
from eth_account.messages import encode_defunct
from sqlalchemy import Engine, text
from web3 import Web3

COOKIE_NAME = "dl_session"

_HEADER_RE = re.compile(r"^(?:(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*)://)?(?P<domain>[^ /]+) wants you to sign in with your Ethereum account:$")
_ADDR_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")
_NONCE_RE = re.compile(r"^[A-Za-z0-9]{8,}$")
_FIELDS = {"URI": "uri", "Version": "version", "Chain ID": "chain_id", "Nonce": "nonce", "Issued At": "issued_at",
           "Expiration Time": "expiration_time", "Not Before": "not_before", "Request ID": "request_id"}
#: a message issued this far in the future is refused (clock skew allowance)
MAX_SKEW = 300


class SiweError(ValueError):
    """The sign-in message or signature is not acceptable; ``code`` names the check that failed."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass
class SiweMessage:
    domain: str
    address: str
    uri: str
    version: str
    chain_id: int
    nonce: str
    issued_at: str
    statement: Optional[str] = None
    scheme: Optional[str] = None
    expiration_time: Optional[str] = None
    not_before: Optional[str] = None
    request_id: Optional[str] = None
    resources: list[str] = field(default_factory=list)

    def prepare(self) -> str:
        """The EIP-4361 text (what the wallet signs)."""
        head = f"{self.scheme}://{self.domain}" if self.scheme else self.domain
        lines = [f"{head} wants you to sign in with your Ethereum account:", self.address, ""]
        if self.statement is not None:
            lines += [self.statement, ""]
        lines += [f"URI: {self.uri}", f"Version: {self.version}", f"Chain ID: {self.chain_id}",
                  f"Nonce: {self.nonce}", f"Issued At: {self.issued_at}"]
        if self.expiration_time:
            lines.append(f"Expiration Time: {self.expiration_time}")
        if self.not_before:
            lines.append(f"Not Before: {self.not_before}")
        if self.request_id is not None:
            lines.append(f"Request ID: {self.request_id}")
        if self.resources:
            lines.append("Resources:")
            lines += [f"- {r}" for r in self.resources]
        return "\n".join(lines)


def parse_time(value: str, what: str) -> float:
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise SiweError("InvalidMessage", f"{what} is not an RFC 3339 timestamp: {value!r}") from None
    if dt.tzinfo is None:
        raise SiweError("InvalidMessage", f"{what} has no time zone: {value!r}")
    return dt.timestamp()


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_message(message: str) -> SiweMessage:
    """Parse the EIP-4361 ABNF's line layout (strict: the fields in their order)."""
    lines = message.split("\n")
    if len(lines) < 8:
        raise SiweError("InvalidMessage", "not an EIP-4361 message (too few lines)")
    m = _HEADER_RE.match(lines[0])
    if not m:
        raise SiweError("InvalidMessage", "first line must be '<domain> wants you to sign in with your Ethereum account:'")
    address = lines[1]
    if not _ADDR_RE.match(address):
        raise SiweError("InvalidMessage", f"second line must be an address, got {address!r}")
    if address != Web3.to_checksum_address(address):
        raise SiweError("InvalidMessage", "the address must be in EIP-55 checksum form")
    if lines[2] != "":
        raise SiweError("InvalidMessage", "an empty line must follow the address")
    i = 3
    statement = None
    if not lines[i].startswith("URI: "):
        statement = lines[i]
        if i + 1 >= len(lines) or lines[i + 1] != "":
            raise SiweError("InvalidMessage", "an empty line must follow the statement")
        i += 2
    values: dict[str, str] = {}
    order = list(_FIELDS)
    pos = 0
    resources: list[str] = []
    while i < len(lines):
        line = lines[i]
        if line == "Resources:":
            resources = [r[2:] for r in lines[i + 1:] if r.startswith("- ")]
            if len(resources) != len(lines) - i - 1:
                raise SiweError("InvalidMessage", "malformed resources list")
            break
        key, sep, value = line.partition(": ")
        if not sep or key not in _FIELDS:
            raise SiweError("InvalidMessage", f"unexpected line {line!r}")
        idx = order.index(key)
        if idx < pos:
            raise SiweError("InvalidMessage", f"field {key!r} out of order")
        pos = idx + 1
        values[_FIELDS[key]] = value
        i += 1
    for required in ("uri", "version", "chain_id", "nonce", "issued_at"):
        if required not in values:
            raise SiweError("InvalidMessage", f"missing field {required}")
    if values["version"] != "1":
        raise SiweError("InvalidMessage", "Version must be 1")
    if not values["chain_id"].isdigit():
        raise SiweError("InvalidMessage", "Chain ID must be a number")
    if not _NONCE_RE.match(values["nonce"]):
        raise SiweError("InvalidMessage", "Nonce must be at least 8 alphanumeric characters")
    return SiweMessage(domain=m.group("domain"), scheme=m.group("scheme"), address=address, statement=statement,
                       uri=values["uri"], version="1", chain_id=int(values["chain_id"]), nonce=values["nonce"],
                       issued_at=values["issued_at"], expiration_time=values.get("expiration_time"),
                       not_before=values.get("not_before"), request_id=values.get("request_id"),
                       resources=resources)


def recover_signer(message: str, signature: str) -> str:
    try:
        raw = bytes.fromhex(signature.removeprefix("0x"))
        if len(raw) != 65:
            raise ValueError("length")
        return str(Account.recover_message(encode_defunct(text=message), signature=raw))
    except Exception:  # any malformed signature
        raise SiweError("InvalidSignature", "the signature is not a valid 65-byte personal_sign signature") from None


def verify_message(message: str, signature: str, *, domain: str, chain_id: int, uri: Optional[str] = None,
                   now: Optional[float] = None) -> SiweMessage:
    """Every check except the nonce's single use (the caller consumes it). ``domain`` and ``uri``
    are the gateway's configured ones (never taken from the request): the message's URI must be
    ``uri`` or a path under it."""
    msg = parse_message(message)
    now = time.time() if now is None else now
    if msg.domain != domain:
        raise SiweError("DomainMismatch", f"message is for domain {msg.domain!r}, this gateway is {domain!r}")
    if uri is not None:
        base = uri.rstrip("/")
        if msg.uri != uri and msg.uri != base and not msg.uri.startswith(base + "/"):
            raise SiweError("UriMismatch", f"message is for URI {msg.uri!r}, this gateway is {uri!r}")
    if msg.chain_id != chain_id:
        raise SiweError("ChainMismatch", f"message is for chain {msg.chain_id}, this gateway serves chain {chain_id}")
    issued = parse_time(msg.issued_at, "Issued At")
    if issued > now + MAX_SKEW:
        raise SiweError("NotYetValid", "Issued At is in the future")
    if msg.expiration_time is not None and parse_time(msg.expiration_time, "Expiration Time") <= now:
        raise SiweError("Expired", f"the message expired at {msg.expiration_time}")
    if msg.not_before is not None and parse_time(msg.not_before, "Not Before") > now:
        raise SiweError("NotYetValid", f"the message is not valid before {msg.not_before}")
    signer = recover_signer(message, signature)
    if signer != msg.address:
        raise SiweError("InvalidSignature", f"signature is by {signer}, not by {msg.address}")
    return msg


# ---------------------------------------------------------------- nonces (stored, single use)


def issue_nonce(engine: Engine, ttl: int) -> tuple[str, float]:
    nonce = secrets.token_hex(16)
    now = time.time()
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM gateway_auth_nonces WHERE expires_at < :t"), {"t": now - 3600})
        conn.execute(text("INSERT INTO gateway_auth_nonces (nonce, issued_at, expires_at) VALUES (:n, :i, :e)"),
                     {"n": nonce, "i": now, "e": now + ttl})
    return nonce, now + ttl


def consume_nonce(engine: Engine, nonce: str) -> None:
    now = time.time()
    with engine.begin() as conn:
        row = conn.execute(text("SELECT expires_at, used_at FROM gateway_auth_nonces WHERE nonce = :n"),
                           {"n": nonce}).first()
        if row is None:
            raise SiweError("UnknownNonce", "the nonce was not issued by this gateway")
        if row[1] is not None:
            raise SiweError("NonceUsed", "the nonce was already used")
        if row[0] < now:
            raise SiweError("NonceExpired", "the nonce expired: ask for a new one")
        done = conn.execute(text("UPDATE gateway_auth_nonces SET used_at = :t WHERE nonce = :n AND used_at IS NULL"),
                            {"t": now, "n": nonce})
        if done.rowcount != 1:
            raise SiweError("NonceUsed", "the nonce was already used")


# ---------------------------------------------------------------- revoked sessions (logout)


def revoke_session(engine: Engine, session: SessionToken) -> None:
    """Record the session's id as revoked until it would have expired (table revoked_sessions,
    shared by every gateway process over the database). Idempotent."""
    now = time.time()
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM revoked_sessions WHERE expires_at < :t"), {"t": int(now) - 60})
        exists = conn.execute(text("SELECT 1 FROM revoked_sessions WHERE sid = :s"), {"s": session.sid}).first()
        if exists is None:
            conn.execute(text("INSERT INTO revoked_sessions (sid, address, expires_at, revoked_at) "
                              "VALUES (:s, :a, :e, :r)"),
                         {"s": session.sid, "a": session.address.lower(), "e": session.expires_at, "r": now})


def is_revoked(engine: Engine, session: SessionToken) -> bool:
    with engine.connect() as conn:
        return conn.execute(text("SELECT 1 FROM revoked_sessions WHERE sid = :s"), {"s": session.sid}).first() is not None


# ---------------------------------------------------------------- session tokens


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text_: str) -> bytes:
    return base64.urlsafe_b64decode(text_ + "=" * (-len(text_) % 4))


@dataclass(frozen=True)
class SessionToken:
    address: str
    issued_at: int
    expires_at: int
    sid: str


def make_token(secret: bytes, address: str, ttl: int, now: Optional[float] = None) -> tuple[str, SessionToken]:
    now = int(time.time() if now is None else now)
    tok = SessionToken(Web3.to_checksum_address(address), now, now + ttl, secrets.token_hex(8))
    payload = json.dumps({"sub": tok.address, "iat": tok.issued_at, "exp": tok.expires_at, "sid": tok.sid},
                         separators=(",", ":"), sort_keys=True).encode()
    mac = hmac.new(secret, payload, hashlib.sha256).digest()
    return f"{_b64(payload)}.{_b64(mac)}", tok


def read_token(secret: bytes, token: str, now: Optional[float] = None) -> Optional[SessionToken]:
    """The session of a valid, unexpired token; None otherwise."""
    try:
        payload_b64, mac_b64 = token.split(".", 1)
        payload = _unb64(payload_b64)
        if not hmac.compare_digest(hmac.new(secret, payload, hashlib.sha256).digest(), _unb64(mac_b64)):
            return None
        data = json.loads(payload)
        tok = SessionToken(str(data["sub"]), int(data["iat"]), int(data["exp"]), str(data["sid"]))
    except Exception:  # any malformed token is no token
        return None
    if tok.expires_at <= (time.time() if now is None else now):
        return None
    return tok
