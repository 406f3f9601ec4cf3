"""QbftChain and the vote tally on in-memory ledgers: four validators, blocks sealed by hand.

No processes, no clock: each validator has its own ledger on a memory store; a block is built by
the proposer's QbftChain, judged by the others' `validate`, sealed with a quorum of commit seals
over its digest and imported by every ledger, as QBFT would after PREPARE and COMMIT.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast

import coincurve
import pytest
from eth_account import Account

from node.chain import Chain, InvalidBlock
from node.config import NodeConfig
from node.extradata import VoteType, decode_extra_data
from node.genesis import parse_genesis
from node.header import QbftHeader, commit_seal_hash
from node.ledger import Ledger, build_ledger
from node.ports import Address
from node.qbft_chain import QbftChain, decode_block, encode_block, with_round_and_seals
from node.seals import address_of, commit_seal
from node.storage import MemoryStore
from node.votes import PendingVotes
from tests.node.conftest import genesis_document

TEST_KEYS = [coincurve.PrivateKey(bytes([0x31 + index]) * 32) for index in range(5)]
"""Throwaway validator keys made for these tests; index 4 is the newcomer voted in."""
NEWCOMER = Address(address_of(TEST_KEYS[4].public_key))
USER = Account.from_key(bytes([0x20]) * 32)  # funded by genesis_document


class Clock:
    """A hand-moved clock in seconds."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Member:
    """One validator's ledger, chain adapter and pending votes."""

    key: coincurve.PrivateKey
    ledger: Ledger
    qbft: QbftChain
    votes: PendingVotes

    @property
    def address(self) -> Address:
        return Address(address_of(self.key.public_key))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def members(clock: Clock) -> Iterator[list[Member]]:
    """Five ledgers (four genesis validators and the newcomer) with the same genesis."""
    validators = [address_of(key.public_key) for key in TEST_KEYS[:4]]
    document = genesis_document(validators=validators)
    document["config"]["qbft"]["epochlength"] = 8
    genesis = parse_genesis(json.loads(json.dumps(document)))
    made: list[Member] = []
    for key in TEST_KEYS:
        store = MemoryStore()
        Chain.initialize(store, genesis)
        ledger = build_ledger(store, genesis, NodeConfig(), key)
        votes = PendingVotes(Address(address_of(key.public_key)), 8)
        made.append(Member(key, ledger, QbftChain(ledger, clock, votes.choose), votes))
    yield made
    for member in made:
        member.ledger.close()


def proposer_for_next(members: list[Member]) -> Member:
    """Return the member whose turn it is at round 0 (Besu's rotation after the head)."""
    chain = members[0].ledger.chain
    head = chain.head_header
    validators = chain.validators_at(head.block_number)
    previous = Address(head.coinbase)
    index = validators.index(previous) + 1 if previous in validators else 0
    chosen = validators[index % len(validators)]
    return next(member for member in members if member.address == chosen)


