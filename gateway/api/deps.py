"""Shared FastAPI dependencies (Annotated style)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from web3 import Web3

from gateway.core.config import Settings, get_settings

SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_web3(request: Request) -> Web3:
    w3: Web3 = request.app.state.web3
    return w3


Web3Dep = Annotated[Web3, Depends(get_web3)]
