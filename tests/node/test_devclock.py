"""Sub-second block periods (xblockperiodmilliseconds) and the dev block clock on a memory
ledger."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount

from node.chain import InvalidBlock
from node.devclock import BlockClock, ClockControlError
from node.genesis import GenesisError, parse_genesis
from node.ledger import Ledger, seal_header
from tests.node.conftest import TEST_VALIDATOR_KEY, FakeClock, genesis_document
from tests.node.helpers import sign


def sub_second_document(milliseconds: Any = 50) -> dict[str, Any]:
    document = genesis_document()
    document["config"]["qbft"]["xblockperiodmilliseconds"] = milliseconds
    return document


def test_genesis_reads_xblockperiodmilliseconds() -> None:
    qbft = parse_genesis(sub_second_document(50)).qbft
    assert qbft.block_period_milliseconds == 50
    assert qbft.block_period == 0.05
    assert qbft.minimum_timestamp_gap == 0
    assert parse_genesis(sub_second_document("0x7d0")).qbft.minimum_timestamp_gap == 2
    plain = parse_genesis(genesis_document(period=3)).qbft
    assert (plain.block_period, plain.minimum_timestamp_gap) == (3.0, 3)


@pytest.mark.parametrize("bad", [0, 5, "fast", True, -1])
def test_genesis_refuses_bad_xblockperiodmilliseconds(bad: Any) -> None:
    with pytest.raises(GenesisError, match="xblockperiodmilliseconds"):
        parse_genesis(sub_second_document(bad))


def test_block_clock_adds_offset_and_never_goes_back() -> None:
    wall = FakeClock(1_000.0)
    clock = BlockClock(lambda: wall.now)
    assert clock.now() == 1_000.0
    assert clock.increase_time(3_600) == 3_600
    assert clock.increase_time(60) == 3_660
    assert clock.now() == 4_660.0
    wall.now = 900.0  # the wall clock stepped back (NTP); block time must not
    assert clock.now() == 4_660.0
    with pytest.raises(ClockControlError, match="forward"):
        clock.increase_time(-1)
    with pytest.raises(ClockControlError, match="before the latest block"):
        clock.set_next_block_timestamp(99, parent_timestamp=100)
    assert clock.offset == 3_660


def test_sub_second_period_makes_same_second_blocks(
    make_ledger: Callable[..., Ledger], users: list[LocalAccount]
) -> None:
    ledger = make_ledger(sub_second_document(50))
    wall = FakeClock(1_000.0)
    ledger.clock = BlockClock(lambda: wall.now)
    timestamps = []
    for nonce in range(4):
        ledger.txpool.submit(sign(users[0], nonce=nonce, to=b"\x11" * 20, gas=21000))
        block = ledger.produce_block(wall.tick(0.05))
        assert block is not None, f"block {nonce + 1} was not produced 50 ms after its parent"
        timestamps.append(block.timestamp)
    assert timestamps == [1_000, 1_000, 1_000, 1_000]
    assert ledger.chain.head().number == 4


def test_one_second_rule_kept_for_whole_second_periods(
    make_ledger: Callable[..., Ledger], users: list[LocalAccount]
) -> None:
    ledger = make_ledger(genesis_document(period=1))
    wall = FakeClock(1_000.0)
    ledger.clock = BlockClock(lambda: wall.now)
    produced = []
    for nonce in range(3):
        ledger.txpool.submit(sign(users[0], nonce=nonce, to=b"\x11" * 20, gas=21000))
        produced.append(ledger.produce_block(wall.tick(0.05)))
    # ts = parent + 1 s each time; the third (1002) would be beyond now + 1 s, so it waits.
    assert [b.timestamp if b else None for b in produced] == [1_000, 1_001, None]
    later = ledger.produce_block(wall.tick(1.0))
    assert later is not None and later.timestamp == 1_002


def test_chain_refuses_earlier_timestamp_even_with_sub_second_period(
    make_ledger: Callable[..., Ledger], users: list[LocalAccount]
) -> None:
    ledger = make_ledger(sub_second_document(50))
    ledger.txpool.submit(sign(users[0], nonce=0, to=b"\x11" * 20, gas=21000))
    assert ledger.produce_block(1_000.0) is not None
    parent = ledger.chain.head_header
    built = ledger.chain.build_block([], ledger.validator_address, parent.timestamp - 1)
    sealed = seal_header(built.header, TEST_VALIDATOR_KEY)
    with pytest.raises(InvalidBlock, match="less than parent's"):
        ledger.chain.import_built(built, sealed, 1_000.0)
    same = ledger.chain.build_block([], ledger.validator_address, parent.timestamp)
    ledger.chain.import_built(same, seal_header(same.header, TEST_VALIDATOR_KEY), 1_000.0)
    assert ledger.chain.head_header.timestamp == parent.timestamp


def test_increased_time_reaches_producer_and_import_rule(
    make_ledger: Callable[..., Ledger], users: list[LocalAccount]
) -> None:
    ledger = make_ledger(genesis_document(period=1))
    wall = FakeClock(1_000.0)
    ledger.clock = BlockClock(lambda: wall.now)
    ledger.clock.increase_time(86_400)
    ledger.txpool.submit(sign(users[0], nonce=0, to=b"\x11" * 20, gas=21000))
    block = ledger.produce_block()  # reads the block clock
    assert block is not None and block.timestamp == 87_400
    # The same header is "in the future" for a node on the plain wall clock.
    built = ledger.chain.build_block([], ledger.validator_address, 87_401)
    with pytest.raises(InvalidBlock, match="in the future"):
        ledger.chain.import_built(built, seal_header(built.header, TEST_VALIDATOR_KEY), wall.now)


def test_pinned_timestamp_is_used_once_and_mine_forces_empty_blocks(
    make_ledger: Callable[..., Ledger],
) -> None:
    ledger = make_ledger(genesis_document(period=1))
    wall = FakeClock(1_000.0)
    ledger.clock = BlockClock(lambda: wall.now)
    assert ledger.produce_block() is None  # nothing to include, no empty blocks
    ledger.clock.set_next_block_timestamp(5_000, ledger.chain.head_header.timestamp)
    first = ledger.produce_block(force=True)
    assert first is not None and first.timestamp == 5_000 and not first.transactions
    second = ledger.produce_block(force=True)  # period 1 s: the clock moves to parent + 1
    assert second is not None and second.timestamp == 5_001
    assert ledger.clock.pinned_timestamp() is None
    assert ledger.chain.head().number == 2


def test_genesis_document_is_not_mutated_by_helpers() -> None:
    document = sub_second_document(100)
    before = copy.deepcopy(document)
    parse_genesis(document)
    assert document == before