def finalize_next(members: list[Member], clock: Clock, round: int = 0) -> bytes:
    """Build, validate, seal (quorum) and import the next block on every ledger; return it."""
    clock.now += 1
    proposer = proposer_for_next(members)
    height = proposer.ledger.chain.head_header.block_number + 1
    block = proposer.qbft.build(height, round, proposer.address, int(clock.now * 1000))
    validators = proposer.ledger.chain.validators_at(height - 1)
    signers = [m for m in members if m.address in validators]
    for member in signers:
        assert member.qbft.validate(block, height) is None
    digest = proposer.qbft.digest(block, round)
    quorum = -(-2 * len(validators) // 3)
    seals = tuple(commit_seal(member.key, digest) for member in signers[:quorum])
    for member in members:
        event = member.qbft.import_sealed(block, round, seals)
        assert event.height == height
    return block


def test_blocks_built_by_one_validator_are_validated_and_finalized_by_all(
    members: list[Member], clock: Clock
) -> None:
    raw = bytes(
        USER.sign_transaction(
            {
                "to": "0x000000000000000000000000000000000000dEaD",
                "value": 1,
                "gas": 21000,
                "gasPrice": 0,
                "nonce": 0,
                "chainId": 1337,
            }
        ).raw_transaction
    )
    for member in members:  # as gossip would spread it
        tx_hash = member.ledger.txpool.submit(raw)
    for _ in range(3):
        finalize_next(members, clock)
    heads = {member.ledger.chain.head_header.hash for member in members}
    assert len(heads) == 1
    assert members[1].ledger.chain.receipt(tx_hash) is not None
    for member in members:  # mined by one proposer, gone from every pool
        assert member.ledger.chain.receipt(tx_hash) is not None
        assert member.ledger.txpool.pending_count() == 0
    coinbases = {
        members[0].ledger.chain.header_by_number(n).coinbase  # type: ignore[union-attr]
        for n in (1, 2, 3)
    }
    assert len(coinbases) == 3  # the proposer rotates


def test_digest_is_the_commit_seal_hash_with_the_round_and_replace_round_keeps_the_block(
    members: list[Member], clock: Clock
) -> None:
    proposer = proposer_for_next(members)
    block = proposer.qbft.build(1, 0, proposer.address, int(clock.now * 1000) + 1000)
    header = decode_block(block, 1337).header
    assert proposer.qbft.digest(block, 0) == commit_seal_hash(header)
    moved = proposer.qbft.replace_round(block, 3)
    moved_header = decode_block(moved, 1337).header
    assert decode_extra_data(moved_header.extra_data).round == 3
    assert moved_header.hash == header.hash  # the block hash leaves the round out
    assert proposer.qbft.digest(block, 3) == commit_seal_hash(moved_header)
    assert proposer.qbft.digest(block, 3) != proposer.qbft.digest(block, 0)
    assert proposer.qbft.proposer_of(block) == proposer.address


def test_validate_refuses_wrong_height_tampered_blocks_and_seals(
    members: list[Member], clock: Clock
) -> None:
    clock.now += 1
    proposer = proposer_for_next(members)
    block = proposer.qbft.build(1, 0, proposer.address, int(clock.now * 1000))
    judge = next(member for member in members if member is not proposer)
    assert judge.qbft.validate(block, 2) is not None
    decoded = decode_block(block, 1337)
    forged = cast(QbftHeader, decoded.header.copy(state_root=b"\x01" * 32))
    reason = judge.qbft.validate(encode_block(forged, decoded.transactions), 1)
    assert reason is not None and "state root" in reason
    sealed = with_round_and_seals(decoded.header, 0, (b"\x00" * 65,))
    assert judge.qbft.validate(encode_block(sealed, decoded.transactions), 1) is not None
    assert judge.qbft.validate(b"\x01\x02", 1) is not None


def test_a_synced_block_needs_a_quorum_of_seals(members: list[Member], clock: Clock) -> None:
    clock.now += 1
    proposer = proposer_for_next(members)
    block = proposer.qbft.build(1, 0, proposer.address, int(clock.now * 1000))
    digest = proposer.qbft.digest(block, 0)
    decoded = decode_block(block, 1337)
    two = tuple(commit_seal(member.key, digest) for member in members[:2])
    short = encode_block(with_round_and_seals(decoded.header, 0, two), decoded.transactions)
    follower = members[4]
    with pytest.raises(InvalidBlock, match="commit seals"):
        follower.qbft.import_synced(short)
    three = tuple(commit_seal(member.key, digest) for member in members[:3])
    whole = encode_block(with_round_and_seals(decoded.header, 0, three), decoded.transactions)
    assert follower.qbft.import_synced(whole) is True
    assert follower.qbft.import_synced(whole) is False  # already ours: skipped quietly


def test_votes_add_a_validator_then_drop_it_and_an_epoch_clears_votes(
    members: list[Member], clock: Clock
) -> None:
    for member in members[:3]:
        member.votes.propose(NEWCOMER, add=True)
    while NEWCOMER not in members[0].ledger.chain.validators_at(
        members[0].ledger.chain.head_header.block_number
    ):
        finalize_next(members, clock)
        assert members[0].ledger.chain.head_header.block_number < 8
    added_at = members[0].ledger.chain.head_header.block_number
    # three distinct votes (more than half of four) were needed, no fewer
    assert added_at >= 3
    for member in members:
        assert NEWCOMER in member.ledger.chain.validators_at(added_at)
    for member in members[:3]:
        member.votes.discard(NEWCOMER)
    for _ in range(5):
        finalize_next(members, clock)  # the newcomer now proposes and seals in its turn
    coinbases = [
        members[0].ledger.chain.header_by_number(n).coinbase  # type: ignore[union-attr]
        for n in range(added_at + 1, added_at + 6)
    ]
    assert NEWCOMER in coinbases
    epoch_block = members[0].ledger.chain.header_by_number(8)
    assert epoch_block is not None
    tally = members[0].ledger.chain.validator_tracker.tally_after(8)
    assert dict(tally.votes) == {}  # block 8 is an epoch block: pending votes discarded


def test_a_single_vote_does_not_change_the_set(members: list[Member], clock: Clock) -> None:
    members[0].votes.propose(NEWCOMER, add=True)
    for _ in range(4):
        finalize_next(members, clock)
    chain = members[0].ledger.chain
    assert NEWCOMER not in chain.validators_at(chain.head_header.block_number)
    tally = chain.validator_tracker.tally_after(chain.head_header.block_number)
    assert tally.votes == {(members[0].address, NEWCOMER): VoteType.ADD}


def test_a_sub_second_consortium_builds_blocks_within_one_second(clock: Clock) -> None:
    validators = [address_of(key.public_key) for key in TEST_KEYS[:4]]
    document = genesis_document(validators=validators)
    document["config"]["qbft"]["xblockperiodmilliseconds"] = 250
    genesis = parse_genesis(json.loads(json.dumps(document)))
    made: list[Member] = []
    for key in TEST_KEYS[:4]:
        store = MemoryStore()
        Chain.initialize(store, genesis)
        ledger = build_ledger(store, genesis, NodeConfig(), key)
        votes = PendingVotes(Address(address_of(key.public_key)), 8)
        made.append(Member(key, ledger, QbftChain(ledger, clock, votes.choose), votes))
    try:
        for _ in range(3):
            clock.now += 0.25  # four blocks a second: they share whole-second timestamps
            finalize_next(made, clock)
            clock.now -= 1  # finalize_next moves the clock a whole second; take it back
        stamps = [
            made[0].ledger.chain.header_by_number(n).timestamp  # type: ignore[union-attr]
            for n in (1, 2, 3)
        ]
        assert stamps == sorted(stamps)
        assert stamps[-1] - stamps[0] <= 1  # one period would have forced 2 s apart
    finally:
        for member in made:
            member.ledger.close()
