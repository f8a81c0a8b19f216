"""Chinese script: the profiles and manifests hold names and titles in 简体 (Simplified); the 繁體
pages (zh_Hant: Hong Kong, Macao) show them in Traditional characters, converted at render time by
OpenCC's dictionaries (``opencc-purepy``: pure Python, offline, its dictionaries in the wheel).

- ``to_hant``: 简体 -> 繁體 (OpenCC ``s2hk``, the Hong Kong standard): 广州 -> 廣州, 数据 -> 數據; text
  that is already Traditional, Latin or digits comes back unchanged. A document that carries its own
  Traditional name (``legal_name.zh_hant`` in a profile, a ``zh-Hant`` / ``zh-HK`` / ``zh-TW``
  translation in a manifest) is preferred over the conversion (gateway.services.legible).
- ``to_hans``: 繁體 -> 简体 (``t2s``), so a search typed in Traditional (廣州) finds the 简体 names.
- Both are memoised (the converters load once per process, ~0.2 s; results are cached per string).
  The original text stays on the page on hover (``title``) where a name was converted.
"""

from __future__ import annotations

from functools import cache, lru_cache
from typing import Any, Optional

#: OpenCC configurations
HANT = "s2hk"
HANS = "t2s"


@cache
def _converter(config: str) -> Any:
    from opencc_purepy import OpenCC

    return OpenCC(config)


def _has_han(text: str) -> bool:
    return any("\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" for ch in text)


@lru_cache(maxsize=8192)
def to_hant(text: str) -> str:
    """``text`` in Traditional characters (unchanged if it has no Han characters)."""
    if not text or not _has_han(text):
        return text
    return str(_converter(HANT).convert(text))


@lru_cache(maxsize=8192)
def to_hans(text: str) -> str:
    """``text`` in Simplified characters (unchanged if it has no Han characters)."""
    if not text or not _has_han(text):
        return text
    return str(_converter(HANS).convert(text))


def for_locale(text: Optional[str], locale: str) -> Optional[str]:
    """``text`` as the page in ``locale`` shows it: converted to Traditional on zh_Hant pages only."""
    if text is None or locale != "zh_Hant":
        return text
    return to_hant(text)


def variants(q: str) -> list[str]:
    """A search query and its other script (simplified first), without duplicates."""
    out = [q]
    for v in (to_hans(q), to_hant(q)):
        if v not in out:
            out.append(v)
    return out
