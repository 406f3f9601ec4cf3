"""The JSON-RPC 2.0 envelope: every malformed request gets the right error, and nothing breaks."""

from __future__ import annotations

import json

from node.ports import ExecutionFailed, TxRejected
from node.rpc.dispatch import Dispatcher
from node.rpc.methods import EthApi
from tests.rpc.conftest import Rpc
from tests.rpc.fakes import FakeLedger


def test_malformed_json_is_a_parse_error_with_null_id(rpc: Rpc) -> None:
    response = rpc.raw(b'{"jsonrpc": "2.0", "method": "eth_chainId", "id": 1')
    assert response["id"] is None
    assert response["error"]["code"] == -32700
    assert rpc("eth_chainId") == "0x539"


def test_deeply_nested_json_is_refused_before_parsing(rpc: Rpc) -> None:
    import sys

    # py-evm raises the recursion limit to 100,000 in the node; json's C parser then overflows
    # the C stack on deep input instead of raising. The dispatcher must refuse it first.
    assert sys.getrecursionlimit() >= 1000
    error = rpc.raw("[" * 100_000 + "]" * 100_000)["error"]
    assert error["code"] == -32700 and "nested deeper" in error["message"]
    assert (
        rpc.raw('{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}')[
            "error"
        ]["code"]
        == -32600
    )  # brackets inside strings do not count as nesting
    assert rpc("eth_chainId") == "0x539"


def test_invalid_utf8_is_a_parse_error(rpc: Rpc) -> None:
    assert rpc.raw(b"\xff\xfe{}")["error"]["code"] == -32700


def test_request_that_is_not_an_object_is_invalid(rpc: Rpc) -> None:
    response = rpc.raw("42")
    assert response == {"jsonrpc": "2.0", "id": None, "error": response["error"]}
    assert response["error"]["code"] == -32600


def test_missing_jsonrpc_version_is_invalid(rpc: Rpc) -> None:
    response = rpc.raw(json.dumps({"id": 7, "method": "eth_chainId"}))
    assert response["id"] == 7
    assert response["error"]["code"] == -32600
    assert "jsonrpc" in response["error"]["message"]


def test_method_must_be_a_string(rpc: Rpc) -> None:
    response = rpc.raw(json.dumps({"jsonrpc": "2.0", "id": 1, "method": 5}))
    assert response["error"]["code"] == -32600


def test_object_id_is_invalid(rpc: Rpc) -> None:
    response = rpc.raw(json.dumps({"jsonrpc": "2.0", "id": {}, "method": "eth_chainId"}))
    assert response["error"]["code"] == -32600


def test_unknown_method(rpc: Rpc) -> None:
    error = rpc.error("eth_mineGold")
    assert error["code"] == -32601
    assert "eth_mineGold" in error["message"]


def test_params_must_be_an_array(rpc: Rpc) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "eth_getBalance", "params": {"a": 1}}
    assert rpc.raw(json.dumps(body))["error"]["code"] == -32602


def test_too_many_params(rpc: Rpc) -> None:
    error = rpc.error("eth_chainId", 1)
    assert error["code"] == -32602
    assert "too many arguments" in error["message"]


def test_missing_required_param(rpc: Rpc) -> None:
    assert rpc.error("eth_getBalance")["code"] == -32602


def test_notification_gets_no_response(rpc: Rpc) -> None:
    assert rpc.raw(json.dumps({"jsonrpc": "2.0", "method": "eth_chainId"})) is None


def test_batch_answers_each_request_in_order_and_skips_notifications(rpc: Rpc) -> None:
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"},
        {"jsonrpc": "2.0", "method": "eth_chainId"},
        {"jsonrpc": "2.0", "id": 2, "method": "nope"},
        17,
        {"jsonrpc": "2.0", "id": "three", "method": "net_version"},
    ]
    answers = rpc.raw(json.dumps(batch))
    assert [answer["id"] for answer in answers] == [1, 2, None, "three"]
    assert answers[0]["result"] == "0x539"
    assert answers[1]["error"]["code"] == -32601
    assert answers[2]["error"]["code"] == -32600
    assert answers[3]["result"] == "1337"


def test_empty_batch_is_one_invalid_request_error(rpc: Rpc) -> None:
    response = rpc.raw("[]")
    assert isinstance(response, dict)
    assert response["error"]["code"] == -32600


def test_batch_over_the_limit_is_refused_whole(rpc: Rpc) -> None:
    batch = [{"jsonrpc": "2.0", "id": i, "method": "eth_chainId"} for i in range(6)]
    response = rpc.raw(json.dumps(batch))
    assert response["error"]["code"] == -32005
    assert "limit of 5" in response["error"]["message"]


def test_batch_of_notifications_gets_nothing(rpc: Rpc) -> None:
    batch = [{"jsonrpc": "2.0", "method": "eth_chainId"}] * 2
    assert rpc.raw(json.dumps(batch)) is None


def test_unexpected_handler_failure_is_internal_error_without_details(
    api: EthApi, rpc: Rpc
) -> None:
    def broken(params: list[object], session: object) -> object:
        raise KeyError("secret internals")

    api.methods["eth_chainId"] = broken
    error = rpc.error("eth_chainId")
    assert error["code"] == -32603
    assert "secret" not in error["message"]
    assert rpc("net_listening") is True


def test_tx_rejections_use_geths_words(ledger: FakeLedger, rpc: Rpc) -> None:
    ledger.reject_next = TxRejected("nonce-too-low", "next nonce 5, tx nonce 3")
    error = rpc.error("eth_sendRawTransaction", "0x02c0")
    assert error == {"code": -32000, "message": "nonce too low: next nonce 5, tx nonce 3"}
    ledger.reject_next = TxRejected("already-known", "already known")
    assert rpc.error("eth_sendRawTransaction", "0x02c0")["message"] == "already known"


def test_execution_failure_is_server_error(ledger: FakeLedger, rpc: Rpc) -> None:
    def failing(*args: object) -> bytes:
        raise ExecutionFailed("out of gas")

    ledger.call = failing  # type: ignore[method-assign,assignment]
    error = rpc.error("eth_call", {"to": "0x" + "11" * 20})
    assert error == {"code": -32000, "message": "out of gas"}


def test_observer_sees_method_and_error_code(api: EthApi) -> None:
    seen: list[tuple[str, int | None]] = []
    dispatcher = Dispatcher(api, lambda method, code, seconds: seen.append((method, code)))
    dispatcher.handle_bytes(b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}')
    dispatcher.handle_bytes(b'{"jsonrpc":"2.0","id":1,"method":"random_thing"}')
    assert seen == [("eth_chainId", None), ("other", -32601)]


def test_engine_call_failures_use_geths_phrases() -> None:
    from node.rpc.methods import geth_call_failure

    low = geth_call_failure("call cannot run: Invalid transaction nonce: Expected 3, but got 1")
    high = geth_call_failure("Invalid transaction nonce: Expected 0, but got 5")
    assert low == "nonce too low: tx nonce 1, state nonce 3"
    assert high.startswith("nonce too high")
    funds = "Sender does not have enough balance to cover transaction value and gas"
    assert geth_call_failure(funds).startswith("insufficient funds for gas * price + value")
    assert geth_call_failure("Message.gas cannot be negative: Got: -1").startswith(
        "intrinsic gas too low"
    )
    assert geth_call_failure("out of gas") == "out of gas"
