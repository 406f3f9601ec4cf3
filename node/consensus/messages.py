"""QBFT wire messages: PROPOSAL, PREPARE, COMMIT, ROUND_CHANGE encoded exactly as Besu does.

Target: Besu 26.3 (hyperledger/besu 3fd224e, QBFT.md section 4). We write the block-access-list
slot that 26.1 introduced (empty, `0x80`) in the PROPOSAL payload and the ROUND_CHANGE wrapper,
and we read both that form and the older one without the slot. A decoded message keeps the slot as
it came (`access_list` None = absent), because the slot sits inside the signed payload.

Shapes (seq and round are inline scalars; SignedData = [payloadList, sig65]):
  PREPARE      SignedData([seq, round, digest32])
  COMMIT       SignedData([seq, round, digest32, commitSeal65])
  ROUND_CHANGE [SignedData([seq, round, [] | [preparedRound, preparedDigest]]),
                preparedBlock | 0xc0, ‹BAL | 0x80›, [SignedData(prepare)…]]
  PROPOSAL     [SignedData([seq, round, block, ‹BAL | 0x80›]),
                [[SignedData(roundChangePayload)…], [SignedData(prepare)…]]]
A signature covers keccak256(RLP([code, payloadList])) and the author is recovered from it.

Invariant: `decode_message` either returns a well-formed message or raises MalformedMessage; it
never raises anything else on arbitrary bytes. Signatures are checked later (`author_of`), so a
stale message can be dropped before paying for recovery.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any, Generic, TypeVar

from eth_hash.auto import keccak

from node.consensus import rlp_codec as rlp
from node.consensus.ports import Block, Recover, Signer
from node.ports import Address, Hash32

PROPOSAL = 0x12
PREPARE = 0x13
COMMIT = 0x14
ROUND_CHANGE = 0x15
MESSAGE_CODES = (PROPOSAL, PREPARE, COMMIT, ROUND_CHANGE)

EMPTY_ACCESS_LIST = b"\x80"
"""The block-access-list slot as Besu 26.x writes it when there is none."""


class MalformedMessage(ValueError):
    """The bytes are not a well-formed QBFT message of the given code."""


@dataclass(frozen=True)
class PreparePayload:
    """PREPARE: the sender accepted the proposal whose commit-seal hash is `digest`."""

    height: int
    round: int
    digest: Hash32

    code = PREPARE


@dataclass(frozen=True)
class CommitPayload:
    """COMMIT: the sender is prepared; `commit_seal` signs `digest` and goes into the block."""

    height: int
    round: int
    digest: Hash32
    commit_seal: bytes

    code = COMMIT


@dataclass(frozen=True)
class PreparedRound:
    """PreparedRoundMetadata: the round and digest of the sender's latest prepared certificate."""

    round: int
    digest: Hash32


@dataclass(frozen=True)
class RoundChangePayload:
    """ROUND_CHANGE payload: move to `round`; `prepared` is the latest prepared certificate."""

    height: int
    round: int
    prepared: PreparedRound | None

    code = ROUND_CHANGE


@dataclass(frozen=True)
class ProposalPayload:
    """PROPOSAL payload: `block` (RLP, extraData with `round`, no seals) for (height, round)."""

    height: int
    round: int
    block: Block
    access_list: bytes | None = EMPTY_ACCESS_LIST  # raw RLP item; None: pre-26.1 form, no slot

    code = PROPOSAL


Payload = PreparePayload | CommitPayload | RoundChangePayload | ProposalPayload
P = TypeVar("P", PreparePayload, CommitPayload, RoundChangePayload, ProposalPayload)


@dataclass(frozen=True)
class SignedData(Generic[P]):
    """A payload with its signature; `encoded_payload` is the exact signed RLP list."""

    payload: P
    signature: bytes
    encoded_payload: bytes = field(repr=False)

    @cached_property
    def hash_for_signature(self) -> Hash32:
        """The hash the signature covers; computed once per message object."""
        return signing_hash(self.payload.code, self.encoded_payload)

    def signing_hash(self) -> Hash32:
        """Return keccak256(RLP([code, payloadList])), the hash the signature covers."""
        return self.hash_for_signature

    def author(self, recover: Recover) -> Address:
        """Return the recovered author; raises InvalidSignature."""
        return recover(self.signing_hash(), self.signature)


@dataclass(frozen=True)
class Prepare:
    """A PREPARE message."""

    signed: SignedData[PreparePayload]

    code = PREPARE


