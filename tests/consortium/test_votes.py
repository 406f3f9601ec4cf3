"""VoteTally rules (QBFT.md section 5) on plain values, and PendingVotes' choice of a vote."""

from __future__ import annotations

from node.extradata import Vote, VoteType
from node.ports import Address
from node.votes import PendingVotes, VoteTally, threshold

A, B, C, D, E = (Address(bytes([index]) * 20) for index in range(1, 6))
EPOCH = 100


def add(subject: Address) -> Vote:
    return Vote(subject, VoteType.ADD)


def drop(subject: Address) -> Vote:
    return Vote(subject, VoteType.DROP)


def test_threshold_is_more_than_half() -> None:
    assert [threshold(n) for n in (1, 2, 3, 4, 5, 7)] == [1, 2, 2, 3, 3, 4]


def test_more_than_half_adds_and_clears_votes_on_the_subject() -> None:
    tally = VoteTally((A, B, C, D))
    tally = tally.apply(1, A, add(E), EPOCH).apply(2, B, add(E), EPOCH)
    assert E not in tally.validators
    tally = tally.apply(3, C, add(E), EPOCH)
    assert tally.validators == (A, B, C, D, E)
    assert dict(tally.votes) == {}


def test_a_voter_changing_its_mind_replaces_its_vote() -> None:
    tally = VoteTally((A, B, C, D)).apply(1, A, add(E), EPOCH).apply(2, A, drop(E), EPOCH)
    assert dict(tally.votes) == {(A, E): VoteType.DROP}
    tally = tally.apply(3, B, add(E), EPOCH).apply(4, C, add(E), EPOCH)
    assert E not in tally.validators  # A's add was replaced, so only two adds


def test_dropping_a_validator_discards_its_own_votes() -> None:
    tally = VoteTally((A, B, C, D)).apply(1, D, add(E), EPOCH)
    for number, voter in enumerate((A, B, C), start=2):
        tally = tally.apply(number, voter, drop(D), EPOCH)
    assert tally.validators == (A, B, C)
    assert dict(tally.votes) == {}


def test_epoch_block_discards_votes_and_ignores_its_own() -> None:
    tally = VoteTally((A, B, C, D)).apply(1, A, add(E), EPOCH).apply(2, B, add(E), EPOCH)
    tally = tally.apply(EPOCH, C, add(E), EPOCH)
    assert E not in tally.validators and dict(tally.votes) == {}


def test_votes_by_non_validators_and_pointless_votes_do_not_count() -> None:
    tally = VoteTally((A, B, C)).apply(1, E, add(D), EPOCH)
    assert dict(tally.votes) == {}
    tally = tally.apply(2, A, add(B), EPOCH).apply(3, C, add(B), EPOCH)
    assert tally.validators == (A, B, C)


def test_pending_votes_rotate_skip_done_ones_and_stay_out_of_epoch_blocks() -> None:
    votes = PendingVotes(A, EPOCH)
    votes.propose(D, add=True)
    votes.propose(B, add=False)
    tally = VoteTally((A, B, C))
    first, second = votes.choose(1, tally), votes.choose(2, tally)
    assert {first, second} == {add(D), drop(B)}
    assert votes.choose(EPOCH, tally) is None
    counted = tally.apply(3, A, add(D), EPOCH)
    assert votes.choose(4, counted) == drop(B)  # our add of D is already counted
    assert votes.discard(B) is True and votes.discard(B) is False
    assert votes.pending() == {D: True}
    assert votes.choose(5, VoteTally((A, B, C, D))) is None  # D is in: nothing to vote
