"""The project's one JSON-RPC client: the indexer, the verifier, the gateway's tx status and the
CLI's chain-id check all use :class:`RpcClient`.

- single calls (:meth:`RpcClient.call`) and batches (:meth:`RpcClient.batch`, chunked; and
  :meth:`RpcClient.try_batch`, whose items may fail on their own, e.g. a reverted ``eth_call``);
- one keep-alive HTTP connection (httpx), a timeout per request, and retries with exponential
  backoff when the node does not answer (``retries``; off by default: the indexer's sync loop
  retries whole rounds itself);
- errors mapped to two exceptions: :class:`NodeUnavailable` (no answer: connection refused or
  reset, HTTP 5xx, not JSON) and :class:`RpcError` (the node answered with an error, including a
  timeout, which nodes use for too-large ``eth_getLogs`` ranges: :attr:`RpcError.range_too_large`);
- hex left as the node sends it (web3's result formatters cost more than the indexer's whole
  decode);
- counters for reports and benchmarks: ``calls`` (JSON-RPC calls), ``requests`` (HTTP requests)
  and ``timings`` (seconds per phase; callers name the phase of each call and may add their own).

The SDK's contract calls and transactions still go through web3.py's HTTP provider (ABI encoding,
signing, receipts); this client is for raw node access.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Optional

import httpx
import msgspec
import orjson

#: a JSON-RPC call: (method, params)
Call = tuple[str, Sequence[Any]]

#: Messages nodes use when an eth_getLogs range is too large (geth, Besu, Erigon, Nethermind,
#: hosted providers); callers halve the range and retry.
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

#: JSON-RPC "method not found"
METHOD_NOT_FOUND = -32601


class RpcError(RuntimeError):
    """The node answered a call with an error (or timed out on it)."""

    def __init__(self, method: str, code: Optional[int], message: str, data: Any = None) -> None:
        super().__init__(f"{method}: {message} (code {code})")
        self.method = method
        self.code = code
        self.message = message
        self.data = data

    @property
    def range_too_large(self) -> bool:
        text = self.message.lower()
        return any(marker in text for marker in RANGE_TOO_LARGE)

    @property
    def method_missing(self) -> bool:
        """The node lacks the method (JSON-RPC -32601, or its usual wording)."""
        text = self.message.lower()
        return self.code == METHOD_NOT_FOUND or "method not found" in text or "does not exist" in text \
            or "not supported" in text

    @classmethod
    def from_reply(cls, method: str, error: Any) -> RpcError:
        if isinstance(error, dict):
            code = error.get("code")
            return cls(method, code if isinstance(code, int) else None, str(error.get("message", error)),
                       error.get("data"))
        return cls(method, None, str(error))


class NodeUnavailable(RuntimeError):
    """The node did not answer (connection refused, reset, an HTTP error, a reply that is not JSON)."""


#: one reusable decoder (to plain dicts and lists)
_JSON = msgspec.json.Decoder()


def loads(content: bytes) -> Any:
    """JSON with msgspec: the same dicts, lists, strings and numbers as ``json.loads`` (integers of
    any size stay exact), in about 60% of orjson's time on eth_getLogs answers (15.7 MB with
    19,000 logs: 27 ms against 45 ms), which the indexer parses by the hundred megabytes."""
    return _JSON.decode(content)


def _read_at_most(response: httpx.Response, max_bytes: int, what: str) -> bytes:
    """The body of ``response``, or :class:`RpcError` ("response size ...", so ``range_too_large``)
    as soon as it is longer than ``max_bytes``: a declared length is checked before reading, a
    streamed body after each chunk, and the rest is never read (the connection is dropped)."""
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise RpcError(what, None, f"response size {int(declared)} bytes, over the limit of {max_bytes}")
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise RpcError(what, None, f"response size over the limit of {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


class RpcClient:
    """JSON-RPC over HTTP to ``url``. ``timeout``: seconds per HTTP request; ``retries``: extra
    attempts when the node does not answer (:class:`NodeUnavailable`), after ``backoff`` seconds
    doubling up to ``max_backoff``; ``batch_size``: calls per HTTP request in :meth:`batch`."""

    def __init__(self, url: str, timeout: float = 60.0, *, retries: int = 0, backoff: float = 0.2,
                 max_backoff: float = 5.0, batch_size: int = 500, client: Optional[httpx.Client] = None) -> None:
        self.url = url
        self.timeout = timeout
        self.retries = max(0, int(retries))
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.batch_size = max(1, int(batch_size))
        self._ids = itertools.count(1)
        self._own_client = client is None
        #: the HTTP connection (shared by a client built with ``client=``)
        self.http = client or httpx.Client(timeout=timeout, headers={"content-type": "application/json"})
        self.calls = 0
        self.requests = 0
        self.retried = 0
        self.timings: dict[str, float] = {}

    def close(self) -> None:
        if self._own_client:
            self.http.close()

    def __enter__(self) -> RpcClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ transport

    @contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        """Add the wall time of the ``with`` body to ``timings[phase]``."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timings[phase] = self.timings.get(phase, 0.0) + time.perf_counter() - t0

    def _post_once(self, payload: Any, what: str, max_bytes: Optional[int] = None,
                   parse: Optional[Callable[[bytes], Any]] = None) -> Any:
        # The body is read from the stream into a local (not ``response.content``): httpx's
        # Response sits in a reference cycle (with httpcore's pool objects), so the bytes it kept
        # would live until the next cyclic collection, which a backfill pauses (an eth_getLogs
        # answer is megabytes: memory then grew with the length of the chain).
        try:
            with self.http.stream("POST", self.url, content=orjson.dumps(payload)) as response:
                status = response.status_code
                if max_bytes is None:
                    body = b"".join(response.iter_bytes())
                else:
                    body = _read_at_most(response, max_bytes, what)
        except httpx.TimeoutException as exc:
            raise RpcError(what, None, f"timeout: {exc}") from exc
        except httpx.HTTPError as exc:
            raise NodeUnavailable(f"{self.url}: {exc}") from exc
        finally:
            self.requests += 1
        if status != 200:
            text = body[:300].decode("utf-8", errors="replace")
            if status in (413, 429) or "limit" in text.lower():
                raise RpcError("http", status, text)
            raise NodeUnavailable(f"{self.url}: HTTP {status}: {text}")
        try:
            return (parse or loads)(body)
        except ValueError:
            raise NodeUnavailable(f"{self.url}: the answer is not JSON: "
                                  f"{body[:100].decode('utf-8', errors='replace')!r}") from None

    def post(self, payload: Any, max_bytes: Optional[int] = None,
             parse: Optional[Callable[[bytes], Any]] = None) -> Any:
        """One JSON-RPC request body (a call or a batch) -> the decoded reply, retried per ``retries``.
        ``max_bytes``: an answer longer than this is not read on (:func:`_read_at_most`); ``parse``:
        the reply body's parser (default :func:`loads`; a ValueError means "not JSON")."""
        what = payload["method"] if isinstance(payload, dict) else "batch"
        delay = self.backoff
        for attempt in itertools.count():
            try:
                return self._post_once(payload, what, max_bytes, parse)
            except NodeUnavailable:
                if attempt >= self.retries:
                    raise
                self.retried += 1
                time.sleep(delay)
                delay = min(delay * 2, self.max_backoff)
        raise AssertionError("unreachable")  # pragma: no cover

    # ------------------------------------------------------------ calls

    def call(self, method: str, params: Sequence[Any] = (), phase: str = "rpc",
             max_bytes: Optional[int] = None, parse: Optional[Callable[[bytes], Any]] = None) -> Any:
        """The result of one call; :class:`RpcError` when the node answers with an error, or with
        more than ``max_bytes`` bytes (when given). ``parse``: see :meth:`post`."""
        with self.timed(phase):
            self.calls += 1
            reply = self.post({"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)},
                              max_bytes, parse)
        if not isinstance(reply, dict):
            raise RpcError(method, None, f"not a JSON-RPC reply: {str(reply)[:100]}")
        if "error" in reply:
            raise RpcError.from_reply(method, reply["error"])
        return reply.get("result")

    def _batch_once(self, calls: Sequence[Call]) -> list[tuple[bool, Any]]:
        first = next(self._ids)
        for _ in range(len(calls) - 1):
            next(self._ids)
        payload = [{"jsonrpc": "2.0", "id": first + i, "method": m, "params": list(p)} for i, (m, p) in enumerate(calls)]
        self.calls += len(calls)
        replies = self.post(payload)
        if isinstance(replies, dict):  # a node that rejects batches answers with one error
            raise RpcError.from_reply("batch", replies.get("error", replies))
        if not isinstance(replies, list):
            raise RpcError("batch", None, f"not a JSON-RPC batch reply: {str(replies)[:100]}")
        by_id = {r.get("id"): r for r in replies if isinstance(r, dict)}
        out: list[tuple[bool, Any]] = []
        for i in range(len(calls)):
            reply = by_id.get(first + i)
            if reply is None:
                out.append((False, {"message": "missing reply in batch"}))
            elif "error" in reply:
                out.append((False, reply["error"]))
            else:
                out.append((True, reply.get("result")))
        return out

    def try_batch(self, calls: Iterable[Call], phase: str = "rpc") -> list[tuple[bool, Any]]:
        """One batch (chunked by ``batch_size``) whose items may fail on their own: (ok, result or error)."""
        calls = list(calls)
        out: list[tuple[bool, Any]] = []
        with self.timed(phase):
            for i in range(0, len(calls), self.batch_size):
                out.extend(self._batch_once(calls[i : i + self.batch_size]))
        return out

    def batch(self, calls: Iterable[Call], phase: str = "rpc") -> list[Any]:
        """The results of ``calls`` in order (chunked by ``batch_size``); :class:`RpcError` for the
        first item the node answered with an error."""
        calls = list(calls)
        out: list[Any] = []
        for (method, _), (ok, value) in zip(calls, self.try_batch(calls, phase)):
            if not ok:
                raise RpcError.from_reply(method, value)
            out.append(value)
        return out

    # ------------------------------------------------------------ eth helpers

    def chain_id(self) -> int:
        return int(self.call("eth_chainId"), 16)

    def block_number(self) -> int:
        return int(self.call("eth_blockNumber"), 16)

    def get_logs(self, addresses: list[str], from_block: int, to_block: int,
                 topics: Optional[Sequence[Any]] = None, max_bytes: Optional[int] = None,
                 parse: Optional[Callable[[bytes], Any]] = None) -> Any:
        """The logs of ``[from_block, to_block]`` (a list of dicts, or what ``parse`` makes of the
        reply's ``result``: see :meth:`post`). ``max_bytes``: a longer answer is not read on and
        raises :class:`RpcError` with ``range_too_large`` set (the caller halves the range)."""
        query: dict[str, Any] = {"address": addresses, "fromBlock": hex(from_block), "toBlock": hex(to_block)}
        if topics is not None:
            query["topics"] = list(topics)
        result = self.call("eth_getLogs", [query], max_bytes=max_bytes, parse=parse)
        return result or []

    def header(self, number: int | str) -> Optional[dict[str, Any]]:
        """A block header (without transactions) by number or tag; None for a block the node lacks."""
        tag = hex(number) if isinstance(number, int) else number
        result: Optional[dict[str, Any]] = self.call("eth_getBlockByNumber", [tag, False])
        return result

    def headers(self, numbers: Iterable[int], phase: str = "rpc") -> dict[int, Optional[dict[str, Any]]]:
        """Block headers (without transactions) by number; None for a block the node lacks."""
        nums = sorted(set(numbers))
        return dict(zip(nums, self.batch([("eth_getBlockByNumber", [hex(n), False]) for n in nums], phase)))

    def block_receipts(self, numbers: Iterable[int], phase: str = "rpc") -> dict[int, Optional[list[dict[str, Any]]]]:
        """All receipts of each block (``eth_getBlockReceipts``); None for a block the node lacks."""
        nums = sorted(set(numbers))
        return dict(zip(nums, self.batch([("eth_getBlockReceipts", [hex(n)]) for n in nums], phase)))
