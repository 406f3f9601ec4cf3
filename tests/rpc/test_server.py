"""The HTTP and WebSocket edge on real sockets (over the fake ledger): limits, subscriptions,
metrics, and that the server keeps serving after every bad input."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from node.rpc.methods import RpcLimits
from node.service import BackgroundNode, NodeService, ServiceOptions
from tests.rpc.fakes import EVENT_TOPIC, TARGET, FakeLedger

LIMITS = RpcLimits(max_request_bytes=2048, max_batch=10, max_ws_frame_bytes=2048)


@pytest.fixture
def served(ledger: FakeLedger) -> Iterator[tuple[FakeLedger, NodeService]]:
    options = ServiceOptions(http_port=0, ws_port=0, block_period=3600.0, limits=LIMITS)
    node = BackgroundNode(NodeService(ledger, options))
    node.start()
    try:
        yield ledger, node.service
    finally:
        node.stop()


def post(url: str, body: bytes, path: str = "/") -> tuple[int, Any]:
    request = urllib.request.Request(  # noqa: S310
        url + path, data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def call(url: str, method: str, *params: Any) -> Any:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
    status, answer = post(url, body.encode())
    assert status == 200
    return answer


def ws_call(socket: ClientConnection, method: str, *params: Any) -> Any:
    socket.send(json.dumps({"jsonrpc": "2.0", "id": 9, "method": method, "params": list(params)}))
    answer = json.loads(socket.recv(timeout=10))
    assert answer["id"] == 9, answer
    return answer["result"]


def test_http_round_trip_and_batch(served: tuple[FakeLedger, NodeService]) -> None:
    _, service = served
    assert call(service.http_url, "eth_chainId")["result"] == "0x539"
    batch = [{"jsonrpc": "2.0", "id": i, "method": "eth_blockNumber"} for i in range(3)]
    status, answers = post(service.http_url, json.dumps(batch).encode())
    assert status == 200 and [a["result"] for a in answers] == ["0x0"] * 3


def test_oversized_body_is_413_with_json_rpc_error(served: tuple[FakeLedger, NodeService]) -> None:
    _, service = served
    body = json.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": "web3_sha3", "params": ["0x" + "00" * 2000]}
    )
    status, answer = post(service.http_url, body.encode())
    assert status == 413
    assert answer["error"]["code"] == -32005
    assert "2048" in answer["error"]["message"]
    assert call(service.http_url, "eth_chainId")["result"] == "0x539"


def test_malformed_and_wrong_inputs_keep_the_server_serving(
    served: tuple[FakeLedger, NodeService],
) -> None:
    _, service = served
    assert post(service.http_url, b"{not json")[1]["error"]["code"] == -32700
    assert post(service.http_url, b"")[1]["error"]["code"] == -32700
    too_many = [{"jsonrpc": "2.0", "id": i, "method": "eth_chainId"} for i in range(11)]
    assert post(service.http_url, json.dumps(too_many).encode())[1]["error"]["code"] == -32005
    assert call(service.http_url, "eth_getBalance", 12)["error"]["code"] == -32602
    assert call(service.http_url, "no_such_method")["error"]["code"] == -32601
    assert call(service.http_url, "net_listening")["result"] is True


def test_get_without_upgrade_explains_post(served: tuple[FakeLedger, NodeService]) -> None:
    _, service = served
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(service.http_url + "/", timeout=10)  # noqa: S310
    assert caught.value.code == 405
    assert json.loads(caught.value.read())["error"]["code"] == -32600


def test_metrics_count_requests_errors_and_pool(served: tuple[FakeLedger, NodeService]) -> None:
    _, service = served
    call(service.http_url, "eth_chainId")
    call(service.http_url, "eth_sendRawTransaction", "0x0201")
    call(service.http_url, "bogus_method")
    with urllib.request.urlopen(service.http_url + "/metrics", timeout=10) as response:  # noqa: S310
        text = response.read().decode()
        assert response.headers["Content-Type"].startswith("text/plain")
    assert 'mykey_rpc_requests_total{method="eth_chainId"} 1.0' in text
    assert 'mykey_rpc_errors_total{code="-32601",method="other"} 1.0' in text
    assert "mykey_txpool_transactions 1.0" in text
    assert "mykey_head_block_number 0.0" in text
    assert "mykey_block_production_seconds_bucket" in text


def test_websocket_new_heads_and_logs_subscriptions(
    served: tuple[FakeLedger, NodeService],
) -> None:
    ledger, service = served
    with connect(service.ws_url) as socket:
        heads = ws_call(socket, "eth_subscribe", "newHeads")
        logs = ws_call(socket, "eth_subscribe", "logs", {"address": "0x" + TARGET.hex()})
        other = ws_call(socket, "eth_subscribe", "logs", {"address": "0x" + "99" * 20})
        assert len({heads, logs, other}) == 3
        tx_hash = ws_call(socket, "eth_sendRawTransaction", "0x02aa")
        ledger.produce_block(now=1_700_000_000)
        first = json.loads(socket.recv(timeout=10))
        second = json.loads(socket.recv(timeout=10))
        assert first["method"] == "eth_subscription"
        assert first["params"]["subscription"] == heads
        assert first["params"]["result"]["number"] == "0x1"
        assert "transactions" not in first["params"]["result"]
        assert second["params"]["subscription"] == logs
        assert second["params"]["result"]["transactionHash"] == tx_hash
        assert second["params"]["result"]["topics"][0] == "0x" + EVENT_TOPIC.hex()
        assert ws_call(socket, "eth_unsubscribe", heads) is True
        assert ws_call(socket, "eth_unsubscribe", heads) is False
        ledger.submit(b"\x02\xbb")
        ledger.produce_block(now=1_700_000_001)
        third = json.loads(socket.recv(timeout=10))
        assert third["params"]["subscription"] == logs
        assert ws_call(socket, "eth_blockNumber") == "0x2"


def test_websocket_batch_and_errors(served: tuple[FakeLedger, NodeService]) -> None:
    _, service = served
    with connect(service.ws_url) as socket:
        socket.send('[{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}]')
        assert json.loads(socket.recv(timeout=10))[0]["result"] == "0x539"
        socket.send("{oops")
        assert json.loads(socket.recv(timeout=10))["error"]["code"] == -32700
        socket.send(
            json.dumps({"jsonrpc": "2.0", "id": 2, "method": "eth_subscribe", "params": ["bogus"]})
        )
        assert json.loads(socket.recv(timeout=10))["error"]["code"] == -32602


def test_websocket_on_the_http_port(served: tuple[FakeLedger, NodeService]) -> None:
    _, service = served
    with connect(service.http_url.replace("http", "ws")) as socket:
        assert ws_call(socket, "net_version") == "1337"


def test_oversized_websocket_message_closes_only_that_connection(
    served: tuple[FakeLedger, NodeService],
) -> None:
    _, service = served
    with connect(service.ws_url) as healthy, connect(service.ws_url) as greedy:
        greedy.send(
            json.dumps(
                {"jsonrpc": "2.0", "id": 1, "method": "web3_sha3", "params": ["0x" + "00" * 4096]}
            )
        )
        with pytest.raises(ConnectionClosed) as closed:
            greedy.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
        assert ws_call(healthy, "eth_chainId") == "0x539"
    assert call(service.http_url, "eth_chainId")["result"] == "0x539"


def test_stop_closes_the_ledger(ledger: FakeLedger) -> None:
    node = BackgroundNode(NodeService(ledger, ServiceOptions(http_port=0, ws_port=0)))
    node.start()
    url = node.service.http_url
    node.stop()
    assert ledger.closed is True
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url, timeout=2)  # noqa: S310


def test_websocket_pending_transaction_subscription(
    served: tuple[FakeLedger, NodeService],
) -> None:
    _, service = served
    with connect(service.ws_url) as socket:
        pending = ws_call(socket, "eth_subscribe", "newPendingTransactions")
        request = {"jsonrpc": "2.0", "id": 5, "method": "eth_sendRawTransaction"}
        socket.send(json.dumps({**request, "params": ["0x02cc"]}))
        # The notification may arrive before or after the reply, as with geth.
        messages = [json.loads(socket.recv(timeout=10)) for _ in range(2)]
        reply = next(message for message in messages if message.get("id") == 5)
        note = next(message for message in messages if "method" in message)
        assert note["params"] == {"subscription": pending, "result": reply["result"]}
