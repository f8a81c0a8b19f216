"""Organisation profiles: the document whose CID the registrar records on chain
(``ParticipantRegistry.setOrganisationProfile``).

A profile is canonical JSON (sorted keys, no whitespace, UTF-8):

```json
{"schema": "dataledger/organisation-profile/v1",
 "legal_name": {"zh": "佛山精密制造有限公司", "en": "Foshan Precision Manufacturing Ltd."},
 "short_name": {"zh": "佛山精密", "en": "Foshan Precision"},
 "credit_code": "91440604MA4W00008H", "jurisdiction": "CN", "city": "Foshan",
 "licences": [{"kind": "data-broker", "number": "...", "issuer": "...", "valid_until": "2027-06-30"}]}
```

``credit_code`` is the unified social credit code (统一社会信用代码) or the registry number of a
non-mainland organisation; the organisation id on chain is its sha-256 (see ``org_id``).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

PROFILE_SCHEMA = "dataledger/organisation-profile/v1"


class ProfileError(ValueError):
    """The bytes are not an organisation profile."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Names(_Model):
    zh: str | None = None
    en: str | None = None
    #: optional: the Chinese name in Traditional characters as the organisation writes it (the 繁體 pages
    #: prefer it to converting ``zh``); absent from a profile's bytes when not given
    zh_hant: str | None = None


class Licence(_Model):
    kind: str = Field(min_length=1)
    number: str | None = None
    issuer: str | None = None
    valid_until: str | None = None


class OrganisationProfile(_Model):
    schema_: str = Field(default=PROFILE_SCHEMA, alias="schema")
    legal_name: Names
    short_name: Names | None = None
    credit_code: str = Field(min_length=1, max_length=64)
    jurisdiction: str = Field(pattern=r"^[A-Z]{2}$")
    city: str | None = None
    sector: str | None = None
    licences: list[Licence] = Field(default_factory=list)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def org_id(credit_code: str) -> bytes:
    """The organisation id the registry uses: sha-256 of the credit code."""
    return hashlib.sha256(credit_code.encode()).digest()


def profile_bytes(profile: OrganisationProfile) -> bytes:
    """The canonical bytes (what is added to IPFS)."""
    obj = profile.model_dump(by_alias=True, exclude_none=True, mode="json")
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def parse_profile(data: bytes) -> OrganisationProfile:
    try:
        obj: Any = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProfileError(f"profile is not UTF-8 JSON: {exc}") from None
    if not isinstance(obj, dict) or obj.get("schema") != PROFILE_SCHEMA:
        raise ProfileError(f"not a {PROFILE_SCHEMA} document")
    try:
        profile = OrganisationProfile.model_validate(obj)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise ProfileError(f"invalid profile: {where}: {first.get('msg')}") from None
    if not (profile.legal_name.zh or profile.legal_name.en):
        raise ProfileError("invalid profile: legal_name needs zh or en")
    return profile
