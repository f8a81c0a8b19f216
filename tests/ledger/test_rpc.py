"""ledger.rpc.RpcClient, the project's one JSON-RPC client, against a real anvil and against real
loopback HTTP servers that misbehave (refuse, hang, answer 500, answer non-JSON, drop batch items)."""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ledger.rpc import NodeUnavailable, RpcClient, RpcError, loads


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Server:
    """A loopback HTTP server whose POST answer is ``handler(body) -> (status, bytes)``."""

    def __init__(self, handler: Callable[[bytes], tuple[int, bytes]]) -> None:
        self.posts = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # the stdlib's name
                outer.posts += 1
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                status, reply = handler(body)
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[bytes], tuple[int, bytes]]], _Server]]:
    servers: list[_Server] = []

    def start(handler: Callable[[bytes], tuple[int, bytes]]) -> _Server:
        servers.append(_Server(handler))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def test_calls_batches_and_counters_against_anvil(anvil: Any) -> None:
    with RpcClient(anvil.rpc_url, timeout=10, batch_size=3) as rpc:
        assert rpc.chain_id() == 31337
        head = rpc.block_number()
        assert head >= 0
        header = rpc.header(head)
        assert header is not None and int(header["number"], 16) == head
        assert rpc.header(head + 10_000) is None  # a block the node lacks
        assert rpc.calls == 4 and rpc.requests == 4
        numbers = list(range(0, head + 1))[:7]
        headers = rpc.headers(numbers, phase="headers")
        assert sorted(headers) == numbers and all(h is not None for h in headers.values())
        # 7 calls in chunks of 3: 3 HTTP requests
        assert rpc.calls == 4 + len(numbers) and rpc.requests == 4 + -(-len(numbers) // 3)
        assert rpc.timings["headers"] > 0 and rpc.timings["rpc"] > 0
        receipts = rpc.block_receipts([0])
        assert receipts[0] == []  # anvil's genesis has no transactions
        assert rpc.get_logs([], 0, 0) == []


def test_errors_map_to_rpc_error_per_item(anvil: Any) -> None:
    with RpcClient(anvil.rpc_url, timeout=10) as rpc:
        with pytest.raises(RpcError) as missing:
            rpc.call("no_suchMethod", [])
        assert missing.value.method == "no_suchMethod" and missing.value.method_missing
        assert missing.value.code == -32601
        with pytest.raises(RpcError) as bad:
            rpc.call("eth_getBlockByNumber", ["not a block", False])
        assert not bad.value.method_missing
        # a batch: each item succeeds or fails on its own with try_batch; batch() raises on the first failure
        replies = rpc.try_batch([("eth_chainId", []), ("no_suchMethod", []), ("eth_blockNumber", [])])
        assert [ok for ok, _ in replies] == [True, False, True]
        assert replies[1][1]["code"] == -32601
        with pytest.raises(RpcError) as first_failure:
            rpc.batch([("eth_chainId", []), ("no_suchMethod", [])])
        assert first_failure.value.method == "no_suchMethod"
        assert rpc.try_batch([]) == [] and rpc.batch([]) == []


def test_range_too_large_markers() -> None:
    assert RpcError("eth_getLogs", -32602, "exceed maximum block range: 8").range_too_large
    assert RpcError("eth_getLogs", -32005, "query returned more than 10000 results").range_too_large
    assert RpcError("batch", None, "timeout: read timed out").range_too_large
    assert not RpcError("eth_getLogs", -32602, "invalid argument 0: hex string without 0x prefix").range_too_large


def test_refused_connection_is_node_unavailable_after_retries() -> None:
    url = f"http://127.0.0.1:{_free_port()}"  # nothing listens there
    rpc = RpcClient(url, timeout=2, retries=2, backoff=0.05)
    t0 = time.perf_counter()
    with pytest.raises(NodeUnavailable):
        rpc.call("eth_chainId")
    assert rpc.retried == 2 and rpc.requests == 3
    assert time.perf_counter() - t0 >= 0.05 + 0.1  # backoff doubled between attempts
    no_retry = RpcClient(url, timeout=2)
    with pytest.raises(NodeUnavailable):
        no_retry.call("eth_chainId")
    assert no_retry.retried == 0 and no_retry.requests == 1


def test_retry_recovers_when_the_node_comes_back(serve: Any) -> None:
    answers = iter([(502, b"bad gateway"), (503, b"unavailable"), (200, b'{"jsonrpc":"2.0","id":1,"result":"0x7a69"}')])
    server = serve(lambda body: next(answers))
    rpc = RpcClient(server.url, timeout=2, retries=3, backoff=0.01)
    assert rpc.chain_id() == 31337
    assert server.posts == 3 and rpc.retried == 2


def test_http_errors_and_bad_bodies(serve: Any) -> None:
    s500 = serve(lambda body: (500, b"internal error"))
    with pytest.raises(NodeUnavailable, match="HTTP 500"):
        RpcClient(s500.url, timeout=2).call("eth_chainId")
    s429 = serve(lambda body: (429, b"rate limit exceeded"))
    with pytest.raises(RpcError) as limited:
        RpcClient(s429.url, timeout=2).call("eth_chainId")
    assert limited.value.code == 429 and limited.value.range_too_large  # callers shrink their ranges
    text = serve(lambda body: (200, b"<html>not json</html>"))
    with pytest.raises(NodeUnavailable, match="not JSON"):
        RpcClient(text.url, timeout=2).call("eth_chainId")
    scalar = serve(lambda body: (200, b"42"))
    with pytest.raises(RpcError, match="not a JSON-RPC reply"):
        RpcClient(scalar.url, timeout=2).call("eth_chainId")


def test_batch_replies_out_of_order_and_missing(serve: Any) -> None:
    def answer(body: bytes) -> tuple[int, bytes]:
        calls = json.loads(body)
        replies = [{"jsonrpc": "2.0", "id": c["id"], "result": c["method"]} for c in calls[:-1]]
        return 200, json.dumps(list(reversed(replies))).encode()  # reversed, last one dropped

    server = serve(answer)
    rpc = RpcClient(server.url, timeout=2)
    replies = rpc.try_batch([("a", []), ("b", []), ("c", [])])
    assert replies[:2] == [(True, "a"), (True, "b")]
    assert replies[2][0] is False and "missing reply" in replies[2][1]["message"]
    with pytest.raises(RpcError, match="missing reply"):
        rpc.batch([("a", []), ("b", [])])
    rejecting = serve(lambda body: (200, b'{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"batch not supported"}}'))
    with pytest.raises(RpcError, match="batch not supported"):
        RpcClient(rejecting.url, timeout=2).batch([("a", []), ("b", [])])


def test_timeout_is_an_rpc_error_not_a_hang() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts connections, never answers
    try:
        rpc = RpcClient(f"http://127.0.0.1:{listener.getsockname()[1]}", timeout=0.3)
        t0 = time.perf_counter()
        with pytest.raises(RpcError) as exc:
            rpc.call("eth_getLogs", [{}])
        assert time.perf_counter() - t0 < 5
        assert exc.value.range_too_large  # a node timing out on a range: callers halve it
        rpc.close()
    finally:
        listener.close()


def test_quantities_stay_hex_strings() -> None:
    big = "0x" + "f" * 64  # uint256 max: a quantity as the node sends it, decoded by the caller
    assert loads(b'{"result": "%s"}' % big.encode())["result"] == big


def test_shared_connection_keeps_own_counters(anvil: Any) -> None:
    """The verifier's Node over a caller's client: one connection, counters of its own."""
    from gateway.verify import Node

    with RpcClient(anvil.rpc_url, timeout=10) as base:
        base.chain_id()
        node = Node(base)
        assert node.http is base.http
        node.call("eth_blockNumber", [], phase="rpc_head")
        assert node.calls == 1 and base.calls == 1 and "rpc_head" in node.timings
        node.close()  # does not close the caller's connection
        assert base.chain_id() == 31337


def _logs_reply(body: bytes, logs: int = 200) -> bytes:
    request = json.loads(body)
    entry = {"address": "0x" + "ab" * 20, "topics": ["0x" + "cd" * 32], "data": "0x" + "00" * 256,
             "blockNumber": "0x1", "blockHash": "0x" + "ef" * 32, "transactionHash": "0x" + "12" * 32,
             "transactionIndex": "0x0", "logIndex": "0x0", "removed": False}
    return json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": [entry] * logs}).encode()


def test_an_answer_over_max_bytes_is_refused_as_a_range_too_large(serve: Any) -> None:
    server = serve(lambda body: (200, _logs_reply(body)))
    size = len(_logs_reply(b'{"id": 1}'))
    with RpcClient(server.url, timeout=5) as rpc:
        assert len(rpc.get_logs([], 1, 2)) == 200  # no limit: read whole
        assert len(rpc.get_logs([], 1, 2, max_bytes=size)) == 200  # exactly at the limit: read
        with pytest.raises(RpcError) as refused:
            rpc.get_logs([], 1, 2, max_bytes=size - 1)
        assert refused.value.range_too_large and refused.value.method == "eth_getLogs"
        assert "response size" in refused.value.message and str(size - 1) in refused.value.message
        assert rpc.requests == 3
        assert len(rpc.get_logs([], 1, 2, max_bytes=10 * size)) == 200  # the client goes on after a refusal


def test_an_endless_answer_stops_at_max_bytes() -> None:
    """A node (or something in between) that streams an answer without end and without a length:
    the client stops reading at the limit, drops the connection, and says so; it does not hang or
    read on."""
    written = [0]

    class Endless(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # the stdlib's name
            self.rfile.read(int(self.headers.get("content-length", 0)))
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()  # no content-length: the body ends when the connection closes
            chunk = b'{"jsonrpc": "2.0", "id": 1, "result": [' + b'"0x' + b"ab" * 4000 + b'",' * 1
            try:
                while written[0] < 512 * 2**20:
                    self.wfile.write(chunk)
                    written[0] += len(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Endless)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        with RpcClient(f"http://127.0.0.1:{httpd.server_address[1]}", timeout=10) as rpc:
            t0 = time.monotonic()
            with pytest.raises(RpcError) as refused:
                rpc.get_logs([], 1, 2, max_bytes=2**20)
            assert refused.value.range_too_large
            assert time.monotonic() - t0 < 10
        time.sleep(0.2)
        assert written[0] < 64 * 2**20  # the sender was cut off, long before its 512 MiB
    finally:
        httpd.shutdown()
        httpd.server_close()
