"""The per-peer state machine, two objects back to back, no sockets, a fake clock."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from network.codec import (
    Blocks,
    DisconnectReason,
    GetBlocks,
    Hello,
    Ping,
    Status,
    decode_frame,
    encode_message,
)
from network.peer import (
    BlockRequestFailed,
    BlocksReceived,
    BlocksRequested,
    ConnectionClosed,
    ConsensusReceived,
    HandshakeCompleted,
    PeerConfig,
    PeerConnection,
    PeerEvent,
    PeerNotReady,
    PeerState,
    StatusReceived,
    TooManyRequests,
    TransactionsReceived,
)

from .conftest import FakeClock
from .support import ALICE, BOB, hello
from .support import messages as codec_messages

CONFIG = PeerConfig(
    handshake_timeout=5.0,
    keepalive_interval=2.0,
    idle_timeout=7.0,
    request_timeout=3.0,
    max_blocks_per_request=4,
    max_pending_requests=2,
    max_transactions_per_message=3,
    messages_per_second=10.0,
    message_burst=20.0,
)


def pair(
    clock: FakeClock, alice_hello: Hello | None = None, bob_hello: Hello | None = None
) -> tuple[PeerConnection, PeerConnection]:
    alice = PeerConnection(alice_hello or hello(ALICE), BOB, clock.now, CONFIG)
    bob = PeerConnection(bob_hello or hello(BOB), ALICE, clock.now, CONFIG)
    return alice, bob


def pump(
    clock: FakeClock, alice: PeerConnection, bob: PeerConnection
) -> tuple[list[PeerEvent], list[PeerEvent]]:
    """Deliver queued bytes both ways until both are quiet; return each side's events."""
    alice_events: list[PeerEvent] = []
    bob_events: list[PeerEvent] = []
    while True:
        to_bob = alice.data_to_send()
        to_alice = bob.data_to_send()
        if not to_bob and not to_alice:
            return alice_events, bob_events
        bob_events += bob.receive_data(to_bob, clock.now)
        alice_events += alice.receive_data(to_alice, clock.now)


def connected(clock: FakeClock) -> tuple[PeerConnection, PeerConnection]:
    alice, bob = pair(clock)
    alice_events, bob_events = pump(clock, alice, bob)
    assert alice_events == [HandshakeCompleted(hello(BOB))]
    assert bob_events == [HandshakeCompleted(hello(ALICE))]
    return alice, bob


def closed(events: list[PeerEvent]) -> ConnectionClosed:
    last = events[-1]
    assert isinstance(last, ConnectionClosed)
    return last


def test_matching_hellos_make_both_sides_active(clock: FakeClock) -> None:
    alice, bob = connected(clock)
    assert alice.state is bob.state is PeerState.ACTIVE
    assert alice.remote_head == (5, b"\x05" * 32)


@pytest.mark.parametrize(
    ("change", "reason", "words"),
    [
        ({"chain_id": 1}, DisconnectReason.WRONG_CHAIN_ID, "peer follows chain id 1,"),
        (
            {"genesis_hash": b"\x02" * 32},
            DisconnectReason.WRONG_GENESIS,
            "peer's genesis is 0x0202",
        ),
        (
            {"protocol_version": 9},
            DisconnectReason.INCOMPATIBLE_VERSION,
            "peer speaks protocol version 9",
        ),
        ({"node_address": b"\xcc" * 20}, DisconnectReason.WRONG_NODE_ADDRESS, "certificate"),
    ],
)
def test_a_disagreeing_hello_closes_with_its_specific_reason(
    clock: FakeClock, change: dict[str, object], reason: DisconnectReason, words: str
) -> None:
    alice, bob = pair(clock, bob_hello=hello(BOB, **change))
    alice_events, bob_events = pump(clock, alice, bob)
    ours = closed(alice_events)
    assert (ours.reason, ours.by_peer) == (reason, False)
    assert words in ours.detail
    # Chain mismatches are seen by both sides at once; a wrong address only by alice, whose
    # Disconnect then tells bob why.
    theirs = closed(bob_events)
    assert theirs.reason is reason
    assert theirs.by_peer is (reason is DisconnectReason.WRONG_NODE_ADDRESS)
    assert alice.closed and bob.closed


