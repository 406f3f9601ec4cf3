"""The dev clock over JSON-RPC on a real embedded node: evm_increaseTime,
evm_setNextBlockTimestamp, evm_mine, sub-second blocks; and -32601 for them on a non-dev node."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from node.devmode import DEV_CHAIN_ID, RunningNode, dev_accounts, init_dev_datadir, start_embedded
from node.ledger import open_ledger
from node.service import BackgroundNode, NodeService, service_options

pytestmark = pytest.mark.realstack


def call(url: str, method: str, *params: Any) -> dict[str, Any]:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
    request = urllib.request.Request(  # noqa: S310
        url, data=body.encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        answer: dict[str, Any] = json.loads(response.read())
    return answer


def result(url: str, method: str, *params: Any) -> Any:
    answer = call(url, method, *params)
    assert "error" not in answer, answer
    return answer["result"]


def latest(url: str) -> dict[str, Any]:
    block: dict[str, Any] = result(url, "eth_getBlockByNumber", "latest", False)
    return block


def wait_receipt(url: str, tx_hash: str, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        receipt = result(url, "eth_getTransactionReceipt", tx_hash)
        if receipt is not None:
            return dict(receipt)
        time.sleep(0.01)  # polling a real node, not timing the code under test
    raise AssertionError(f"no receipt for {tx_hash} within {timeout} s")


def transfer(node: RunningNode, nonce: int) -> str:
    sender = node.dev_accounts[3]
    signed = Account.sign_transaction(
        {
            "type": 2,
            "chainId": DEV_CHAIN_ID,
            "nonce": nonce,
            "to": node.dev_accounts[4].address,
            "value": 1,
            "gas": 21_000,
            "maxFeePerGas": 0,
            "maxPriorityFeePerGas": 0,
        },
        sender.private_key,
    )
    tx_hash: str = result(
        node.http_url, "eth_sendRawTransaction", "0x" + signed.raw_transaction.hex()
    )
    return tx_hash


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    with start_embedded(tmp_path_factory.mktemp("devclock"), block_period=0.05) as running:
        yield running


def test_dev_genesis_uses_milliseconds_for_sub_second_periods(node: RunningNode) -> None:
    qbft = node.service.ledger.chain.genesis.qbft  # type: ignore[attr-defined]
    assert qbft.block_period_milliseconds == 50
    assert node.service.options.block_period == 0.05


def test_sub_second_blocks_share_a_second(node: RunningNode) -> None:
    url = node.http_url
    start_nonce = int(
        result(url, "eth_getTransactionCount", node.dev_accounts[3].address, "latest"), 16
    )
    blocks = []
    for offset in range(12):
        receipt = wait_receipt(url, transfer(node, start_nonce + offset))
        blocks.append(int(receipt["blockNumber"], 16))
    assert blocks == sorted(set(blocks)), "each transaction was sent after the previous was mined"
    stamps = [
        int(result(url, "eth_getBlockByNumber", hex(number), False)["timestamp"], 16)
        for number in blocks
    ]
    assert stamps == sorted(stamps)
    # Twelve sequential blocks in under twelve seconds means some share their parent's second,
    # which only a sub-second period allows.
    assert len(set(stamps)) < len(stamps), stamps


def test_increase_time_moves_the_next_block(node: RunningNode) -> None:
    url = node.http_url
    before = int(latest(url)["timestamp"], 16)
    offset = result(url, "evm_increaseTime", 86_400)
    assert offset >= 86_400
    assert result(url, "evm_increaseTime", "0x0") == offset
    assert result(url, "evm_mine") == "0x0"
    mined = int(latest(url)["timestamp"], 16)
    assert mined >= before + 86_400
    assert mined >= int(time.time()) + offset - 2
    refused = call(url, "evm_increaseTime", -5)["error"]
    assert refused["code"] == -32602 and "forward" in refused["message"]


def test_set_next_block_timestamp_pins_one_block_and_never_goes_back(node: RunningNode) -> None:
    url = node.http_url
    head = latest(url)
    target = int(head["timestamp"], 16) + 30 * 86_400
    assert result(url, "evm_setNextBlockTimestamp", target) is None
    number = int(head["number"], 16)
    result(url, "evm_mine")
    mined = latest(url)
    assert int(mined["number"], 16) == number + 1
    assert int(mined["timestamp"], 16) == target
    assert mined["transactions"] == []
    backwards = call(url, "evm_setNextBlockTimestamp", target - 1)["error"]
    assert backwards["code"] == -32602 and "never goes backwards" in backwards["message"]
    result(url, "evm_mine")
    assert int(latest(url)["timestamp"], 16) >= target


def test_clock_methods_do_not_exist_on_a_non_dev_node(tmp_path: Path) -> None:
    datadir = tmp_path / "plain"
    init_dev_datadir(datadir, dev_accounts(2))
    ledger = open_ledger(datadir)
    options = service_options(ledger.config, http_port=0, ws_port=0)
    assert options.clock_control is False
    background = BackgroundNode(NodeService(ledger, options))
    background.start()
    try:
        url = background.service.http_url
        for method, params in (
            ("evm_increaseTime", [60]),
            ("evm_setNextBlockTimestamp", [2_000_000_000]),
            ("evm_mine", []),
        ):
            error = call(url, method, *params)["error"]
            assert error["code"] == -32601, (method, error)
            assert "does not exist" in error["message"]
        assert result(url, "eth_blockNumber") == "0x0"
    finally:
        background.stop()
