"""One peer connection's protocol state, sans-io: bytes and `now` in, events and bytes out.

Everything that affects a connection's state lives here (h11 style): the Hello handshake, keepalive
and idle deadlines, sync request ids and their deadlines, size and rate limits. The object never
touches a socket, a loop or a clock; the transport feeds it received bytes with the current time
(`receive_data`), asks what to send (`data_to_send`), when to wake it (`get_timer`) and wakes it
(`handle_timer`). Two objects connected back to back in a test behave exactly as over TLS.

Rules kept:
- each side sends Hello first; nothing but Hello (or Disconnect) is accepted before the peer's
  Hello, and a Hello that disagrees on protocol version, chain id, genesis hash or the node address
  TLS authenticated closes the connection with that specific reason;
- every protocol fault closes the connection: a Disconnect with the reason is queued, the state
  becomes CLOSED, one `ConnectionClosed` event is emitted, and pending block requests fail;
- a block response must answer a request id we issued (open, or timed out recently: then it is
  dropped) and hold at most the blocks asked for;
- the peer may not exceed the message and byte rates (token buckets), nor the per-message limits.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from dataclasses import dataclass, field

from network.codec import (
    MAX_FRAME_SIZE,
    UINT64_MAX,
    Blocks,
    CodecError,
    ConsensusMessage,
    Disconnect,
    DisconnectReason,
    FrameDecoder,
    GetBlocks,
    Hello,
    Message,
    Ping,
    Pong,
    Status,
    Transactions,
    encode_message,
)
from network.identity import NodeAddress, format_address

TIMED_OUT_MEMORY = 64
"""How many timed-out request ids are remembered, so late answers to them are dropped quietly."""


@dataclass(frozen=True)
class PeerConfig:
    """Limits and deadlines of one connection; seconds are in the caller's clock."""

    handshake_timeout: float = 10.0
    keepalive_interval: float = 5.0
    idle_timeout: float = 20.0
    """Close when nothing at all arrived for this long (Pings arrive every keepalive_interval)."""
    request_timeout: float = 10.0
    max_blocks_per_request: int = 128
    max_pending_requests: int = 8
    max_transactions_per_message: int = 4096
    max_frame_size: int = MAX_FRAME_SIZE
    messages_per_second: float = 5000.0
    message_burst: float = 10000.0
    bytes_per_second: float = 64.0 * 1024 * 1024
    byte_burst: float = 128.0 * 1024 * 1024


class PeerState(enum.Enum):
    """Where the connection is: waiting for the peer's Hello, active, or closed."""

    AWAITING_HELLO = "awaiting-hello"
    ACTIVE = "active"
    CLOSED = "closed"


class PeerNotReady(Exception):
    """An operation needs an active connection (handshake done, not closed)."""


class TooManyRequests(Exception):
    """Another block request would exceed `max_pending_requests` to this peer."""


@dataclass(frozen=True)
class HandshakeCompleted:
    """The peer's Hello matched our chain; the connection is active."""

    hello: Hello


@dataclass(frozen=True)
class TransactionsReceived:
    """The peer gossiped these raw transactions."""

    raw_transactions: tuple[bytes, ...]


@dataclass(frozen=True)
class ConsensusReceived:
    """The peer sent an opaque consensus message."""

    code: int
    data: bytes


@dataclass(frozen=True)
class StatusReceived:
    """The peer announced a new head."""

    head_number: int
    head_hash: bytes


@dataclass(frozen=True)
class BlocksRequested:
    """The peer asks for blocks; `count` is already capped to `max_blocks_per_request`."""

    request_id: int
    start: int
    count: int


@dataclass(frozen=True)
class BlocksReceived:
    """The answer to our request `request_id` for blocks from `start`."""

    request_id: int
    start: int
    blocks: tuple[bytes, ...]


@dataclass(frozen=True)
class BlockRequestFailed:
    """Our request `request_id` got no answer: it timed out or the connection closed."""

    request_id: int
    start: int
    count: int
    reason: str


@dataclass(frozen=True)
class ConnectionClosed:
    """The connection is over. `by_peer` tells who closed it; the reason is logged by the caller."""

    reason: DisconnectReason
    detail: str
    by_peer: bool


