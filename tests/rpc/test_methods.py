"""The eth_/net_/web3_/qbft_ handlers over a fake ledger: shapes, tags, parameters, errors."""

from __future__ import annotations

from eth_hash.auto import keccak

from node.rpc.methods import EthApi, next_base_fee, revert_message
from tests.rpc.conftest import FakeClock, Rpc
from tests.rpc.fakes import (
    EVENT_TOPIC,
    REVERT_MARKER,
    SENDER,
    TARGET,
    VALIDATOR,
    FakeLedger,
    error_string,
)

SENDER_HEX = "0x" + SENDER.hex()
TARGET_HEX = "0x" + TARGET.hex()


def mine(ledger: FakeLedger, rpc: Rpc, count: int = 1) -> list[str]:
    start = len(ledger.receipts) + len(ledger.pending)
    hashes = [rpc("eth_sendRawTransaction", f"0x02{start + i:04x}") for i in range(count)]
    ledger.produce_block(now=1_700_000_000)
    return hashes


def test_chain_facts(rpc: Rpc) -> None:
    assert rpc("eth_chainId") == "0x539"
    assert rpc("net_version") == "1337"
    assert rpc("eth_blockNumber") == "0x0"
    assert rpc("eth_syncing") is False
    assert rpc("eth_accounts") == []
    assert rpc("net_listening") is True
    assert rpc("net_peerCount") == "0x0"
    assert rpc("web3_clientVersion").startswith("mykey-ledger/v")