@dataclass(frozen=True)
class Commit:
    """A COMMIT message."""

    signed: SignedData[CommitPayload]

    code = COMMIT


@dataclass(frozen=True)
class RoundChange:
    """A ROUND_CHANGE: payload, the prepared block (with the prepared round) and its prepares."""

    signed: SignedData[RoundChangePayload]
    prepared_block: Block | None
    prepares: tuple[SignedData[PreparePayload], ...]
    access_list: bytes | None = EMPTY_ACCESS_LIST

    code = ROUND_CHANGE


@dataclass(frozen=True)
class Proposal:
    """A PROPOSAL with its justification (round-change payloads and prepares) for round > 0."""

    signed: SignedData[ProposalPayload]
    round_changes: tuple[SignedData[RoundChangePayload], ...] = ()
    prepares: tuple[SignedData[PreparePayload], ...] = ()

    code = PROPOSAL


Message = Proposal | Prepare | Commit | RoundChange


def signing_hash(code: int, encoded_payload: bytes) -> Hash32:
    """Return keccak256(RLP([code, payloadList])) (Besu QbftPayload.hashForSignature)."""
    return Hash32(keccak(rlp.encode_list([rlp.encode_scalar(code), encoded_payload])))


def encode_payload(payload: Payload) -> bytes:
    """Return the RLP payload list of `payload`."""
    head = [rlp.encode_scalar(payload.height), rlp.encode_scalar(payload.round)]
    if isinstance(payload, PreparePayload):
        return rlp.encode_list([*head, rlp.encode_bytes(payload.digest)])
    if isinstance(payload, CommitPayload):
        return rlp.encode_list(
            [*head, rlp.encode_bytes(payload.digest), rlp.encode_bytes(payload.commit_seal)]
        )
    if isinstance(payload, RoundChangePayload):
        prepared = payload.prepared
        metadata = (
            rlp.encode_list([])
            if prepared is None
            else rlp.encode_list(
                [rlp.encode_scalar(prepared.round), rlp.encode_bytes(prepared.digest)]
            )
        )
        return rlp.encode_list([*head, metadata])
    items = [*head, payload.block]
    if payload.access_list is not None:
        items.append(payload.access_list)
    return rlp.encode_list(items)


def sign(payload: P, signer: Signer) -> SignedData[P]:
    """Encode `payload` and sign it with `signer`."""
    encoded = encode_payload(payload)
    return SignedData(payload, signer.sign(signing_hash(payload.code, encoded)), encoded)


def _encode_signed(signed: SignedData[Any]) -> bytes:
    return rlp.encode_list([signed.encoded_payload, rlp.encode_bytes(signed.signature)])


def encode_message(message: Message) -> bytes:
    """Return the message data (the bytes after the devp2p code) of `message`."""
    if isinstance(message, Prepare | Commit):
        return _encode_signed(message.signed)
    prepares = rlp.encode_list([_encode_signed(p) for p in message.prepares])
    if isinstance(message, RoundChange):
        block = message.prepared_block if message.prepared_block is not None else b"\xc0"
        items = [_encode_signed(message.signed), block]
        if message.access_list is not None:
            items.append(message.access_list)
        return rlp.encode_list([*items, prepares])
    round_changes = rlp.encode_list([_encode_signed(rc) for rc in message.round_changes])
    return rlp.encode_list(
        [_encode_signed(message.signed), rlp.encode_list([round_changes, prepares])]
    )


def _fields(item: bytes, counts: Sequence[int], what: str) -> list[bytes]:
    fields = rlp.split_list(item)
    if len(fields) not in counts:
        raise MalformedMessage(
            f"{what} has {len(fields)} items, expected {' or '.join(map(str, counts))}"
        )
    return fields


def _decode_signed(item: bytes, what: str) -> tuple[bytes, bytes]:
    encoded_payload, signature = _fields(item, (2,), f"{what} SignedData")
    if not rlp.is_list(encoded_payload):
        raise MalformedMessage(f"{what} payload must be an RLP list")
    return encoded_payload, rlp.decode_fixed(signature, 65, f"{what} signature")


def _digest(item: bytes, what: str) -> Hash32:
    return Hash32(rlp.decode_fixed(item, 32, what))


def _decode_prepare(item: bytes) -> SignedData[PreparePayload]:
    encoded, signature = _decode_signed(item, "PREPARE")
    seq, round, digest = _fields(encoded, (3,), "PREPARE payload")
    payload = PreparePayload(
        rlp.decode_scalar(seq, "seq"), rlp.decode_scalar(round, "round"), _digest(digest, "digest")
    )
    return SignedData(payload, signature, encoded)