PeerEvent = (
    HandshakeCompleted
    | TransactionsReceived
    | ConsensusReceived
    | StatusReceived
    | BlocksRequested
    | BlocksReceived
    | BlockRequestFailed
    | ConnectionClosed
)


@dataclass
class TokenBucket:
    """A refilling allowance: `rate` per second up to `burst`; time comes from the caller."""

    rate: float
    burst: float
    tokens: float
    updated: float

    def take(self, amount: float, now: float) -> bool:
        """Refill for the time passed, then take `amount`; return False when there is not enough."""
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
        self.updated = now
        if self.tokens < amount:
            return False
        self.tokens -= amount
        return True


@dataclass(frozen=True)
class _PendingRequest:
    start: int
    count: int
    deadline: float


@dataclass
class PeerConnection:
    """The protocol state of one connection to `expected_address`.

    Construct it when TLS is up (the peer's certificate already admitted); it queues our Hello at
    once. `local_hello.head_*` is our head at that moment; later heads go out as Status.
    """

    local_hello: Hello
    expected_address: NodeAddress
    now: float
    config: PeerConfig = field(default_factory=PeerConfig)

    def __post_init__(self) -> None:
        self.state = PeerState.AWAITING_HELLO
        self.remote_hello: Hello | None = None
        self.remote_head: tuple[int, bytes] | None = None
        self._decoder = FrameDecoder(self.config.max_frame_size)
        self._outgoing = bytearray()
        self._handshake_deadline = self.now + self.config.handshake_timeout
        self._last_received = self.now
        self._last_sent = self.now
        self._next_request_id = 1
        self._next_ping_nonce = 1
        self._pending: dict[int, _PendingRequest] = {}
        self._timed_out: OrderedDict[int, int] = OrderedDict()  # id -> count asked, oldest first
        self._message_bucket = TokenBucket(
            self.config.messages_per_second,
            self.config.message_burst,
            self.config.message_burst,
            self.now,
        )
        self._byte_bucket = TokenBucket(
            self.config.bytes_per_second, self.config.byte_burst, self.config.byte_burst, self.now
        )
        self._send(self.local_hello, self.now)

    @property
    def closed(self) -> bool:
        """True once either side closed the connection."""
        return self.state is PeerState.CLOSED

    # -- output ---------------------------------------------------------------------------------

    def data_to_send(self) -> bytes:
        """Return and forget the bytes queued for the peer."""
        data = bytes(self._outgoing)
        self._outgoing.clear()
        return data

    def _send(self, message: Message, now: float) -> None:
        self._outgoing += encode_message(message)
        self._last_sent = now

    def _require_active(self) -> None:
        if self.state is not PeerState.ACTIVE:
            raise PeerNotReady(
                f"connection to {format_address(self.expected_address)} is {self.state.value}"
            )

    def send_transactions(self, raw_transactions: tuple[bytes, ...], now: float) -> None:
        """Queue transaction gossip; raise PeerNotReady unless active."""
        self._require_active()
        limit = self.config.max_transactions_per_message
        for offset in range(0, len(raw_transactions), limit):
            self._send(Transactions(raw_transactions[offset : offset + limit]), now)

    def send_consensus(self, code: int, data: bytes, now: float) -> None:
        """Queue an opaque consensus message; raise PeerNotReady unless active."""
        self._require_active()
        self._send(ConsensusMessage(code=code, data=data), now)

    def send_status(self, head_number: int, head_hash: bytes, now: float) -> None:
        """Queue a head announcement; raise PeerNotReady unless active."""
        self._require_active()
        self._send(Status(head_number=head_number, head_hash=head_hash), now)

    def request_blocks(self, start: int, count: int, now: float) -> int:
        """Queue a sync request; return its request id.

        `count` is capped to `max_blocks_per_request`. Raises PeerNotReady unless active and
        TooManyRequests when `max_pending_requests` are already open.
        """
        self._require_active()
        if len(self._pending) >= self.config.max_pending_requests:
            raise TooManyRequests(
                f"{len(self._pending)} block requests already open to "
                f"{format_address(self.expected_address)}"
            )
        count = max(1, min(count, self.config.max_blocks_per_request))
        request_id = self._next_request_id
        self._next_request_id = request_id + 1 if request_id < UINT64_MAX else 1
        self._pending[request_id] = _PendingRequest(
            start=start, count=count, deadline=now + self.config.request_timeout
        )
        self._send(GetBlocks(request_id=request_id, start=start, count=count), now)
        return request_id

    def respond_blocks(self, request_id: int, blocks: tuple[bytes, ...], now: float) -> None:
        """Queue the answer to the peer's BlocksRequested; raise PeerNotReady unless active."""
        self._require_active()
        self._send(Blocks(request_id=request_id, blocks=blocks), now)

    def close(self, reason: DisconnectReason, detail: str, now: float) -> list[PeerEvent]:
        """Queue a Disconnect and close; return the closing events (none if already closed)."""
        if self.state is PeerState.CLOSED:
            return []
        self._send(Disconnect(reason=reason, detail=detail[:200]), now)
        return self._closed(reason, detail, by_peer=False)

    def connection_lost(self, detail: str) -> list[PeerEvent]:
        """The transport lost the connection without a Disconnect; return the closing events."""
        if self.state is PeerState.CLOSED:
            return []
        return self._closed(DisconnectReason.REQUESTED, detail, by_peer=True)

    def _closed(self, reason: DisconnectReason, detail: str, *, by_peer: bool) -> list[PeerEvent]:
        self.state = PeerState.CLOSED
        events: list[PeerEvent] = [
            BlockRequestFailed(request_id, pending.start, pending.count, "connection closed")
            for request_id, pending in sorted(self._pending.items())
        ]
        self._pending.clear()
        events.append(ConnectionClosed(reason=reason, detail=detail, by_peer=by_peer))
        return events

    # -- input ----------------------------------------------------------------------------------

    def receive_data(self, data: bytes, now: float) -> list[PeerEvent]:
        """Feed bytes received from the peer; return the events they cause, in order."""
        if self.state is PeerState.CLOSED or not data:
            return []
        self._last_received = now
        if not self._byte_bucket.take(len(data), now):
            return self.close(DisconnectReason.RATE_LIMITED, "byte rate exceeded", now)
        try:
            messages = self._decoder.feed(data)
        except CodecError as error:
            return self.close(DisconnectReason.PROTOCOL_ERROR, str(error), now)
        events: list[PeerEvent] = []
        for message in messages:
            if self.closed:
                break
            if not self._message_bucket.take(1, now):
                events += self.close(DisconnectReason.RATE_LIMITED, "message rate exceeded", now)
                break
            events += self._handle(message, now)
        return events

    def _handle(self, message: Message, now: float) -> list[PeerEvent]:
        if isinstance(message, Disconnect):
            return self._closed(message.reason, message.detail, by_peer=True)
        if self.state is PeerState.AWAITING_HELLO:
            if not isinstance(message, Hello):
                return self.close(
                    DisconnectReason.PROTOCOL_ERROR,
                    f"{type(message).__name__} before Hello",
                    now,
                )
            return self._handle_hello(message, now)
        return self._handle_active(message, now)

    def _handle_hello(self, hello: Hello, now: float) -> list[PeerEvent]:
        ours = self.local_hello
        if hello.protocol_version != ours.protocol_version:
            return self.close(
                DisconnectReason.INCOMPATIBLE_VERSION,
                f"peer speaks protocol version {hello.protocol_version}, "
                f"this node {ours.protocol_version}",
                now,
            )
        if hello.chain_id != ours.chain_id:
            return self.close(
                DisconnectReason.WRONG_CHAIN_ID,
                f"peer follows chain id {hello.chain_id}, this node chain id {ours.chain_id}",
                now,
            )
        if hello.genesis_hash != ours.genesis_hash:
            return self.close(
                DisconnectReason.WRONG_GENESIS,
                f"peer's genesis is 0x{hello.genesis_hash.hex()}, "
                f"this node's 0x{ours.genesis_hash.hex()}",
                now,
            )
        if hello.node_address != self.expected_address:
            return self.close(
                DisconnectReason.WRONG_NODE_ADDRESS,
                f"Hello names {format_address(hello.node_address)} but the TLS certificate "
                f"binds {format_address(self.expected_address)}",
                now,
            )
        self.state = PeerState.ACTIVE
        self.remote_hello = hello
        self.remote_head = (hello.head_number, hello.head_hash)
        return [HandshakeCompleted(hello)]

    def _handle_active(self, message: Message, now: float) -> list[PeerEvent]:  # noqa: PLR0911
        match message:
            case Hello():
                return self.close(DisconnectReason.PROTOCOL_ERROR, "second Hello", now)
            case Ping():
                self._send(Pong(nonce=message.nonce), now)
                return []
            case Pong():
                return []
            case Status():
                self.remote_head = (message.head_number, message.head_hash)
                return [StatusReceived(message.head_number, message.head_hash)]
            case Transactions():
                if len(message.raw_transactions) > self.config.max_transactions_per_message:
                    return self.close(
                        DisconnectReason.PROTOCOL_ERROR,
                        f"{len(message.raw_transactions)} transactions in one message, limit "
                        f"{self.config.max_transactions_per_message}",
                        now,
                    )
                return [TransactionsReceived(message.raw_transactions)]
            case ConsensusMessage():
                return [ConsensusReceived(message.code, message.data)]
            case GetBlocks():
                count = min(message.count, self.config.max_blocks_per_request)
                return [BlocksRequested(message.request_id, message.start, count)]
            case Blocks():
                return self._handle_blocks(message, now)
        return []  # pragma: no cover - Disconnect is handled before; the match is exhaustive

    def _handle_blocks(self, message: Blocks, now: float) -> list[PeerEvent]:
        pending = self._pending.pop(message.request_id, None)
        if pending is None and message.request_id in self._timed_out:
            # A slow peer answering after our deadline is not misbehaving; the caller already
            # got BlockRequestFailed and asked elsewhere, so the late answer is dropped.
            asked = self._timed_out.pop(message.request_id)
            if len(message.blocks) > asked:
                return self.close(
                    DisconnectReason.PROTOCOL_ERROR,
                    f"{len(message.blocks)} blocks in answer to a request for {asked}",
                    now,
                )
            return []
        if pending is None:
            return self.close(
                DisconnectReason.PROTOCOL_ERROR,
                f"Blocks answer unknown request id {message.request_id}",
                now,
            )
        if len(message.blocks) > pending.count:
            return self.close(
                DisconnectReason.PROTOCOL_ERROR,
                f"{len(message.blocks)} blocks in answer to a request for {pending.count}",
                now,
            )
        return [BlocksReceived(message.request_id, pending.start, message.blocks)]

    # -- time -----------------------------------------------------------------------------------

    def get_timer(self) -> float | None:
        """Return when `handle_timer` must next run, or None once closed."""
        if self.state is PeerState.CLOSED:
            return None
        deadlines = [self._last_received + self.config.idle_timeout]
        if self.state is PeerState.AWAITING_HELLO:
            deadlines.append(self._handshake_deadline)
        else:
            deadlines.append(self._last_sent + self.config.keepalive_interval)
        deadlines += [pending.deadline for pending in self._pending.values()]
        return min(deadlines)

    def handle_timer(self, now: float) -> list[PeerEvent]:
        """Act on every deadline at or before `now`; return the events that causes."""
        if self.state is PeerState.CLOSED:
            return []
        if self.state is PeerState.AWAITING_HELLO and now >= self._handshake_deadline:
            return self.close(
                DisconnectReason.TIMEOUT,
                f"no Hello within {self.config.handshake_timeout:g} s",
                now,
            )
        if now >= self._last_received + self.config.idle_timeout:
            return self.close(
                DisconnectReason.TIMEOUT,
                f"nothing received for {self.config.idle_timeout:g} s",
                now,
            )
        events: list[PeerEvent] = []
        for request_id, pending in sorted(self._pending.items()):
            if now >= pending.deadline:
                del self._pending[request_id]
                self._timed_out[request_id] = pending.count
                while len(self._timed_out) > TIMED_OUT_MEMORY:
                    self._timed_out.popitem(last=False)
                events.append(
                    BlockRequestFailed(request_id, pending.start, pending.count, "timed out")
                )
        if (
            self.state is PeerState.ACTIVE
            and now >= self._last_sent + self.config.keepalive_interval
        ):
            self._send(Ping(nonce=self._next_ping_nonce), now)
            self._next_ping_nonce = self._next_ping_nonce % UINT64_MAX + 1
        return events
