"""Structured log lines, log levels, the Prometheus registry and the receipt cache."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from node.logs import configure_logging, fields
from node.metrics import NodeMetrics
from node.ports import ReceiptView
from node.rpc.methods import ReceiptCache
from tests.rpc.conftest import Rpc
from tests.rpc.fakes import FakeLedger


@pytest.fixture
def restore_node_logger() -> Iterator[None]:
    logger = logging.getLogger("node")
    handlers, level, propagate = logger.handlers[:], logger.level, logger.propagate
    yield
    logger.handlers, logger.level, logger.propagate = handlers, level, propagate


def test_logfmt_lines_carry_fields_and_quote_when_needed(restore_node_logger: None) -> None:
    stream = io.StringIO()
    configure_logging("info", stream=stream)
    log = logging.getLogger("node.test")
    log.info("block produced", extra=fields(number=12, txs=800, note="two words"))
    log.debug("not shown")
    line = stream.getvalue().strip()
    assert "\n" not in line
    assert line.startswith("ts=") and line.endswith('note="two words"')
    assert 'level=info logger=node.test msg="block produced" number=12 txs=800' in line


def test_json_lines_and_level_filter(restore_node_logger: None) -> None:
    stream = io.StringIO()
    configure_logging("WARNING", json_lines=True, stream=stream)
    log = logging.getLogger("node.test")
    log.info("hidden")
    log.warning("pool full", extra=fields(size=20000))
    record = json.loads(stream.getvalue())
    assert record["level"] == "warning" and record["msg"] == "pool full"
    assert record["size"] == 20000


def test_unknown_level_is_refused(restore_node_logger: None) -> None:
    with pytest.raises(ValueError, match="unknown log level"):
        configure_logging("chatty")


def test_metrics_render_and_two_nodes_do_not_share_counters() -> None:
    first, second = NodeMetrics(), NodeMetrics()
    first.observe_request("eth_call", 3, 0.01)
    first.observe_block(0.2, 7, 100)
    first.track_txpool(lambda: 5)
    text = first.render().decode()
    assert 'mykey_rpc_requests_total{method="eth_call"} 1.0' in text
    assert 'mykey_rpc_errors_total{code="3",method="eth_call"} 1.0' in text
    assert "mykey_head_block_number 7.0" in text
    assert "mykey_block_transactions_total 100.0" in text
    assert "mykey_txpool_transactions 5.0" in text
    assert 'mykey_block_production_seconds_bucket{le="0.25"} 1.0' in text
    assert "eth_call" not in second.render().decode()


def receipt(number: int) -> ReceiptView:
    from node.ports import Address, Hash32

    return ReceiptView(
        transaction_hash=Hash32(number.to_bytes(32, "big")),
        transaction_index=0,
        block_hash=Hash32(b"\x01" * 32),
        block_number=1,
        sender=Address(b"\x02" * 20),
        to=None,
        contract_address=None,
        cumulative_gas_used=0,
        gas_used=0,
        effective_gas_price=0,
        status=1,
        type=2,
        logs=(),
        logs_bloom=b"\x00" * 256,
    )


def test_receipt_cache_is_bounded_lru() -> None:
    cache = ReceiptCache(size=2)
    cache.put_all([receipt(1), receipt(2)])
    assert cache.get((1).to_bytes(32, "big")) is not None
    cache.put_all([receipt(3)])
    assert cache.get((2).to_bytes(32, "big")) is None
    assert cache.get((1).to_bytes(32, "big")) is not None


def test_receipts_load_a_whole_block_once(ledger: FakeLedger, rpc: Rpc) -> None:
    calls: list[int] = []

    def block_receipts(number: int) -> list[ReceiptView]:
        calls.append(number)
        return [ledger.receipts[tx.hash] for tx in ledger.blocks[number].transactions]

    ledger.block_receipts = block_receipts  # type: ignore[attr-defined]
    hashes = [rpc("eth_sendRawTransaction", f"0x02{i:02x}") for i in range(3)]
    ledger.produce_block(now=10)
    for tx_hash in hashes * 2:
        assert rpc("eth_getTransactionReceipt", tx_hash)["transactionHash"] == tx_hash
    assert calls == [1]
