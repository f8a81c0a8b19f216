"""The indexer's JSON-RPC names, kept for importers: the client is ledger.rpc's (the project's one
JSON-RPC client). New code imports from ledger.rpc."""

from __future__ import annotations

from ledger.rpc import RANGE_TOO_LARGE, NodeUnavailable, RpcClient, RpcError

#: the indexer's historical name of the client
Rpc = RpcClient

__all__ = ["RANGE_TOO_LARGE", "NodeUnavailable", "Rpc", "RpcClient", "RpcError"]