def _decode_commit(item: bytes) -> SignedData[CommitPayload]:
    encoded, signature = _decode_signed(item, "COMMIT")
    seq, round, digest, seal = _fields(encoded, (4,), "COMMIT payload")
    payload = CommitPayload(
        rlp.decode_scalar(seq, "seq"),
        rlp.decode_scalar(round, "round"),
        _digest(digest, "digest"),
        rlp.decode_fixed(seal, 65, "commit seal"),
    )
    return SignedData(payload, signature, encoded)


def _decode_round_change_payload(item: bytes) -> SignedData[RoundChangePayload]:
    encoded, signature = _decode_signed(item, "ROUND_CHANGE")
    seq, round, metadata = _fields(encoded, (3,), "ROUND_CHANGE payload")
    if not rlp.is_list(metadata):
        raise MalformedMessage("ROUND_CHANGE prepared metadata must be a list")
    metadata_fields = _fields(metadata, (0, 2), "ROUND_CHANGE prepared metadata")
    prepared = (
        PreparedRound(
            rlp.decode_scalar(metadata_fields[0], "prepared round"),
            _digest(metadata_fields[1], "prepared digest"),
        )
        if metadata_fields
        else None
    )
    payload = RoundChangePayload(
        rlp.decode_scalar(seq, "seq"), rlp.decode_scalar(round, "round"), prepared
    )
    return SignedData(payload, signature, encoded)


def _decode_proposal_payload(item: bytes) -> SignedData[ProposalPayload]:
    encoded, signature = _decode_signed(item, "PROPOSAL")
    fields = _fields(encoded, (3, 4), "PROPOSAL payload")
    if not rlp.is_list(fields[2]) or fields[2] == b"\xc0":
        raise MalformedMessage("PROPOSAL block must be a non-empty RLP list")
    payload = ProposalPayload(
        rlp.decode_scalar(fields[0], "seq"),
        rlp.decode_scalar(fields[1], "round"),
        fields[2],
        fields[3] if len(fields) == 4 else None,
    )
    return SignedData(payload, signature, encoded)


def _decode_prepares(item: bytes) -> tuple[SignedData[PreparePayload], ...]:
    if not rlp.is_list(item):
        raise MalformedMessage("the prepares must be an RLP list")
    return tuple(_decode_prepare(p) for p in rlp.split_list(item))


def _decode_round_change(data: bytes) -> RoundChange:
    fields = _fields(data, (3, 4), "ROUND_CHANGE")
    signed = _decode_round_change_payload(fields[0])
    block = fields[1]
    if not rlp.is_list(block):
        raise MalformedMessage("ROUND_CHANGE prepared block must be an RLP list (0xc0 for none)")
    access_list = fields[2] if len(fields) == 4 else None
    return RoundChange(
        signed, None if block == b"\xc0" else block, _decode_prepares(fields[-1]), access_list
    )


def _decode_proposal(data: bytes) -> Proposal:
    signed_item, justification = _fields(data, (2,), "PROPOSAL")
    signed = _decode_proposal_payload(signed_item)
    round_changes, prepares = _fields(justification, (2,), "PROPOSAL justification")
    if not rlp.is_list(round_changes):
        raise MalformedMessage("PROPOSAL round changes must be an RLP list")
    return Proposal(
        signed,
        tuple(_decode_round_change_payload(rc) for rc in rlp.split_list(round_changes)),
        _decode_prepares(prepares),
    )


@lru_cache(maxsize=4096)
def decode_message(code: int, data: bytes) -> Message:
    """Return the message of `code` in `data`; raises MalformedMessage, never anything else.

    Messages are immutable, so the decoding of bytes seen before (gossip repeats, the same vote
    inside several justifications) is shared.
    """
    try:
        if code == PREPARE:
            return Prepare(_decode_prepare(data))
        if code == COMMIT:
            return Commit(_decode_commit(data))
        if code == ROUND_CHANGE:
            return _decode_round_change(data)
        if code == PROPOSAL:
            return _decode_proposal(data)
    except rlp.RlpDecodingError as error:
        raise MalformedMessage(f"message code {code:#x}: {error}") from error
    raise MalformedMessage(f"unknown QBFT message code {code:#x}")


def height_and_round(message: Message) -> tuple[int, int]:
    """Return the (seq, round) a message is for."""
    payload = message.signed.payload
    return payload.height, payload.round
