"""Translation hooks for the wallet pages: ``gateway.web.i18n`` when present (the "pages" slice),
else pass-through ``_`` / ``N_`` (English msgids), so every string is already marked."""

from __future__ import annotations

import importlib
from typing import Callable


def N_(text: str) -> str:
    """Mark ``text`` for extraction; translated at render time."""
    return text


def _passthrough(text: str) -> str:
    return text


def translator() -> Callable[[str], str]:
    """The runtime ``_`` of gateway.web.i18n if that module exists, else the identity."""
    try:
        module = importlib.import_module("gateway.web.i18n")
    except ImportError:
        return _passthrough
    fn = getattr(module, "_", None)
    return fn if callable(fn) else _passthrough


def _(text: str) -> str:
    return translator()(text)
