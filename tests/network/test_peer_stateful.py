"""Two PeerConnections driven by random schedules: sends, requests, answers, partial deliveries
and time passing. Invariants hold after every step; at the end every request has ended exactly
once. No sockets, a fake clock.
"""

from __future__ import annotations

from collections import Counter

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from network.peer import (
    BlockRequestFailed,
    BlocksReceived,
    BlocksRequested,
    ConnectionClosed,
    ConsensusReceived,
    PeerConfig,
    PeerConnection,
    PeerEvent,
    StatusReceived,
    TransactionsReceived,
)

from .conftest import FakeClock
from .support import ALICE, BOB, hello

CONFIG = PeerConfig(
    handshake_timeout=5.0,
    keepalive_interval=2.0,
    idle_timeout=7.0,
    request_timeout=3.0,
    max_blocks_per_request=4,
    max_pending_requests=3,
    max_transactions_per_message=3,
)


class TwoPeers(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.alice = PeerConnection(hello(ALICE), BOB, self.clock.now, CONFIG)
        self.bob = PeerConnection(hello(BOB), ALICE, self.clock.now, CONFIG)
        self.to_bob = bytearray()
        self.to_alice = bytearray()
        self.sent: list[PeerEvent] = []  # what bob must see, in order
        self.seen: list[PeerEvent] = []
        self.asked: dict[int, int] = {}  # request id -> count asked
        self.ended: Counter[int] = Counter()
        self.to_answer: list[BlocksRequested] = []
        self.closes = 0
        self._collect()
        self.deliver_everything()

    # -- plumbing ---------------------------------------------------------------------------

    def _collect(self) -> None:
        self.to_bob += self.alice.data_to_send()
        self.to_alice += self.bob.data_to_send()

    def _alice_events(self, events: list[PeerEvent]) -> None:
        for event in events:
            if isinstance(event, BlocksReceived | BlockRequestFailed):
                self.ended[event.request_id] += 1
                if isinstance(event, BlocksReceived):
                    assert len(event.blocks) <= self.asked[event.request_id]
            elif isinstance(event, ConnectionClosed):
                self.closes += 1

    def _bob_events(self, events: list[PeerEvent]) -> None:
        for event in events:
            if isinstance(event, BlocksRequested):
                self.to_answer.append(event)
            elif isinstance(event, TransactionsReceived | ConsensusReceived | StatusReceived):
                self.seen.append(event)
            elif isinstance(event, ConnectionClosed):
                self.closes += 1

    def deliver_everything(self) -> None:
        while self.to_bob or self.to_alice:
            self.deliver(len(self.to_bob), len(self.to_alice))

    def deliver(self, to_bob: int, to_alice: int) -> None:
        chunk_bob, chunk_alice = bytes(self.to_bob[:to_bob]), bytes(self.to_alice[:to_alice])
        del self.to_bob[:to_bob]
        del self.to_alice[:to_alice]
        self._bob_events(self.bob.receive_data(chunk_bob, self.clock.now))
        self._alice_events(self.alice.receive_data(chunk_alice, self.clock.now))
        self._collect()

    # -- rules --------------------------------------------------------------------------------

    @rule(raws=st.lists(st.binary(min_size=1, max_size=8), min_size=1, max_size=7))
    def gossip(self, raws: list[bytes]) -> None:
        self.alice.send_transactions(tuple(raws), self.clock.now)
        for offset in range(0, len(raws), 3):
            self.sent.append(TransactionsReceived(tuple(raws[offset : offset + 3])))
        self._collect()

    @rule(code=st.integers(0x12, 0x15), data=st.binary(max_size=16))
    def consensus(self, code: int, data: bytes) -> None:
        self.alice.send_consensus(code, data, self.clock.now)
        self.sent.append(ConsensusReceived(code, data))
        self._collect()

    @rule(number=st.integers(0, 1000))
    def status(self, number: int) -> None:
        self.alice.send_status(number, bytes(32), self.clock.now)
        self.sent.append(StatusReceived(number, bytes(32)))
        self._collect()

    @precondition(lambda self: len(self.asked) - sum(self.ended.values()) < 3)
    @rule(start=st.integers(0, 100), count=st.integers(1, 10))
    def request(self, start: int, count: int) -> None:
        request_id = self.alice.request_blocks(start, count, self.clock.now)
        assert request_id not in self.asked
        self.asked[request_id] = min(count, 4)
        self._collect()

    @precondition(lambda self: bool(self.to_answer))
    @rule(index=st.integers(0, 10), size=st.integers(0, 4))
    def answer(self, index: int, size: int) -> None:
        request = self.to_answer.pop(index % len(self.to_answer))
        blocks = tuple(bytes([n]) for n in range(min(size, request.count)))
        self.bob.respond_blocks(request.request_id, blocks, self.clock.now)
        self._collect()

    @rule(to_bob=st.integers(0, 64), to_alice=st.integers(0, 64))
    def deliver_part(self, to_bob: int, to_alice: int) -> None:
        self.deliver(to_bob, to_alice)

    @rule(seconds=st.floats(0.0, 1.5))
    def time_passes(self, seconds: float) -> None:
        self.deliver_everything()  # a live link: bytes flow at least this often
        self.clock.advance(seconds)
        self._alice_events(self.alice.handle_timer(self.clock.now))
        self._bob_events(self.bob.handle_timer(self.clock.now))
        self._collect()

    # -- invariants ---------------------------------------------------------------------------

    @invariant()
    def nobody_closes_an_honest_link(self) -> None:
        assert self.closes == 0
        assert not self.alice.closed and not self.bob.closed

    @invariant()
    def bob_sees_alices_messages_in_order(self) -> None:
        assert self.seen == self.sent[: len(self.seen)]

    @invariant()
    def a_request_ends_at_most_once(self) -> None:
        assert all(count <= 1 for count in self.ended.values())
        timer = self.alice.get_timer()
        assert timer is not None and timer > self.clock.now - 1e-9

    def teardown(self) -> None:
        self.deliver_everything()
        assert self.seen == self.sent
        for _ in range(4):  # past every request deadline, pinging as a live link does
            self.clock.advance(1.0)
            self._alice_events(self.alice.handle_timer(self.clock.now))
            self._bob_events(self.bob.handle_timer(self.clock.now))
            self._collect()
            self.deliver_everything()
        assert set(self.ended) == set(self.asked)
        assert all(count == 1 for count in self.ended.values())
        assert self.closes == 0


TwoPeers.TestCase.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
test_two_peers_under_random_schedules = TwoPeers.TestCase
