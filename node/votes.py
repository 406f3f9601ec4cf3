"""Validator votes: the tally that decides the validator set, and this node's pending votes.

QBFT.md section 5 (Besu `VoteTally`, `VoteTallyUpdater`, `EpochManager`, `VoteProposer`):
- a block's vote is cast by its coinbase and replaces that voter's earlier vote on the subject;
- more than half of the current validators (`n // 2 + 1`) voting ADD on a non-validator adds it,
  voting DROP on a validator drops it; then every vote on that subject is cleared, and a dropped
  validator's own votes go too;
- an epoch block (`number % epoch_length == 0`) discards every pending vote, and its own vote is
  ignored;
- block N's extraData lists the validators after block N-1, so the set after N is that list with
  N's vote applied.

`VoteTally` is an immutable value; `ValidatorTracker` computes the tally after any block by
walking back at most one epoch, caching recent results. Nothing here reads storage directly: the
chain passes a header reader.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from node.extradata import Vote, VoteType, decode_extra_data
from node.header import QbftHeader
from node.ports import Address

TALLIES_CACHED = 256
"""Tallies kept in memory; the head's neighbourhood is what consensus and RPC ask for."""


class UnknownHeader(LookupError):
    """A header the tally needs is not stored (the chain is shorter than asked)."""


def threshold(validator_count: int) -> int:
    """Return the votes needed to add or drop a validator: more than half (`n // 2 + 1`)."""
    return validator_count // 2 + 1


@dataclass(frozen=True)
class VoteTally:
    """The validators after a block and the votes pending since the last epoch block."""

    validators: tuple[Address, ...]
    votes: Mapping[tuple[Address, Address], VoteType] = field(default_factory=dict)
    """(voter, subject) -> the voter's current vote on the subject."""

    def apply(
        self, number: int, coinbase: Address, vote: Vote | None, epoch_length: int
    ) -> VoteTally:
        """Return the tally after a block with this number, coinbase and vote.

        `validators` should already be the block's extraData list (the set after its parent).
        """
        if epoch_length > 0 and number % epoch_length == 0:
            return VoteTally(self.validators, {})
        if vote is None or coinbase not in self.validators:
            return self
        subject = Address(vote.recipient)
        votes = dict(self.votes)
        votes[(coinbase, subject)] = vote.vote_type
        count = sum(
            1 for (_, other), kind in votes.items() if other == subject and kind is vote.vote_type
        )
        members = set(self.validators)
        applies = (vote.vote_type is VoteType.ADD) != (subject in members)
        if not applies or count < threshold(len(self.validators)):
            return VoteTally(self.validators, votes)
        if vote.vote_type is VoteType.ADD:
            members.add(subject)
        else:
            members.discard(subject)
        remaining = {
            key: kind
            for key, kind in votes.items()
            if key[1] != subject and (vote.vote_type is VoteType.ADD or key[0] != subject)
        }
        return VoteTally(tuple(sorted(members)), remaining)

    def has_voted(self, voter: Address, subject: Address, vote_type: VoteType) -> bool:
        """Return True when `voter`'s pending vote on `subject` is already `vote_type`."""
        return self.votes.get((voter, subject)) is vote_type


class ValidatorTracker:
    """Tallies after each block of one chain, computed on demand from its headers."""

    def __init__(self, read_header: Callable[[int], QbftHeader | None], epoch_length: int) -> None:
        self._read_header = read_header
        self._epoch_length = epoch_length
        self._cache: OrderedDict[int, tuple[bytes, VoteTally]] = OrderedDict()
        self._lock = threading.Lock()

    def _header(self, number: int) -> QbftHeader:
        header = self._read_header(number)
        if header is None:
            raise UnknownHeader(f"block {number} is not stored; the tally cannot reach it")
        return header

    def tally_after(self, number: int) -> VoteTally:
        """Return the tally after canonical block `number`; raise UnknownHeader."""
        pending: list[QbftHeader] = []
        base: VoteTally | None = None
        cursor = number
        while True:
            header = self._header(cursor)
            with self._lock:
                cached = self._cache.get(cursor)
            if cached is not None and cached[0] == header.hash:
                base = cached[1]
                break
            extra = decode_extra_data(header.extra_data)
            if cursor == 0 or (self._epoch_length > 0 and cursor % self._epoch_length == 0):
                base = VoteTally(tuple(sorted(Address(v) for v in extra.validators)), {})
                self._remember(cursor, header.hash, base)
                break
            pending.append(header)
            cursor -= 1
        tally = base
        for header in reversed(pending):
            extra = decode_extra_data(header.extra_data)
            listed = VoteTally(tuple(sorted(Address(v) for v in extra.validators)), tally.votes)
            tally = listed.apply(
                header.block_number, Address(header.coinbase), extra.vote, self._epoch_length
            )
            self._remember(header.block_number, header.hash, tally)
        return tally

    def _remember(self, number: int, block_hash: bytes, tally: VoteTally) -> None:
        with self._lock:
            self._cache[number] = (block_hash, tally)
            self._cache.move_to_end(number)
            while len(self._cache) > TALLIES_CACHED:
                self._cache.popitem(last=False)


class PendingVotes:
    """This validator's own votes (qbft_proposeValidatorVote), cast one per block it proposes."""

    def __init__(self, me: Address, epoch_length: int) -> None:
        self._me = me
        self._epoch_length = epoch_length
        self._votes: dict[Address, VoteType] = {}
        self._next = 0
        self._lock = threading.Lock()

    def propose(self, subject: Address, add: bool) -> None:
        """Vote to add (`add=True`) or drop `subject` in the blocks we propose from now on."""
        with self._lock:
            self._votes[subject] = VoteType.ADD if add else VoteType.DROP

    def discard(self, subject: Address) -> bool:
        """Stop voting on `subject`; return whether a vote was pending."""
        with self._lock:
            return self._votes.pop(subject, None) is not None

    def pending(self) -> dict[Address, bool]:
        """Return subject -> True (add) / False (drop) for every pending vote."""
        with self._lock:
            return {subject: kind is VoteType.ADD for subject, kind in self._votes.items()}

    def choose(self, height: int, tally: VoteTally) -> Vote | None:
        """Return the vote for our block at `height` on top of `tally`, or None.

        Skips votes already in effect and ones the tally already counts from us; rotates through
        the rest so each pending vote gets its turn (Besu VoteProposer). No vote in epoch blocks.
        """
        if self._epoch_length > 0 and height % self._epoch_length == 0:
            return None
        with self._lock:
            subjects = sorted(self._votes)
            for offset in range(len(subjects)):
                subject = subjects[(self._next + offset) % len(subjects)]
                kind = self._votes[subject]
                in_effect = (kind is VoteType.ADD) == (subject in tally.validators)
                if in_effect or tally.has_voted(self._me, subject, kind):
                    continue
                self._next = (self._next + offset + 1) % len(subjects)
                return Vote(subject, kind)
        return None
