"""The wire format between consortium nodes: length-prefixed frames carrying versioned messages.

Sans-io: bytes in, messages out; nothing here touches a socket or a clock.

A frame is `length(4, big-endian) || codec_version(1) || kind(1) || body`, where `length` counts
everything after itself and `body` is the RLP of the message's fields. Rules this module keeps:

- decoding is strict and canonical: any byte string either decodes to exactly one message, whose
  encoding is that same byte string, or raises a `CodecError` subclass naming what is wrong; no
  other exception escapes, whatever the input (fuzzed with Hypothesis in tests/network);
- a frame longer than the decoder's `max_frame_size` is refused from its 4-byte header, before its
  body is buffered, so a peer cannot make us hold more than that;
- integers are unsigned, at most 64 bits, minimal big-endian (no leading zero byte), as in RLP;
- consensus payloads and blocks are opaque bytes: their meaning belongs to the node.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import rlp
from rlp.exceptions import RLPException

CODEC_VERSION: Final = 1
"""Frame layout version; a peer sending another value is refused (UnsupportedCodecVersion)."""

PROTOCOL_VERSION: Final = 1
"""Message semantics version, carried in Hello; both ends must agree."""

HEADER_SIZE: Final = 4
MAX_FRAME_SIZE: Final = 16 * 1024 * 1024
"""Default upper bound on one frame: room for a range of full blocks, small enough to buffer."""

MAX_DETAIL_BYTES: Final = 256
MAX_CLIENT_BYTES: Final = 64
UINT64_MAX: Final = 2**64 - 1


class CodecError(Exception):
    """Bytes from a peer are not a valid frame or message; the message says exactly why."""


class FrameTooLarge(CodecError):
    """A frame's length header exceeds the allowed maximum."""


class UnsupportedCodecVersion(CodecError):
    """A frame names a codec version this node does not speak."""


class UnknownMessageKind(CodecError):
    """A frame names a message kind this codec version does not define."""


class MalformedMessage(CodecError):
    """A message body does not have the fields, types or sizes its kind requires."""


class MessageKind(enum.IntEnum):
    """The kind byte of a frame."""

    HELLO = 0x00
    DISCONNECT = 0x01
    PING = 0x02
    PONG = 0x03
    STATUS = 0x04
    TRANSACTIONS = 0x10
    CONSENSUS = 0x11
    GET_BLOCKS = 0x20
    BLOCKS = 0x21


class DisconnectReason(enum.IntEnum):
    """Why a side closes the connection; sent in Disconnect and logged by both ends."""

    REQUESTED = 0
    PROTOCOL_ERROR = 1
    INCOMPATIBLE_VERSION = 2
    WRONG_CHAIN_ID = 3
    WRONG_GENESIS = 4
    WRONG_NODE_ADDRESS = 5
    TIMEOUT = 6
    RATE_LIMITED = 7
    DUPLICATE_CONNECTION = 8
    NOT_PERMITTED = 9
    SHUTTING_DOWN = 10


@dataclass(frozen=True)
class Hello:
    """The first message each side sends: who it is and which chain it follows."""

    protocol_version: int
    chain_id: int
    genesis_hash: bytes
    node_address: bytes
    head_number: int
    head_hash: bytes
    client: str = "mykey-ledger"


@dataclass(frozen=True)
class Disconnect:
    """The last message before closing; `detail` is a short text for the other side's log."""

    reason: DisconnectReason
    detail: str = ""


@dataclass(frozen=True)
class Ping:
    """Keepalive probe; the peer answers with a Pong of the same nonce."""

    nonce: int


@dataclass(frozen=True)
class Pong:
    """Keepalive answer."""

    nonce: int


@dataclass(frozen=True)
class Status:
    """Head announcement: the sender's latest finalized block."""

    head_number: int
    head_hash: bytes


@dataclass(frozen=True)
class Transactions:
    """Transaction gossip: signed raw transactions (EIP-2718 bytes)."""

    raw_transactions: tuple[bytes, ...]


@dataclass(frozen=True)
class ConsensusMessage:
    """An opaque QBFT message: its Besu message code (0x12..0x15) and RLP data."""

    code: int
    data: bytes


@dataclass(frozen=True)
class GetBlocks:
    """Sync request: up to `count` finalized blocks from number `start`, ascending."""

    request_id: int
    start: int
    count: int


@dataclass(frozen=True)
class Blocks:
    """Sync response to the GetBlocks with the same `request_id`: RLP-encoded blocks, ascending.

    Fewer blocks than asked means the sender caps ranges or has no more; none means it has no
    block at `start`. The requester continues from the last block it received.
    """

    request_id: int
    blocks: tuple[bytes, ...]


Message = (
    Hello | Disconnect | Ping | Pong | Status | Transactions | ConsensusMessage | GetBlocks | Blocks
)


