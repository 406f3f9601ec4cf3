"""Validity rules for PROPOSAL and ROUND_CHANGE justifications (QBFT.md section 4).

Follows Besu's `ProposalValidator`, `RoundChangeMessageValidator` and the Dafny
`isProposalJustification`: a quorum of distinct round-change senders, the highest prepared
certificate wins, its digest is re-checked with the prepared round put back into the block, and a
quorum of matching prepares backs it. Every function returns None when valid, else a reason a
person can read in a debug log; none of them raises on bad input.
"""

# Flat guard clauses, one per rule, read best as a list of early returns.
# ruff: noqa: PLR0911

from __future__ import annotations

from collections.abc import Iterable, Sequence

from node.consensus import rules
from node.consensus.messages import PreparePayload, Proposal, RoundChange, SignedData
from node.consensus.ports import BlockOps, InvalidSignature, Recover
from node.ports import Address, Hash32


def prepares_problem(
    prepares: Iterable[SignedData[PreparePayload]],
    *,
    height: int,
    round: int,
    digest: Hash32,
    validators: Sequence[Address],
    recover: Recover,
) -> str | None:
    """Check a prepared certificate: a quorum of distinct validators prepared this digest."""
    authors: set[Address] = set()
    for prepare in prepares:
        payload = prepare.payload
        if (payload.height, payload.round, payload.digest) != (height, round, digest):
            return f"a justifying prepare is for {payload.height}/{payload.round}, not {round}"
        try:
            author = prepare.author(recover)
        except InvalidSignature as error:
            return f"a justifying prepare has a bad signature: {error}"
        if author not in validators:
            return f"a justifying prepare is signed by non-validator {author.hex()}"
        if author in authors:
            return f"two justifying prepares from {author.hex()}"
        authors.add(author)
    if len(authors) < rules.quorum(len(validators)):
        return f"{len(authors)} justifying prepares, fewer than the quorum"
    return None


def round_change_problem(
    message: RoundChange,
    author: Address,
    *,
    height: int,
    validators: Sequence[Address],
    ops: BlockOps,
    recover: Recover,
) -> str | None:
    """Check a ROUND_CHANGE message received for `height` (Besu RoundChangeMessageValidator)."""
    payload = message.signed.payload
    if author not in validators:
        return f"round change from non-validator {author.hex()}"
    if payload.height != height or payload.round < 1:
        return f"round change targets {payload.height}/{payload.round}, not a round > 0 of {height}"
    prepared = payload.prepared
    if prepared is None:
        if message.prepared_block is not None or message.prepares:
            return "round change carries a block or prepares but no prepared metadata"
        return None
    if prepared.round >= payload.round:
        return f"prepared round {prepared.round} is not below target round {payload.round}"
    if message.prepared_block is None:
        return "round change has prepared metadata but no prepared block"
    block_problem = ops.validate(message.prepared_block, height)
    if block_problem is not None:
        return f"the prepared block is invalid: {block_problem}"
    if ops.digest(message.prepared_block, prepared.round) != prepared.digest:
        return "the prepared block's digest does not match the prepared metadata"
    return prepares_problem(
        message.prepares,
        height=height,
        round=prepared.round,
        digest=prepared.digest,
        validators=validators,
        recover=recover,
    )


def proposal_problem(
    proposal: Proposal,
    author: Address,
    *,
    height: int,
    validators: Sequence[Address],
    previous_proposer: Address,
    ops: BlockOps,
    recover: Recover,
) -> str | None:
    """Check a PROPOSAL for `height` (Besu ProposalValidator, Dafny isProposalJustification)."""
    payload = proposal.signed.payload
    round = payload.round
    if payload.height != height:
        return f"proposal for height {payload.height}, expected {height}"
    expected = rules.proposer_for(validators, previous_proposer, round)
    if author != expected:
        return (
            f"proposal signed by {author.hex()}, but round {round}'s proposer is {expected.hex()}"
        )
    block_problem = ops.validate(payload.block, height)
    if block_problem is not None:
        return f"proposed block is invalid: {block_problem}"
    if round == 0:
        if proposal.round_changes or proposal.prepares:
            return "a round-0 proposal must carry no justification"
        if ops.proposer_of(payload.block) != author:
            return "a round-0 proposal's block coinbase is not its proposer"
        return None
    return _justification_problem(
        proposal, author=author, height=height, validators=validators, ops=ops, recover=recover
    )


def _justification_problem(
    proposal: Proposal,
    *,
    author: Address,
    height: int,
    validators: Sequence[Address],
    ops: BlockOps,
    recover: Recover,
) -> str | None:
    round = proposal.signed.payload.round
    authors: set[Address] = set()
    prepared_by_round: dict[int, Hash32] = {}
    for round_change in proposal.round_changes:
        payload = round_change.payload
        try:
            sender = round_change.author(recover)
        except InvalidSignature as error:
            return f"a justifying round change has a bad signature: {error}"
        if sender not in validators or sender in authors:
            return f"justifying round change from {sender.hex()} is a repeat or a non-validator"
        authors.add(sender)
        if payload.height != height or payload.round != round:
            return f"a justifying round change targets {payload.height}/{payload.round}"
        if payload.prepared is not None:
            prepared = payload.prepared
            if prepared.round >= round:
                return f"a justifying round change claims prepared round {prepared.round}"
            if prepared_by_round.setdefault(prepared.round, prepared.digest) != prepared.digest:
                return f"two different blocks claim to be prepared at round {prepared.round}"
    if len(authors) < rules.quorum(len(validators)):
        return f"{len(authors)} justifying round changes, fewer than the quorum"
    if not prepared_by_round:
        if proposal.prepares:
            return "no round change is prepared, yet the proposal carries prepares"
        if ops.proposer_of(proposal.signed.payload.block) != author:
            return "a fresh block's coinbase is not its proposer"
        return None
    highest = max(prepared_by_round)
    digest = prepared_by_round[highest]
    if ops.digest(proposal.signed.payload.block, highest) != digest:
        return f"the proposed block is not the block prepared at round {highest}"
    return prepares_problem(
        proposal.prepares,
        height=height,
        round=highest,
        digest=digest,
        validators=validators,
        recover=recover,
    )
