"""Hand-built QBFT messages for the unit tests, signed with the real test keys."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from node.consensus.events import Action, Broadcast, MessageReceived
from node.consensus.messages import (
    Commit,
    CommitPayload,
    Message,
    Prepare,
    PreparedRound,
    PreparePayload,
    Proposal,
    ProposalPayload,
    RoundChange,
    RoundChangePayload,
    SignedData,
    decode_message,
    encode_message,
    sign,
)
from node.consensus.ports import Block, Signer
from node.ports import Hash32

T = TypeVar("T")


def received(message: Message) -> MessageReceived:
    return MessageReceived(message.code, encode_message(message))


def proposal(
    signer: Signer,
    height: int,
    round: int,
    block: Block,
    *,
    round_changes: Sequence[SignedData[RoundChangePayload]] = (),
    prepares: Sequence[SignedData[PreparePayload]] = (),
) -> Proposal:
    return Proposal(
        sign(ProposalPayload(height, round, block), signer), tuple(round_changes), tuple(prepares)
    )


def prepare(signer: Signer, height: int, round: int, digest: Hash32) -> Prepare:
    return Prepare(sign(PreparePayload(height, round, digest), signer))


def commit(
    signer: Signer, height: int, round: int, digest: Hash32, sealer: Signer | None = None
) -> Commit:
    seal = (sealer or signer).sign(digest)
    return Commit(sign(CommitPayload(height, round, digest, seal), signer))


def round_change(
    signer: Signer,
    height: int,
    round: int,
    prepared: tuple[int, Hash32, Block, Sequence[Prepare]] | None = None,
) -> RoundChange:
    if prepared is None:
        return RoundChange(sign(RoundChangePayload(height, round, None), signer), None, ())
    prepared_round, digest, block, prepares = prepared
    return RoundChange(
        sign(RoundChangePayload(height, round, PreparedRound(prepared_round, digest)), signer),
        block,
        tuple(p.signed for p in prepares),
    )


def sent(actions: Sequence[Action], code: int) -> list[Message]:
    """Return the decoded messages of the Broadcast actions with `code`."""
    return [
        decode_message(a.code, a.data)
        for a in actions
        if isinstance(a, Broadcast) and a.code == code
    ]


def of_type(actions: Sequence[Action], kind: type[T]) -> list[T]:
    return [a for a in actions if isinstance(a, kind)]