def test_messages_before_hello_are_a_protocol_error(clock: FakeClock) -> None:
    alice = PeerConnection(hello(ALICE), BOB, clock.now, CONFIG)
    events = alice.receive_data(encode_message(Status(1, b"\x00" * 32)), clock.now)
    assert closed(events).reason is DisconnectReason.PROTOCOL_ERROR
    assert "Status before Hello" in closed(events).detail


def test_gossip_consensus_and_status_reach_the_other_side(clock: FakeClock) -> None:
    alice, bob = connected(clock)
    alice.send_transactions((b"tx1", b"tx2", b"tx3", b"tx4"), clock.now)  # split in two
    alice.send_consensus(0x12, b"proposal", clock.now)
    alice.send_status(6, b"\x06" * 32, clock.now)
    _, bob_events = pump(clock, alice, bob)
    assert bob_events == [
        TransactionsReceived((b"tx1", b"tx2", b"tx3")),
        TransactionsReceived((b"tx4",)),
        ConsensusReceived(0x12, b"proposal"),
        StatusReceived(6, b"\x06" * 32),
    ]
    assert bob.remote_head == (6, b"\x06" * 32)


def test_block_requests_are_matched_by_id_and_capped(clock: FakeClock) -> None:
    alice, bob = connected(clock)
    first = alice.request_blocks(1, 100, clock.now)  # capped to 4
    second = alice.request_blocks(5, 2, clock.now)
    assert first != second
    with pytest.raises(TooManyRequests):
        alice.request_blocks(7, 1, clock.now)
    _, bob_events = pump(clock, alice, bob)
    assert bob_events == [BlocksRequested(first, 1, 4), BlocksRequested(second, 5, 2)]
    bob.respond_blocks(second, (b"b5", b"b6"), clock.now)
    bob.respond_blocks(first, (b"b1",), clock.now)
    alice_events, _ = pump(clock, alice, bob)
    assert alice_events == [
        BlocksReceived(second, 5, (b"b5", b"b6")),
        BlocksReceived(first, 1, (b"b1",)),
    ]


def test_a_request_is_failed_when_its_deadline_passes(clock: FakeClock) -> None:
    alice, bob = connected(clock)
    request = alice.request_blocks(1, 2, clock.now)
    assert alice.get_timer() == pytest.approx(clock.now + 2.0)  # keepalive comes first
    assert alice.handle_timer(clock.advance(2.0)) == []
    assert alice.handle_timer(clock.advance(1.0)) == [
        BlockRequestFailed(request, 1, 2, "timed out")
    ]
    # A late answer to a timed-out request is dropped quietly ...
    pump(clock, alice, bob)
    bob.respond_blocks(request, (b"b1",), clock.now)
    alice_events, _ = pump(clock, alice, bob)
    assert alice_events == []
    assert alice.state is PeerState.ACTIVE
    # ... but an answer to a request id never issued is a protocol error.
    bob.respond_blocks(request + 100, (b"b1",), clock.now)
    alice_events, _ = pump(clock, alice, bob)
    assert closed(alice_events).reason is DisconnectReason.PROTOCOL_ERROR
    assert "unknown request id" in closed(alice_events).detail


def test_more_blocks_than_asked_is_a_protocol_error(clock: FakeClock) -> None:
    alice, bob = connected(clock)
    request = alice.request_blocks(1, 1, clock.now)
    pump(clock, alice, bob)
    events = alice.receive_data(
        encode_message(Blocks(request_id=request, blocks=(b"a", b"b"))), clock.now
    )
    assert "2 blocks in answer to a request for 1" in closed(events).detail


def test_closing_fails_pending_requests(clock: FakeClock) -> None:
    alice, _ = connected(clock)
    request = alice.request_blocks(3, 1, clock.now)
    events = alice.close(DisconnectReason.REQUESTED, "bye", clock.now)
    assert events[0] == BlockRequestFailed(request, 3, 1, "connection closed")
    assert closed(events).by_peer is False
    assert alice.close(DisconnectReason.REQUESTED, "again", clock.now) == []
    with pytest.raises(PeerNotReady):
        alice.send_status(1, b"\x00" * 32, clock.now)


def test_keepalive_pings_when_idle_and_pongs_keep_the_link(clock: FakeClock) -> None:
    alice, bob = connected(clock)
    for _ in range(5):  # 5 x 2 s: longer than idle_timeout, yet pings keep both alive
        clock.advance(2.0)
        alice.handle_timer(clock.now)
        bob.handle_timer(clock.now)
        pump(clock, alice, bob)
    assert alice.state is bob.state is PeerState.ACTIVE