def _uint(value: int) -> bytes:
    if not 0 <= value <= UINT64_MAX:
        raise MalformedMessage(f"integer {value} is outside 0..2^64-1")
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def _text(value: str, limit: int, name: str) -> bytes:
    raw = value.encode("utf-8")
    if len(raw) > limit:
        raise MalformedMessage(f"{name} is {len(raw)} bytes, at most {limit} allowed")
    return raw


def _fields(message: Message) -> tuple[MessageKind, list[object]]:  # noqa: PLR0911 - one per kind
    match message:
        case Hello():
            return MessageKind.HELLO, [
                _uint(message.protocol_version),
                _uint(message.chain_id),
                message.genesis_hash,
                message.node_address,
                _uint(message.head_number),
                message.head_hash,
                _text(message.client, MAX_CLIENT_BYTES, "client"),
            ]
        case Disconnect():
            return MessageKind.DISCONNECT, [
                _uint(message.reason.value),
                _text(message.detail, MAX_DETAIL_BYTES, "detail"),
            ]
        case Ping():
            return MessageKind.PING, [_uint(message.nonce)]
        case Pong():
            return MessageKind.PONG, [_uint(message.nonce)]
        case Status():
            return MessageKind.STATUS, [_uint(message.head_number), message.head_hash]
        case Transactions():
            return MessageKind.TRANSACTIONS, [list(message.raw_transactions)]
        case ConsensusMessage():
            return MessageKind.CONSENSUS, [_uint(message.code), message.data]
        case GetBlocks():
            return MessageKind.GET_BLOCKS, [
                _uint(message.request_id),
                _uint(message.start),
                _uint(message.count),
            ]
        case Blocks():
            return MessageKind.BLOCKS, [_uint(message.request_id), list(message.blocks)]


def _check_sizes(message: Message) -> None:
    """Refuse to encode what a strict decoder would refuse, so round trips hold."""
    if isinstance(message, Hello | Status) and len(message.head_hash) != 32:
        raise MalformedMessage("head_hash must be 32 bytes")
    if isinstance(message, Hello):
        if len(message.genesis_hash) != 32:
            raise MalformedMessage("genesis_hash must be 32 bytes")
        if len(message.node_address) != 20:
            raise MalformedMessage("node_address must be 20 bytes")


def encode_message(message: Message) -> bytes:
    """Return the complete frame (length header included) for `message`.

    Raises MalformedMessage when a field is out of range (an integer above 2^64-1, a hash of the
    wrong length, a detail text over 256 bytes).
    """
    _check_sizes(message)
    kind, fields = _fields(message)
    body = bytes([CODEC_VERSION, kind.value]) + bytes(rlp.encode(fields))
    return struct.pack(">I", len(body)) + body


def _as_uint(item: object, name: str) -> int:
    if not isinstance(item, bytes):
        raise MalformedMessage(f"{name} must be a byte string, got a list")
    if len(item) > 8:
        raise MalformedMessage(f"{name} is {len(item)} bytes, at most 8 (64-bit) allowed")
    if item[:1] == b"\x00":
        raise MalformedMessage(f"{name} has a leading zero byte (integers are minimal)")
    return int.from_bytes(item, "big")


def _as_bytes(item: object, name: str, size: int | None = None) -> bytes:
    if not isinstance(item, bytes):
        raise MalformedMessage(f"{name} must be a byte string, got a list")
    if size is not None and len(item) != size:
        raise MalformedMessage(f"{name} must be {size} bytes, got {len(item)}")
    return item


def _as_text(item: object, name: str, limit: int) -> str:
    raw = _as_bytes(item, name)
    if len(raw) > limit:
        raise MalformedMessage(f"{name} is {len(raw)} bytes, at most {limit} allowed")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise MalformedMessage(f"{name} is not UTF-8: {error}") from error


def _as_byte_list(item: object, name: str) -> tuple[bytes, ...]:
    if not isinstance(item, list):
        raise MalformedMessage(f"{name} must be a list of byte strings")
    return tuple(_as_bytes(entry, f"{name}[{index}]") for index, entry in enumerate(item))


def _expect(fields: Sequence[object], count: int, kind: MessageKind) -> None:
    if len(fields) != count:
        raise MalformedMessage(f"{kind.name} has {len(fields)} fields, expected {count}")


