"""The consensus write-ahead log: its byte format, and replay through the same `step`.

Rule kept by the driver: every input event is appended (and flushed) *before* `step` runs on it, so
after a crash `replay` feeds the log through `step` again and rebuilds the very state the validator
had, including what it signed: it cannot sign a second, different block for one height and round.
Blocks built for a proposal come back as logged `BlockBuilt` events for the same reason.

A log holds one height: the driver starts a new segment at each new chain head, carrying the
messages that were buffered for later heights (`start_segment`), so the log stays small.

Record format: length (4 bytes, big-endian) ‖ crc32 of the body (4 bytes) ‖ body, where the body is
RLP([kind, now_ms, fields...]). A torn last record (cut short by the crash) is ignored; damage
anywhere before the last record raises WalCorrupted, because replaying past it could forget a
signature.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from node.consensus import rlp_codec as rlp
from node.consensus.events import (
    Action,
    BlockBuilt,
    BlockTimerExpired,
    Broadcast,
    BuildBlock,
    CommitBlock,
    Event,
    MessageReceived,
    NewChainHead,
    RoundTimerExpired,
    ScheduleTimer,
    StartHeight,
)
from node.consensus.state import Context, ValidatorState, initial_state, step
from node.ports import Address

_HEADER = 8


class WalCorrupted(ValueError):
    """The write-ahead log is damaged before its last record; it cannot be replayed safely."""


@dataclass(frozen=True)
class WalRecord:
    """One logged input: the event and the time it was handled."""

    event: Event
    now: int


def _addresses(addresses: tuple[Address, ...]) -> bytes:
    return rlp.encode_list([rlp.encode_bytes(a) for a in addresses])


def _encode_body(record: WalRecord) -> bytes:
    event = record.event
    s = rlp.encode_scalar
    if isinstance(event, StartHeight):
        fields = [
            s(1),
            s(event.height),
            _addresses(event.validators),
            rlp.encode_bytes(event.previous_proposer),
            s(event.parent_timestamp_ms),
        ]
    elif isinstance(event, NewChainHead):
        fields = [
            s(2),
            s(event.height),
            _addresses(event.validators),
            rlp.encode_bytes(event.proposer),
            s(event.timestamp_ms),
        ]
    elif isinstance(event, MessageReceived):
        fields = [s(3), s(event.code), rlp.encode_bytes(event.data)]
    elif isinstance(event, BlockTimerExpired):
        fields = [s(4), s(event.height)]
    elif isinstance(event, RoundTimerExpired):
        fields = [s(5), s(event.height), s(event.round)]
    else:
        fields = [s(6), s(event.height), s(event.round), rlp.encode_bytes(event.block)]
    return rlp.encode_list([fields[0], s(record.now), *fields[1:]])


def encode_record(record: WalRecord) -> bytes:
    """Return the bytes to append to the log for `record`."""
    body = _encode_body(record)
    return len(body).to_bytes(4, "big") + zlib.crc32(body).to_bytes(4, "big") + body


def _decode_addresses(item: bytes) -> tuple[Address, ...]:
    return tuple(Address(rlp.decode_fixed(a, 20, "address")) for a in rlp.split_list(item))


def _decode_body(body: bytes) -> WalRecord:
    kind_item, now_item, *rest = rlp.split_list(body)
    kind = rlp.decode_scalar(kind_item)
    now = rlp.decode_scalar(now_item)
    n = rlp.decode_scalar
    event: Event
    if kind in (1, 2) and len(rest) == 4:
        height, validators, proposer, timestamp = rest
        arguments = (
            n(height),
            _decode_addresses(validators),
            Address(rlp.decode_fixed(proposer, 20, "proposer")),
            n(timestamp),
        )
        event = StartHeight(*arguments) if kind == 1 else NewChainHead(*arguments)
    elif kind == 3 and len(rest) == 2:
        event = MessageReceived(n(rest[0]), rlp.decode_bytes(rest[1]))
    elif kind == 4 and len(rest) == 1:
        event = BlockTimerExpired(n(rest[0]))
    elif kind == 5 and len(rest) == 2:
        event = RoundTimerExpired(n(rest[0]), n(rest[1]))
    elif kind == 6 and len(rest) == 3:
        event = BlockBuilt(n(rest[0]), n(rest[1]), rlp.decode_bytes(rest[2]))
    else:
        raise rlp.RlpDecodingError(f"unknown record kind {kind} with {len(rest)} fields")
    return WalRecord(event, now)


def decode_log(data: bytes) -> tuple[list[WalRecord], int]:
    """Return the records of a log and the length of its whole records.

    A torn last record is left out; the driver truncates the file to the returned length before
    appending again. Damage before the last record raises WalCorrupted.
    """
    records: list[WalRecord] = []
    offset = 0
    while offset < len(data):
        if offset + _HEADER > len(data):
            break  # torn header at the end
        length = int.from_bytes(data[offset : offset + 4], "big")
        checksum = int.from_bytes(data[offset + 4 : offset + 8], "big")
        end = offset + _HEADER + length
        if end > len(data):
            break  # torn body at the end
        body = data[offset + _HEADER : end]
        if zlib.crc32(body) != checksum:
            if end == len(data):
                break  # a last record whose write did not finish
            raise WalCorrupted(f"checksum mismatch in the record at byte {offset}")
        try:
            records.append(_decode_body(body))
        except (rlp.RlpDecodingError, ValueError) as error:
            raise WalCorrupted(f"unreadable record at byte {offset}: {error}") from error
        offset = end
    return records, offset


def starts_segment(event: Event, state: ValidatorState) -> bool:
    """Return whether `event` begins a new height, so the log may start a new segment.

    A stale chain head (below the current height) must be appended instead: starting a segment
    with it would drop the current height's records, and with them what we signed.
    """
    if isinstance(event, StartHeight):
        return True
    return isinstance(event, NewChainHead) and (state.height == 0 or event.height >= state.height)


def start_segment(head: WalRecord, state: ValidatorState) -> list[WalRecord]:
    """Return the first records of a new log segment when `head` (a new chain head) arrives.

    `state` is the state just before `head`: its buffered future messages are carried over in
    arrival order, so they survive the truncation of the previous segment.
    """
    carried = [WalRecord(MessageReceived(code, data), head.now) for code, data in state.future]
    return [head, *carried]


def replay(context: Context, records: list[WalRecord]) -> tuple[ValidatorState, list[Action]]:
    """Run `records` through `step` from a fresh state; return the state and the actions to redo.

    The actions to redo are those of the last height: broadcasts (peers ignore repeats), a pending
    `BuildBlock` or `CommitBlock`, and the latest timer of each kind (a timer already past fires
    at once). Logging and discards are not repeated.
    """
    state = initial_state(context)
    actions: list[Action] = []
    for record in records:
        state, produced = step(state, record.event, record.now)
        actions.extend(produced)
    redo: list[Action] = []
    timers: dict[object, ScheduleTimer] = {}
    for action in actions:
        if isinstance(action, ScheduleTimer):
            timers[action.kind] = action
        elif isinstance(action, Broadcast | BuildBlock | CommitBlock) and (
            action.height == state.height
        ):
            redo.append(action)
    redo.extend(t for t in timers.values() if t.height == state.height)
    return state, redo