def test_a_silent_peer_is_dropped_after_the_idle_timeout(clock: FakeClock) -> None:
    alice, _bob = connected(clock)
    clock.advance(2.0)
    alice.handle_timer(clock.now)
    ping = decode_frame(alice.data_to_send())
    assert isinstance(ping, Ping)  # sent, but bob never answers
    assert alice.get_timer() == pytest.approx(clock.now + 2.0)
    clock.advance(5.0)  # 7 s since anything arrived
    events = alice.handle_timer(clock.now)
    assert closed(events).reason is DisconnectReason.TIMEOUT
    assert "nothing received for 7 s" in closed(events).detail


def test_no_hello_within_the_handshake_timeout_closes(clock: FakeClock) -> None:
    alice = PeerConnection(hello(ALICE), BOB, clock.now, CONFIG)
    assert alice.get_timer() == pytest.approx(clock.now + 5.0)
    assert alice.handle_timer(clock.advance(4.9)) == []
    events = alice.handle_timer(clock.advance(0.1))
    assert closed(events).reason is DisconnectReason.TIMEOUT
    assert alice.get_timer() is None


def test_a_second_hello_is_a_protocol_error(clock: FakeClock) -> None:
    alice, _ = connected(clock)
    events = alice.receive_data(encode_message(hello(BOB)), clock.now)
    assert closed(events).detail == "second Hello"


def test_too_many_transactions_in_one_message_is_refused(clock: FakeClock) -> None:
    _alice, bob = connected(clock)
    from network.codec import Transactions

    events = bob.receive_data(encode_message(Transactions((b"1", b"2", b"3", b"4"))), clock.now)
    assert "4 transactions in one message, limit 3" in closed(events).detail


def test_a_flooding_peer_is_rate_limited(clock: FakeClock) -> None:
    _alice, bob = connected(clock)
    flood = b"".join(encode_message(Status(n, b"\x00" * 32)) for n in range(25))
    events = bob.receive_data(flood, clock.now)
    assert closed(events).reason is DisconnectReason.RATE_LIMITED
    assert sum(isinstance(event, StatusReceived) for event in events) == 19  # burst 20 - Hello


def test_the_message_rate_refills_with_time(clock: FakeClock) -> None:
    _alice, bob = connected(clock)
    for n in range(40):  # 40 messages over 8 s is within 10 per second
        clock.advance(0.2)
        events = bob.receive_data(encode_message(Status(n, b"\x00" * 32)), clock.now)
        assert events == [StatusReceived(n, b"\x00" * 32)]


def test_garbage_closes_with_a_protocol_error(clock: FakeClock) -> None:
    alice, _ = connected(clock)
    events = alice.receive_data(b"\x00\x00\x00\x02\x09\x00", clock.now)
    assert closed(events).reason is DisconnectReason.PROTOCOL_ERROR
    assert "codec version 9" in closed(events).detail


def test_a_get_blocks_for_more_than_the_limit_is_capped(clock: FakeClock) -> None:
    _alice, bob = connected(clock)
    events = bob.receive_data(encode_message(GetBlocks(7, 0, 1000)), clock.now)
    assert events == [BlocksRequested(7, 0, 4)]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(codec_messages.map(encode_message), st.binary(max_size=40)),
        max_size=12,
    ),
    st.booleans(),
)
def test_whatever_a_peer_sends_the_state_machine_never_raises(
    frames: list[bytes], say_hello_first: bool
) -> None:
    clock = FakeClock()
    alice = PeerConnection(hello(ALICE), BOB, clock.now, CONFIG)
    stream = ([encode_message(hello(BOB))] if say_hello_first else []) + frames
    closes = 0
    for chunk in stream:
        clock.advance(0.01)
        events = alice.receive_data(chunk, clock.now)
        events += alice.handle_timer(clock.now)
        closes += sum(isinstance(event, ConnectionClosed) for event in events)
        if alice.state is PeerState.ACTIVE:
            assert alice.remote_hello == hello(BOB)
    assert closes == (1 if alice.closed else 0)
    assert (alice.get_timer() is None) is alice.closed
