"""Minimal JSON-RPC client for the indexer: one keep-alive HTTP connection, batch requests,
hex left as the node sends it (web3's result formatters cost more than the whole decode)."""

from __future__ import annotations

import itertools
import json
from types import ModuleType
from typing import Any, Iterable, Optional, Sequence, cast

import httpx

from gateway.indexer.decode import loads

_orjson: Optional[ModuleType]
try:
    import orjson as _orjson
except ImportError:  # pragma: no cover
    _orjson = None

#: Messages nodes use when an eth_getLogs range is too large (geth, Besu, Erigon, Nethermind,
#: hosted providers); the sync loop halves the range and retries.
RANGE_TOO_LARGE = (
    "too many results",
    "query returned more than",
    "exceed",  # "exceeds max results", "block range exceeded"
    "block range",
    "range too large",
    "limit",
    "response size",
    "timeout",
    "timed out",
)


class RpcError(RuntimeError):
    def __init__(self, method: str, code: Optional[int], message: str) -> None:
        super().__init__(f"{method}: {message} (code {code})")
        self.method = method
        self.code = code
        self.message = message

    @property
    def range_too_large(self) -> bool:
        text = self.message.lower()
        return any(marker in text for marker in RANGE_TOO_LARGE)


class NodeUnavailable(RuntimeError):
    """The node did not answer (connection refused, reset, or an HTTP error)."""


def _dumps(payload: Any) -> bytes:
    if _orjson is not None:
        return cast(bytes, _orjson.dumps(payload))
    return json.dumps(payload).encode()


class Rpc:
    def __init__(self, url: str, timeout: float = 60.0) -> None:
        self.url = url
        self.timeout = timeout
        self._ids = itertools.count(1)
        self._client = httpx.Client(timeout=timeout, headers={"content-type": "application/json"})

    def close(self) -> None:
        self._client.close()

    def _post(self, payload: Any) -> Any:
        try:
            response = self._client.post(self.url, content=_dumps(payload))
        except httpx.TimeoutException as exc:
            raise RpcError(payload["method"] if isinstance(payload, dict) else "batch", None,
                           f"timeout: {exc}") from exc
        except httpx.HTTPError as exc:
            raise NodeUnavailable(f"{self.url}: {exc}") from exc
        if response.status_code != 200:
            body = response.text[:300]
            if response.status_code in (413, 429) or "limit" in body.lower():
                raise RpcError("http", response.status_code, body)
            raise NodeUnavailable(f"{self.url}: HTTP {response.status_code}: {body}")
        return loads(response.content)

    def call(self, method: str, params: Sequence[Any] = ()) -> Any:
        reply = self._post({"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)})
        if "error" in reply:
            err = reply["error"]
            raise RpcError(method, err.get("code"), str(err.get("message", err)))
        return reply.get("result")

    def batch(self, calls: Iterable[tuple[str, Sequence[Any]]]) -> list[Any]:
        calls = list(calls)
        if not calls:
            return []
        first = next(self._ids)
        payload = [{"jsonrpc": "2.0", "id": first + i, "method": m, "params": list(p)} for i, (m, p) in enumerate(calls)]
        for _ in range(len(calls) - 1):
            next(self._ids)
        replies = self._post(payload)
        if isinstance(replies, dict):  # a node that rejects batches answers with one error
            err = replies.get("error", {})
            raise RpcError("batch", err.get("code"), str(err.get("message", replies)))
        by_id = {r.get("id"): r for r in replies}
        out = []
        for i, (method, _) in enumerate(calls):
            reply = by_id.get(first + i)
            if reply is None:
                raise RpcError(method, None, "missing reply in batch")
            if "error" in reply:
                err = reply["error"]
                raise RpcError(method, err.get("code"), str(err.get("message", err)))
            out.append(reply.get("result"))
        return out

    # -- eth helpers
    def chain_id(self) -> int:
        return int(self.call("eth_chainId"), 16)

    def block_number(self) -> int:
        return int(self.call("eth_blockNumber"), 16)

    def get_logs(self, addresses: list[str], from_block: int, to_block: int) -> list[dict[str, Any]]:
        result = self.call("eth_getLogs", [{"address": addresses, "fromBlock": hex(from_block),
                                            "toBlock": hex(to_block)}])
        return result or []

    def headers(self, numbers: Iterable[int], chunk: int = 500) -> dict[int, Optional[dict[str, Any]]]:
        """Block headers (without transactions) by number; None for a block the node lacks."""
        numbers = sorted(set(numbers))
        out: dict[int, Optional[dict[str, Any]]] = {}
        for i in range(0, len(numbers), chunk):
            part = numbers[i : i + chunk]
            for n, header in zip(part, self.batch(("eth_getBlockByNumber", [hex(n), False]) for n in part)):
                out[n] = header
        return out

    def header(self, number: int) -> Optional[dict[str, Any]]:
        result: Optional[dict[str, Any]] = self.call("eth_getBlockByNumber", [hex(number), False])
        return result