def test_web3_sha3_known_vector(rpc: Rpc) -> None:
    assert (
        rpc("web3_sha3", "0x")
        == "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    )
    assert rpc("web3_sha3", "0x68656c6c6f20776f726c64") == "0x" + keccak(b"hello world").hex()


def test_balance_code_storage_and_tags(ledger: FakeLedger, rpc: Rpc) -> None:
    assert rpc("eth_getBalance", SENDER_HEX, "latest") == hex(10**22)
    assert rpc("eth_getBalance", SENDER_HEX) == hex(10**22)
    assert rpc("eth_getBalance", "0x" + "33" * 20, "earliest") == "0x0"
    assert rpc("eth_getCode", TARGET_HEX, "0x0") == "0x6000"
    assert rpc("eth_getStorageAt", TARGET_HEX, "0x1", "latest") == "0x" + "00" * 31 + "2a"
    slot = "0x" + "00" * 31 + "01"
    assert rpc("eth_getStorageAt", TARGET_HEX, slot, {"blockNumber": "0x0"}).endswith("2a")
    genesis = ledger.head().hash
    by_hash = {"blockHash": "0x" + genesis.hex(), "requireCanonical": True}
    assert rpc("eth_getCode", TARGET_HEX, by_hash) == "0x6000"


def test_state_read_beyond_head_is_header_not_found(rpc: Rpc) -> None:
    error = rpc.error("eth_getBalance", SENDER_HEX, "0x5")
    assert error["code"] == -32000
    assert "header not found" in error["message"]


def test_unknown_block_hash_in_eip1898_object(rpc: Rpc) -> None:
    error = rpc.error("eth_getBalance", SENDER_HEX, {"blockHash": "0x" + "ab" * 32})
    assert error["code"] == -32000
    assert "not found" in error["message"]


def test_bad_parameters_name_the_argument(rpc: Rpc) -> None:
    error = rpc.error("eth_getBalance", "0x1234", "latest")
    assert error["code"] == -32602
    assert "argument 0" in error["message"] and "20 bytes" in error["message"]
    error = rpc.error("eth_getBalance", SENDER_HEX, "newest")
    assert "argument 1" in error["message"] and "unknown block tag" in error["message"]
    assert "without 0x" in rpc.error("eth_getBalance", "12")["message"]
    assert rpc.error("eth_getBalance", 5)["code"] == -32602
    assert rpc.error("eth_getBlockByNumber", "latest", "yes")["code"] == -32602
    assert "odd length" in rpc.error("eth_sendRawTransaction", "0x123")["message"]
    too_big = "0x1" + "0" * 64
    assert "256 bits" in rpc.error("eth_getBlockByNumber", too_big, False)["message"]


def test_transaction_count_latest_and_pending(ledger: FakeLedger, rpc: Rpc) -> None:
    rpc("eth_sendRawTransaction", "0x0201")
    assert rpc("eth_getTransactionCount", SENDER_HEX, "latest") == "0x0"
    assert rpc("eth_getTransactionCount", SENDER_HEX, "pending") == "0x1"
    ledger.produce_block(now=10)
    assert rpc("eth_getTransactionCount", SENDER_HEX, "latest") == "0x1"
    assert rpc("eth_getTransactionCount", SENDER_HEX, "earliest") == "0x0"


def test_pending_then_mined_transaction_and_receipt(ledger: FakeLedger, rpc: Rpc) -> None:
    tx_hash = rpc("eth_sendRawTransaction", "0x02abcd")
    pending = rpc("eth_getTransactionByHash", tx_hash)
    assert pending["blockHash"] is None and pending["blockNumber"] is None
    assert pending["transactionIndex"] is None
    assert rpc("eth_getTransactionReceipt", tx_hash) is None
    ledger.produce_block(now=10)
    mined = rpc("eth_getTransactionByHash", tx_hash)
    assert mined["blockNumber"] == "0x1" and mined["transactionIndex"] == "0x0"
    assert mined["from"] == SENDER_HEX and mined["to"] == TARGET_HEX
    assert mined["type"] == "0x2" and mined["chainId"] == "0x539"
    assert mined["yParity"] == mined["v"] == "0x1"
    assert mined["accessList"] == [] and mined["input"] == "0x02abcd"
    assert {"maxFeePerGas", "maxPriorityFeePerGas", "gasPrice", "r", "s"} <= set(mined)
    receipt = rpc("eth_getTransactionReceipt", tx_hash)
    assert receipt["status"] == "0x1" and receipt["contractAddress"] is None
    assert receipt["logs"][0]["topics"][0] == "0x" + EVENT_TOPIC.hex()
    assert receipt["logs"][0]["removed"] is False
    assert len(receipt["logsBloom"]) == 2 + 512
    assert rpc("eth_getTransactionByHash", "0x" + "00" * 32) is None


def test_blocks_by_number_hash_and_counts(ledger: FakeLedger, rpc: Rpc) -> None:
    hashes = mine(ledger, rpc, 3)
    block = rpc("eth_getBlockByNumber", "latest", False)
    assert block["number"] == "0x1" and block["transactions"] == hashes
    assert block["miner"] == "0x" + VALIDATOR.hex()
    assert block["nonce"] == "0x0000000000000000" and block["baseFeePerGas"] == "0x0"
    assert block["uncles"] == [] and block["sha3Uncles"].startswith("0x")
    full = rpc("eth_getBlockByHash", block["hash"], True)
    assert [tx["hash"] for tx in full["transactions"]] == hashes
    assert rpc("eth_getBlockByNumber", "0x9", False) is None
    assert rpc("eth_getBlockByHash", "0x" + "00" * 32, False) is None
    assert rpc("eth_getBlockTransactionCountByNumber", "0x1") == "0x3"
    assert rpc("eth_getBlockTransactionCountByHash", block["hash"]) == "0x3"
    assert rpc("eth_getBlockTransactionCountByNumber", "earliest") == "0x0"
    second = rpc("eth_getTransactionByBlockNumberAndIndex", "0x1", "0x1")
    assert second["hash"] == hashes[1]
    assert rpc("eth_getTransactionByBlockHashAndIndex", block["hash"], "0x5") is None
    assert rpc("eth_getBlockByNumber", "finalized", False)["number"] == "0x1"
    assert rpc("eth_getBlockByNumber", "safe", False)["number"] == "0x1"


def test_call_estimate_and_overrides(rpc: Rpc) -> None:
    assert rpc("eth_call", {"to": TARGET_HEX, "data": "0x1234"}, "latest") == "0x1234"
    assert rpc("eth_call", {"to": TARGET_HEX, "input": "0x12"}) == "0x12"
    assert rpc("eth_estimateGas", {"to": TARGET_HEX, "data": "0x1234"}) == hex(21_032)
    override = {TARGET_HEX: {"code": "0xfeed", "stateDiff": {"0x" + "00" * 32: "0x" + "00" * 32}}}
    assert rpc("eth_call", {"to": TARGET_HEX, "data": "0x01"}, "latest", override) == "0xfeed"


def test_call_parameter_errors(rpc: Rpc) -> None:
    both = {"to": TARGET_HEX, "data": "0x01", "input": "0x02"}
    assert "differ" in rpc.error("eth_call", both)["message"]
    fees = {"to": TARGET_HEX, "gasPrice": "0x1", "maxFeePerGas": "0x1"}
    assert rpc.error("eth_call", fees)["code"] == -32602
    bad: dict[str, object] = {TARGET_HEX: {"state": {}, "stateDiff": {}}}
    error = rpc.error("eth_call", {"to": TARGET_HEX}, "latest", bad)
    assert error["code"] == -32602 and "argument 2" in error["message"]
    assert rpc.error("eth_call", "0x00")["code"] == -32602


def test_reverted_call_is_code_3_with_revert_data(rpc: Rpc) -> None:
    error = rpc.error("eth_call", {"to": TARGET_HEX, "data": "0x" + REVERT_MARKER.hex()})
    assert error["code"] == 3
    assert error["message"] == "execution reverted: not allowed"
    assert error["data"] == "0x" + error_string("not allowed").hex()
    estimate = rpc.error("eth_estimateGas", {"to": TARGET_HEX, "data": "0xdead"})
    assert estimate["code"] == 3


def test_revert_message_without_reason() -> None:
    assert revert_message(b"") == "execution reverted"
    assert revert_message(bytes.fromhex("deadbeef")) == "execution reverted"


def test_fees(ledger: FakeLedger, rpc: Rpc) -> None:
    assert rpc("eth_gasPrice") == "0x0"
    assert rpc("eth_maxPriorityFeePerGas") == "0x0"
    mine(ledger, rpc, 2)
    history = rpc("eth_feeHistory", "0x4", "latest", [10, 50, 90])
    assert history["oldestBlock"] == "0x0"
    assert history["baseFeePerGas"] == ["0x0", "0x0", "0x0"]
    assert history["gasUsedRatio"] == [0.0, 60_000 / 30_000_000]
    assert history["reward"] == [["0x0"] * 3, ["0x0"] * 3]
    assert rpc.error("eth_feeHistory", "0x1", "latest", [50, 10])["code"] == -32602
    assert rpc.error("eth_feeHistory", "0x1", "latest", [101])["code"] == -32602


def test_next_base_fee_follows_eip1559(ledger: FakeLedger) -> None:
    from dataclasses import replace

    head = ledger.head()
    full = replace(head, base_fee_per_gas=1000, gas_used=head.gas_limit)
    empty = replace(head, base_fee_per_gas=1000, gas_used=0)
    half = replace(head, base_fee_per_gas=1000, gas_used=head.gas_limit // 2)
    assert (next_base_fee(full), next_base_fee(empty), next_base_fee(half)) == (1125, 875, 1000)


def test_get_logs_filters_by_topic_address_and_range(ledger: FakeLedger, rpc: Rpc) -> None:
    mine(ledger, rpc, 2)
    mine(ledger, rpc, 1)
    everything = rpc("eth_getLogs", {"fromBlock": "0x0", "toBlock": "latest"})
    assert len(everything) == 3
    nonce_one = "0x" + (1).to_bytes(32, "big").hex()
    by_topic = rpc("eth_getLogs", {"fromBlock": "earliest", "topics": [None, nonce_one]})
    assert [log["blockNumber"] for log in by_topic] == ["0x1"]
    either = [[nonce_one, "0x" + (2).to_bytes(32, "big").hex()]]
    assert len(rpc("eth_getLogs", {"fromBlock": "0x0", "topics": [None, *either]})) == 2
    other = rpc("eth_getLogs", {"fromBlock": "0x0", "address": ["0x" + "99" * 20]})
    assert other == []
    block_two = rpc("eth_getBlockByNumber", "0x2", False)["hash"]
    assert len(rpc("eth_getLogs", {"blockHash": block_two, "address": TARGET_HEX})) == 1
    assert rpc("eth_getLogs", {})[0]["blockNumber"] == "0x2"


def test_get_logs_errors(ledger: FakeLedger, rpc: Rpc) -> None:
    for _ in range(4):
        mine(ledger, rpc)
    over = rpc.error("eth_getLogs", {"fromBlock": "0x0", "toBlock": "0x4"})
    assert over["code"] == -32005 and "limit of 3" in over["message"]
    backwards = rpc.error("eth_getLogs", {"fromBlock": "0x3", "toBlock": "0x1"})
    assert backwards["code"] == -32602
    head_hash = rpc("eth_getBlockByNumber", "latest", False)["hash"]
    mixed = rpc.error("eth_getLogs", {"blockHash": head_hash, "fromBlock": "0x1"})
    assert mixed["code"] == -32602
    assert rpc("eth_getLogs", {"fromBlock": "0x9", "toBlock": "0xa"}) == []
    five = rpc.error("eth_getLogs", {"topics": [None] * 5})
    assert "4 topic" in five["message"]


def test_block_filter_sees_each_new_block_once(ledger: FakeLedger, rpc: Rpc) -> None:
    filter_id = rpc("eth_newBlockFilter")
    assert rpc("eth_getFilterChanges", filter_id) == []
    mine(ledger, rpc)
    mine(ledger, rpc)
    changes = rpc("eth_getFilterChanges", filter_id)
    assert changes == [rpc("eth_getBlockByNumber", n, False)["hash"] for n in ("0x1", "0x2")]
    assert rpc("eth_getFilterChanges", filter_id) == []


def test_log_filter_changes_and_filter_logs(ledger: FakeLedger, rpc: Rpc) -> None:
    mine(ledger, rpc)
    filter_id = rpc("eth_newFilter", {"address": TARGET_HEX, "topics": ["0x" + EVENT_TOPIC.hex()]})
    mine(ledger, rpc, 2)
    changes = rpc("eth_getFilterChanges", filter_id)
    assert [log["blockNumber"] for log in changes] == ["0x2", "0x2"]
    assert rpc("eth_getFilterChanges", filter_id) == []
    assert len(rpc("eth_getFilterLogs", filter_id)) == 2
    ranged = rpc("eth_newFilter", {"fromBlock": "0x1", "toBlock": "0x2"})
    assert len(rpc("eth_getFilterLogs", ranged)) == 3


def test_pending_transaction_filter(rpc: Rpc) -> None:
    filter_id = rpc("eth_newPendingTransactionFilter")
    tx_hash = rpc("eth_sendRawTransaction", "0x0299")
    assert rpc("eth_getFilterChanges", filter_id) == [tx_hash]


def test_idle_filters_expire_and_uninstall(api: EthApi, clock: FakeClock, rpc: Rpc) -> None:
    kept = rpc("eth_newBlockFilter")
    idle = rpc("eth_newBlockFilter")
    clock.now += 200
    rpc("eth_getFilterChanges", kept)
    clock.now += 200
    assert rpc("eth_getFilterChanges", kept) == []
    error = rpc.error("eth_getFilterChanges", idle)
    assert error == {"code": -32000, "message": "filter not found"}
    assert rpc("eth_uninstallFilter", kept) is True
    assert rpc("eth_uninstallFilter", kept) is False
    assert len(api.filters) == 0


def test_subscribe_over_http_is_refused(rpc: Rpc) -> None:
    error = rpc.error("eth_subscribe", "newHeads")
    assert error["code"] == -32601 and "notifications" in error["message"]


def test_validators_by_block_number(rpc: Rpc) -> None:
    assert rpc("qbft_getValidatorsByBlockNumber", "latest") == ["0x" + VALIDATOR.hex()]
    assert rpc("qbft_getValidatorsByBlockNumber", "0x0") == ["0x" + VALIDATOR.hex()]
    assert rpc.error("qbft_getValidatorsByBlockNumber", "0x7")["code"] == -32000


def test_a_stale_head_read_never_hides_a_newer_block(
    ledger: FakeLedger, api: EthApi, rpc: Rpc
) -> None:
    stale = ledger.head()  # a slow first read of the head, still holding block 0 ...
    mine(ledger, rpc)  # ... while block 1 is produced and its head event arrives
    api._advance_head(stale)  # ... then the slow read lands
    assert rpc("eth_blockNumber") == "0x1"


def test_block_receipts(ledger: FakeLedger, rpc: Rpc) -> None:
    hashes = mine(ledger, rpc, 2)
    receipts = rpc("eth_getBlockReceipts", "latest")
    assert [receipt["transactionHash"] for receipt in receipts] == hashes
    assert rpc("eth_getBlockReceipts", "earliest") == []
    assert rpc("eth_getBlockReceipts", "0x63") is None