def _build(kind: MessageKind, fields: Sequence[object]) -> Message:  # noqa: PLR0911 - one per kind
    match kind:
        case MessageKind.HELLO:
            _expect(fields, 7, kind)
            return Hello(
                protocol_version=_as_uint(fields[0], "protocol_version"),
                chain_id=_as_uint(fields[1], "chain_id"),
                genesis_hash=_as_bytes(fields[2], "genesis_hash", 32),
                node_address=_as_bytes(fields[3], "node_address", 20),
                head_number=_as_uint(fields[4], "head_number"),
                head_hash=_as_bytes(fields[5], "head_hash", 32),
                client=_as_text(fields[6], "client", MAX_CLIENT_BYTES),
            )
        case MessageKind.DISCONNECT:
            _expect(fields, 2, kind)
            code = _as_uint(fields[0], "reason")
            try:
                reason = DisconnectReason(code)
            except ValueError as error:
                raise MalformedMessage(f"disconnect reason {code} is not defined") from error
            return Disconnect(reason=reason, detail=_as_text(fields[1], "detail", MAX_DETAIL_BYTES))
        case MessageKind.PING:
            _expect(fields, 1, kind)
            return Ping(nonce=_as_uint(fields[0], "nonce"))
        case MessageKind.PONG:
            _expect(fields, 1, kind)
            return Pong(nonce=_as_uint(fields[0], "nonce"))
        case MessageKind.STATUS:
            _expect(fields, 2, kind)
            return Status(
                head_number=_as_uint(fields[0], "head_number"),
                head_hash=_as_bytes(fields[1], "head_hash", 32),
            )
        case MessageKind.TRANSACTIONS:
            _expect(fields, 1, kind)
            return Transactions(raw_transactions=_as_byte_list(fields[0], "raw_transactions"))
        case MessageKind.CONSENSUS:
            _expect(fields, 2, kind)
            return ConsensusMessage(
                code=_as_uint(fields[0], "code"), data=_as_bytes(fields[1], "data")
            )
        case MessageKind.GET_BLOCKS:
            _expect(fields, 3, kind)
            return GetBlocks(
                request_id=_as_uint(fields[0], "request_id"),
                start=_as_uint(fields[1], "start"),
                count=_as_uint(fields[2], "count"),
            )
        case MessageKind.BLOCKS:
            _expect(fields, 2, kind)
            return Blocks(
                request_id=_as_uint(fields[0], "request_id"),
                blocks=_as_byte_list(fields[1], "blocks"),
            )


def decode_payload(payload: bytes) -> Message:
    """Decode one frame's payload (everything after the 4-byte length) into a message.

    Raises UnsupportedCodecVersion, UnknownMessageKind or MalformedMessage (all CodecError).
    """
    if len(payload) < 2:
        raise MalformedMessage(f"a frame needs a version and a kind byte, got {len(payload)} bytes")
    if payload[0] != CODEC_VERSION:
        raise UnsupportedCodecVersion(
            f"frame codec version {payload[0]} is not supported (this node speaks {CODEC_VERSION})"
        )
    try:
        kind = MessageKind(payload[1])
    except ValueError as error:
        raise UnknownMessageKind(f"message kind {payload[1]:#04x} is not defined") from error
    try:
        fields = rlp.decode(payload[2:], strict=True)
    except (RLPException, RecursionError) as error:
        raise MalformedMessage(f"{kind.name} body is not canonical RLP: {error}") from error
    if not isinstance(fields, list):
        raise MalformedMessage(f"{kind.name} body must be an RLP list")
    return _build(kind, fields)


def decode_frame(frame: bytes, max_frame_size: int = MAX_FRAME_SIZE) -> Message:
    """Decode exactly one complete frame (with its length header); raise CodecError otherwise."""
    decoder = FrameDecoder(max_frame_size)
    messages = decoder.feed(frame)
    if decoder.buffered:
        raise MalformedMessage(f"{decoder.buffered} bytes left over after the frame")
    if len(messages) != 1:
        raise MalformedMessage(f"expected one frame, found {len(messages)}")
    return messages[0]


class FrameDecoder:
    """Splits a byte stream into frames and decodes them.

    After it raises once, the stream is out of step and the decoder refuses further input: the
    connection must be closed.
    """

    def __init__(self, max_frame_size: int = MAX_FRAME_SIZE) -> None:
        self._max_frame_size = max_frame_size
        self._buffer = bytearray()
        self._failed: CodecError | None = None

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a complete frame."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Message]:
        """Add received bytes; return every message now complete, in order.

        Raises FrameTooLarge as soon as a header announces an oversized frame, and the other
        CodecError subclasses for a bad payload.
        """
        if self._failed is not None:
            raise CodecError(f"stream already failed: {self._failed}")
        self._buffer += data
        messages: list[Message] = []
        try:
            while len(self._buffer) >= HEADER_SIZE:
                (length,) = struct.unpack_from(">I", self._buffer)
                if length > self._max_frame_size:
                    raise FrameTooLarge(
                        f"frame of {length} bytes exceeds the limit of {self._max_frame_size}"
                    )
                if len(self._buffer) < HEADER_SIZE + length:
                    break
                payload = bytes(self._buffer[HEADER_SIZE : HEADER_SIZE + length])
                del self._buffer[: HEADER_SIZE + length]
                messages.append(decode_payload(payload))
        except CodecError as error:
            self._failed = error
            raise
        return messages
