"""QBFT extraData as Besu encodes it: `RLP([vanity, [validators], vote, round, [seals]])`.

Follows shared/QBFT.md section 1 (Besu `QbftExtraDataCodec`, `BftExtraDataCodec`):
- vanity: Besu writes 32 bytes; any length is decoded.
- validators: 20-byte addresses.
- vote: `0xc0` when none, else `[recipient20, 0xff]` for ADD or `[recipient20, 0x80]` for DROP;
  the decoder reads empty or 0x00 as DROP, 0xff as ADD, and rejects anything else.
- round: an RLP scalar (no leading zero), not IBFT 2.0's 4 bytes.
- seals: 65-byte `r‖s‖v` commit seals with v in {0, 1}.
- trailing items are tolerated when decoding and never written.

The two hashing variants (`without_seals`, `without_seals_and_round`) keep vanity, validators and
vote. Decoding anything else raises `ExtraDataError` saying what is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

import rlp

ADDRESS_LENGTH = 20
SEAL_LENGTH = 65
VANITY_LENGTH = 32


class ExtraDataError(ValueError):
    """extraData is not a valid QBFT extraData; the message says which item is wrong."""


class VoteType(Enum):
    """A validator vote: add the recipient to the validators, or drop it."""

    ADD = b"\xff"
    DROP = b"\x00"


@dataclass(frozen=True)
class Vote:
    """A vote cast by the block's proposer on `recipient`."""

    recipient: bytes
    vote_type: VoteType


@dataclass(frozen=True)
class ExtraData:
    """The decoded extraData of a QBFT block."""

    vanity: bytes
    validators: tuple[bytes, ...]
    vote: Vote | None = None
    round: int = 0
    seals: tuple[bytes, ...] = ()


def encode_extra_data(extra: ExtraData) -> bytes:
    """Return the RLP bytes of `extra`, exactly as Besu writes them."""
    if extra.round < 0:
        raise ExtraDataError(f"round must not be negative, got {extra.round}")
    vote: list[bytes] = []
    if extra.vote is not None:
        # Besu's encoder writes DROP as the empty string (0x80), ADD as the byte 0xff.
        kind = b"\xff" if extra.vote.vote_type is VoteType.ADD else b""
        vote = [extra.vote.recipient, kind]
    encoded: bytes = rlp.encode(
        [extra.vanity, list(extra.validators), vote, extra.round, list(extra.seals)]
    )
    return encoded


def _decode_vote(item: object) -> Vote | None:
    if not isinstance(item, list):
        raise ExtraDataError("extraData vote must be a list (0xc0 when there is no vote)")
    if not item:
        return None
    if len(item) != 2 or not all(isinstance(part, bytes) for part in item):
        raise ExtraDataError("extraData vote must be [recipient, type]")
    recipient, kind = item
    if len(recipient) != ADDRESS_LENGTH:
        raise ExtraDataError(f"extraData vote recipient must be 20 bytes, got {len(recipient)}")
    if kind in (b"", b"\x00"):
        return Vote(recipient, VoteType.DROP)
    if kind == b"\xff":
        return Vote(recipient, VoteType.ADD)
    raise ExtraDataError(f"extraData vote type must be 0x00 or 0xff, got 0x{kind.hex()}")


def _decode_round(item: object) -> int:
    if not isinstance(item, bytes):
        raise ExtraDataError("extraData round must be a scalar, got a list")
    if item[:1] == b"\x00":
        raise ExtraDataError("extraData round has a leading zero byte (not a minimal scalar)")
    return int.from_bytes(item, "big")


def _decode_byte_list(item: object, length: int, what: str) -> tuple[bytes, ...]:
    if not isinstance(item, list):
        raise ExtraDataError(f"extraData {what} must be a list")
    for index, entry in enumerate(item):
        if not isinstance(entry, bytes) or len(entry) != length:
            raise ExtraDataError(f"extraData {what}[{index}] must be a {length}-byte string")
    return tuple(item)


def decode_extra_data(data: bytes) -> ExtraData:
    """Return the ExtraData in `data`; raise ExtraDataError when it is not QBFT extraData."""
    try:
        items = rlp.decode(data, strict=True)
    except rlp.exceptions.DecodingError as error:
        raise ExtraDataError(f"extraData is not valid RLP: {error}") from error
    if not isinstance(items, list) or len(items) < 5:
        raise ExtraDataError("extraData must be an RLP list of 5 items")
    vanity = items[0]
    if not isinstance(vanity, bytes):
        raise ExtraDataError("extraData vanity must be a byte string")
    seals = _decode_byte_list(items[4], SEAL_LENGTH, "seals")
    for index, seal in enumerate(seals):
        if seal[64] not in (0, 1):
            raise ExtraDataError(f"extraData seals[{index}] has v={seal[64]}; it must be 0 or 1")
    return ExtraData(
        vanity=vanity,
        validators=_decode_byte_list(items[1], ADDRESS_LENGTH, "validators"),
        vote=_decode_vote(items[2]),
        round=_decode_round(items[3]),
        seals=seals,
    )


def without_seals(extra: ExtraData) -> ExtraData:
    """The commit-seal hashing variant: seals emptied, round kept."""
    return replace(extra, seals=())


def without_seals_and_round(extra: ExtraData) -> ExtraData:
    """The block hashing variant: seals emptied and round set to 0."""
    return replace(extra, seals=(), round=0)
