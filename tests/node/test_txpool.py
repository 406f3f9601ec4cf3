"""Txpool rules: every rejection reason, replacement, ordering, the future queue, persistence."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import rlp
from eth_account import Account
from eth_account.signers.local import LocalAccount

from node.config import NodeConfig
from node.ledger import Ledger, build_ledger
from node.ports import Address, TxRejected
from node.transactions import MAX_TRANSACTION_BYTES
from tests.node.conftest import CHAIN_ID, GAS_LIMIT, FakeClock
from tests.node.helpers import sign

TO = b"\x11" * 20


def address(account: LocalAccount) -> Address:
    return Address(bytes.fromhex(account.address[2:]))


def reject(ledger: Ledger, raw: bytes, reason: str) -> TxRejected:
    with pytest.raises(TxRejected) as caught:
        ledger.txpool.submit(raw)
    assert caught.value.reason == reason, str(caught.value)
    assert str(caught.value)  # a message a person can act on
    return caught.value


def dynamic(account: LocalAccount, **fields: Any) -> bytes:
    tx: dict[str, Any] = {
        "type": 2,
        "chainId": CHAIN_ID,
        "gas": 21000,
        "to": "0x" + TO.hex(),
        "value": 0,
        "maxFeePerGas": 0,
        "maxPriorityFeePerGas": 0,
    }
    tx.update(fields)
    return bytes(account.sign_transaction(tx).raw_transaction)


def test_accepts_and_reports_pending(ledger: Ledger, users: list[LocalAccount]) -> None:
    raw = sign(users[0], nonce=0, to=TO, gas=21000)
    tx_hash = ledger.txpool.submit(raw)
    view = ledger.txpool.pending_transaction(tx_hash)
    assert view is not None and view.block_hash is None and view.sender == address(users[0])
    assert ledger.txpool.pending_count() == 1
    assert ledger.txpool.pending_nonce(address(users[0])) == 1


def test_invalid_rlp(ledger: Ledger) -> None:
    reject(ledger, b"\xf8\xff\x00", "invalid-rlp")
    reject(ledger, b"", "invalid-rlp")
    reject(ledger, b"\x02\xc0", "invalid-rlp")


def test_unsupported_type(ledger: Ledger) -> None:
    reject(ledger, b"\x03" + rlp.encode([1]), "unsupported-type")
    reject(ledger, b"\x05" + rlp.encode([1]), "unsupported-type")


def test_oversized(ledger: Ledger, users: list[LocalAccount]) -> None:
    raw = sign(users[0], nonce=0, to=TO, gas=GAS_LIMIT, data=b"\x01" * MAX_TRANSACTION_BYTES)
    reject(ledger, raw, "oversized")


def test_invalid_signature(ledger: Ledger, users: list[LocalAccount]) -> None:
    fields = rlp.decode(sign(users[0], nonce=0, to=TO, gas=21000))
    fields[8] = b"\xff" * 32  # s above n/2
    reject(ledger, rlp.encode(fields), "invalid-signature")
    fields[7] = b"\x00"  # r = 0 (non-canonical zero; decoded as 0)
    fields[7] = b""
    reject(ledger, rlp.encode(fields), "invalid-signature")
    fields = rlp.decode(sign(users[0], nonce=0, to=TO, gas=21000))
    fields[6] = b"\x05"  # v neither 27/28 nor EIP-155
    reject(ledger, rlp.encode(fields), "invalid-signature")


def test_wrong_chain_id(ledger: Ledger, users: list[LocalAccount]) -> None:
    reject(ledger, sign(users[0], nonce=0, to=TO, gas=21000, chainId=1), "wrong-chain-id")
    reject(ledger, dynamic(users[0], nonce=0, chainId=5), "wrong-chain-id")


def test_unprotected_legacy_is_accepted(ledger: Ledger, users: list[LocalAccount]) -> None:
    tx = {"nonce": 0, "gasPrice": 0, "gas": 21000, "to": "0x" + TO.hex(), "value": 0}
    raw = bytes(users[0].sign_transaction(tx).raw_transaction)
    assert ledger.txpool.submit(raw)


def test_nonce_too_low_and_too_high(
    ledger: Ledger, users: list[LocalAccount], clock: FakeClock
) -> None:
    ledger.txpool.submit(sign(users[0], nonce=0, to=TO, gas=21000))
    ledger.produce_block(clock.tick())
    reject(ledger, sign(users[0], nonce=0, to=TO, gas=21000, value=1), "nonce-too-low")
    gap = ledger.config.txpool.max_future_gap
    assert ledger.txpool.submit(sign(users[0], nonce=1 + gap, to=TO, gas=21000))
    reject(ledger, sign(users[0], nonce=2 + gap, to=TO, gas=21000), "nonce-too-high")


def test_already_known(ledger: Ledger, users: list[LocalAccount]) -> None:
    raw = sign(users[0], nonce=0, to=TO, gas=21000)
    ledger.txpool.submit(raw)
    reject(ledger, raw, "already-known")


def test_gas_limit_exceeded_and_intrinsic_gas(ledger: Ledger, users: list[LocalAccount]) -> None:
    reject(ledger, sign(users[0], nonce=0, to=TO, gas=GAS_LIMIT + 1), "gas-limit-exceeded")
    reject(ledger, sign(users[0], nonce=0, to=TO, gas=20999), "intrinsic-gas-too-low")
    # EIP-7623 calldata floor: 100 non-zero bytes need 21000 + 10 * 400 gas.
    data = b"\x01" * 100
    reject(
        ledger, sign(users[0], nonce=0, to=TO, gas=21000 + 1600, data=data), "intrinsic-gas-too-low"
    )
    assert ledger.txpool.submit(sign(users[0], nonce=0, to=TO, gas=25000, data=data))


def test_insufficient_funds(ledger: Ledger) -> None:
    pauper = Account.from_key(b"\x31" * 32)
    assert ledger.txpool.submit(sign(pauper, nonce=0, to=TO, gas=21000))  # free is fine
    reject(ledger, sign(pauper, nonce=1, to=TO, gas=21000, value=1), "insufficient-funds")
    reject(ledger, sign(pauper, nonce=1, to=TO, gas=21000, gasPrice=1), "insufficient-funds")


def test_fee_too_low_when_tip_exceeds_cap(ledger: Ledger, users: list[LocalAccount]) -> None:
    raw = dynamic(users[0], nonce=0, maxFeePerGas=1, maxPriorityFeePerGas=2)
    reject(ledger, raw, "fee-too-low")


def test_replacement_rules(ledger: Ledger, users: list[LocalAccount]) -> None:
    first = ledger.txpool.submit(sign(users[0], nonce=0, to=TO, gas=21000, gasPrice=100))
    reject(
        ledger, sign(users[0], nonce=0, to=TO, gas=21000, gasPrice=109), "replacement-underpriced"
    )
    second = ledger.txpool.submit(sign(users[0], nonce=0, to=TO, gas=21000, gasPrice=110))
    assert ledger.txpool.pending_transaction(first) is None
    assert ledger.txpool.pending_transaction(second) is not None
    assert ledger.txpool.pending_count() == 1


def test_zero_fee_replacement_is_allowed(ledger: Ledger, users: list[LocalAccount]) -> None:
    first = ledger.txpool.submit(sign(users[0], nonce=0, to=TO, gas=21000))
    second = ledger.txpool.submit(sign(users[0], nonce=0, to=TO, gas=21000, value=1))
    assert first != second
    assert ledger.txpool.pending_transaction(first) is None
    assert ledger.txpool.pending_count() == 1


def test_sender_limit_and_pool_full(
    make_ledger: Callable[..., Ledger], small_pool_config: NodeConfig, users: list[LocalAccount]
) -> None:
    ledger = make_ledger(config=small_pool_config)
    for nonce in range(3):
        ledger.txpool.submit(sign(users[0], nonce=nonce, to=TO, gas=21000))
    reject(ledger, sign(users[0], nonce=3, to=TO, gas=21000), "sender-limit")
    # A replacement does not count against the limit.
    assert ledger.txpool.submit(sign(users[0], nonce=2, to=TO, gas=21000, value=5))
    ledger.txpool.submit(sign(users[1], nonce=0, to=TO, gas=21000))
    ledger.txpool.submit(sign(users[1], nonce=1, to=TO, gas=21000))
    reject(ledger, sign(users[2], nonce=0, to=TO, gas=21000), "pool-full")


def test_future_queue_waits_for_the_gap(
    ledger: Ledger, users: list[LocalAccount], clock: FakeClock
) -> None:
    sender = address(users[0])
    later = ledger.txpool.submit(sign(users[0], nonce=2, to=TO, gas=21000))
    assert ledger.txpool.pending_nonce(sender) == 0
    assert ledger.produce_block(clock.tick()) is None  # nothing ready
    ledger.txpool.submit(sign(users[0], nonce=0, to=TO, gas=21000))
    block = ledger.produce_block(clock.tick())
    assert block is not None and len(block.transactions) == 1
    assert ledger.txpool.pending_transaction(later) is not None
    ledger.txpool.submit(sign(users[0], nonce=1, to=TO, gas=21000))
    assert ledger.txpool.pending_nonce(sender) == 3
    block = ledger.produce_block(clock.tick())
    assert block is not None
    assert [tx.nonce for tx in block.transactions] == [1, 2]
    assert ledger.txpool.pending_count() == 0


def test_arrival_order_across_senders(
    ledger: Ledger, users: list[LocalAccount], clock: FakeClock
) -> None:
    order = [(1, 0), (0, 0), (1, 1), (2, 0), (0, 1)]
    hashes = [ledger.txpool.submit(sign(users[who], nonce=n, to=TO, gas=21000)) for who, n in order]
    block = ledger.produce_block(clock.tick())
    assert block is not None
    assert [tx.hash for tx in block.transactions] == hashes


def test_gas_limit_defers_to_next_block(
    ledger: Ledger, users: list[LocalAccount], clock: FakeClock
) -> None:
    big = GAS_LIMIT // 2 + 1
    ledger.txpool.submit(sign(users[0], nonce=0, to=TO, gas=big))
    ledger.txpool.submit(sign(users[1], nonce=0, to=TO, gas=big))
    first = ledger.produce_block(clock.tick())
    second = ledger.produce_block(clock.tick())
    assert first is not None and second is not None
    assert len(first.transactions) == 1 and len(second.transactions) == 1


def test_unpayable_transaction_is_dropped_with_reason(
    ledger: Ledger, users: list[LocalAccount], clock: FakeClock
) -> None:
    pauper = Account.from_key(b"\x32" * 32)
    ledger.txpool.submit(sign(users[0], nonce=0, to=pauper.address, gas=21000, value=10))
    ledger.produce_block(clock.tick())
    ledger.txpool.submit(sign(pauper, nonce=0, to=TO, gas=21000, value=10))
    doomed = ledger.txpool.submit(sign(pauper, nonce=1, to=TO, gas=21000, value=10))
    block = ledger.produce_block(clock.tick())
    assert block is not None and len(block.transactions) == 1
    assert ledger.txpool.pending_transaction(doomed) is None
    reason = ledger.txpool.drop_reason(doomed)
    assert reason is not None and "enough balance" in reason
    assert ledger.chain.transaction(doomed) is None


def test_pool_survives_reopen_on_the_same_store(
    ledger: Ledger, users: list[LocalAccount], clock: FakeClock
) -> None:
    mined = ledger.txpool.submit(sign(users[0], nonce=0, to=TO, gas=21000))
    ledger.produce_block(clock.tick())
    waiting = [
        ledger.txpool.submit(sign(users[0], nonce=1, to=TO, gas=21000)),
        ledger.txpool.submit(sign(users[1], nonce=3, to=TO, gas=21000)),
    ]
    reopened = build_ledger(ledger.store, ledger.chain.genesis, ledger.config, ledger.node_key)
    assert reopened.txpool.pending_count() == 2
    for tx_hash in waiting:
        assert reopened.txpool.pending_transaction(tx_hash) is not None
    assert reopened.txpool.pending_transaction(mined) is None
    assert reopened.txpool.lost_on_restart == []
    block = reopened.produce_block(clock.tick())
    assert block is not None and [tx.hash for tx in block.transactions] == waiting[:1]
