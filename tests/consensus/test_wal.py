"""The write-ahead log: byte format, torn tails, corruption, and replay through `step`."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.consensus.events import (
    BlockBuilt,
    BlockTimerExpired,
    Broadcast,
    Event,
    MessageReceived,
    NewChainHead,
    RoundTimerExpired,
    ScheduleTimer,
    StartHeight,
    TimerKind,
)
from node.consensus.messages import PROPOSAL
from node.consensus.state import ZERO_ADDRESS, initial_state, step
from node.consensus.wal import (
    WalCorrupted,
    WalRecord,
    decode_log,
    encode_record,
    replay,
    start_segment,
    starts_segment,
)
from node.ports import Address, Hash32
from tests.consensus.conftest import Network
from tests.consensus.helpers import commit, prepare, proposal, received

addresses = st.lists(st.binary(min_size=20, max_size=20).map(Address), max_size=7).map(tuple)
address = st.binary(min_size=20, max_size=20).map(Address)
small = st.integers(min_value=0, max_value=2**40)
events = st.one_of(
    st.builds(StartHeight, small, addresses, address, small),
    st.builds(NewChainHead, small, addresses, address, small),
    st.builds(MessageReceived, st.integers(0x12, 0x15), st.binary(max_size=200)),
    st.builds(BlockTimerExpired, small),
    st.builds(RoundTimerExpired, small, small),
    st.builds(BlockBuilt, small, small, st.binary(min_size=1, max_size=100)),
)


@given(st.lists(st.builds(WalRecord, events, small), max_size=8))
def test_records_round_trip(records: list[WalRecord]) -> None:
    data = b"".join(encode_record(r) for r in records)
    assert decode_log(data) == (records, len(data))


def sample_log() -> tuple[list[WalRecord], bytes]:
    records = [
        WalRecord(StartHeight(1, (Address(b"\x01" * 20),), ZERO_ADDRESS, 0), 0),
        WalRecord(MessageReceived(0x13, b"\xc0" * 40), 5),
        WalRecord(RoundTimerExpired(1, 0), 1000),
    ]
    return records, b"".join(encode_record(r) for r in records)


def test_a_torn_last_record_is_left_out_at_every_cut() -> None:
    records, data = sample_log()
    last = len(encode_record(records[-1]))
    for cut in range(1, last):
        assert decode_log(data[:-cut]) == (records[:-1], len(data) - last)


def test_damage_before_the_last_record_is_corruption() -> None:
    _, data = sample_log()
    damaged = bytearray(data)
    damaged[12] ^= 0xFF
    with pytest.raises(WalCorrupted, match="checksum mismatch"):
        decode_log(bytes(damaged))
    last_damaged = bytearray(data)
    last_damaged[-1] ^= 0xFF
    assert len(decode_log(bytes(last_damaged))[0]) == 2  # a last write that did not finish


def run_and_log(
    network: Network, index: int, inputs: list[tuple[Event, int]]
) -> tuple[object, bytes]:
    state = initial_state(network.contexts[index])
    log = b""
    for event, now in inputs:
        log += encode_record(WalRecord(event, now))  # append first, then act
        state, _ = step(state, event, now)
    return state, log


def happy_inputs(network: Network) -> tuple[list[tuple[Event, int]], bytes, Hash32]:
    block = network.chains[0].build(1, 0, network.validators[0], 1000, 1)
    digest = network.chains[0].digest(block, 0)
    inputs: list[tuple[Event, int]] = [
        (StartHeight(1, network.validators, ZERO_ADDRESS, 0), 0),
        (BlockTimerExpired(1), 1000),
        (BlockBuilt(1, 0, block), 1000),
        (received(prepare(network.signers[1], 1, 0, digest)), 1010),
        (received(prepare(network.signers[2], 1, 0, digest)), 1020),
        (received(commit(network.signers[1], 1, 0, digest)), 1030),
    ]
    return inputs, block, digest


def test_replay_rebuilds_the_live_state_and_redoes_its_actions(network: Network) -> None:
    inputs, _, digest = happy_inputs(network)
    live, log = run_and_log(network, 0, inputs)
    records, _ = decode_log(log)
    replayed, redo = replay(network.contexts[0], records)
    assert replayed == live
    assert replayed.signed[(0x13, 0)] == digest and replayed.signed[(0x14, 0)] == digest
    codes = sorted(a.code for a in redo if isinstance(a, Broadcast))
    assert codes == [0x12, 0x13, 0x14]
    assert [a for a in redo if isinstance(a, ScheduleTimer)] == [
        ScheduleTimer(TimerKind.BLOCK, 1, 0, 1000),
        ScheduleTimer(TimerKind.ROUND, 1, 0, 2000),
    ]


def test_a_restarted_proposer_never_proposes_a_second_block(network: Network) -> None:
    inputs, block, _ = happy_inputs(network)
    _, log = run_and_log(network, 0, inputs[:3])  # crashed right after logging BlockBuilt
    replayed, redo = replay(network.contexts[0], decode_log(log)[0])
    (again,) = [a for a in redo if isinstance(a, Broadcast) and a.code == PROPOSAL]
    original = received(proposal(network.signers[0], 1, 0, block)).data
    assert again.data == original  # the very same signed bytes
    other = network.chains[0].build(1, 0, network.validators[0], 1500, 2)
    _, actions = step(replayed, BlockBuilt(1, 0, other), 1500)
    assert [a for a in actions if isinstance(a, Broadcast) and a.code == PROPOSAL] == []


def test_a_new_segment_carries_the_buffered_messages(network: Network) -> None:
    state = network.started(1)
    future = received(prepare(network.signers[2], 2, 0, Hash32(b"\x07" * 32)))
    state, _ = step(state, future, 500)
    head = WalRecord(NewChainHead(1, network.validators, network.validators[0], 900), 1000)
    segment = start_segment(head, state)
    assert segment == [head, WalRecord(future, 1000)]
    live, _ = step(state, head.event, head.now)
    replayed, _ = replay(network.contexts[1], segment)
    assert replayed.height == live.height == 2
    assert replayed.current.prepares == live.current.prepares
    assert network.validators[2] in replayed.current.prepares


def test_a_stale_chain_head_is_appended_not_a_new_segment(network: Network) -> None:
    state = network.started(1)
    state, _ = step(state, NewChainHead(1, network.validators, network.validators[0], 900), 1000)
    assert state.height == 2
    stale = NewChainHead(1, network.validators, network.validators[0], 900)
    current = NewChainHead(2, network.validators, network.validators[1], 1900)
    assert not starts_segment(stale, state)
    assert starts_segment(current, state)
    assert starts_segment(StartHeight(1, network.validators, ZERO_ADDRESS, 0), state)
