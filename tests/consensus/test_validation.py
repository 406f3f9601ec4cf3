"""Justification rules for round > 0 proposals and round changes, one rule per test."""

from __future__ import annotations

from node.consensus.crypto import recover_address
from node.consensus.messages import (
    PreparedRound,
    RoundChange,
    RoundChangePayload,
    sign,
)
from node.consensus.state import ZERO_ADDRESS
from node.consensus.validation import proposal_problem, round_change_problem
from node.ports import Hash32
from tests.consensus.conftest import Network
from tests.consensus.helpers import prepare, proposal, round_change


def check_proposal(network: Network, message: object) -> str | None:
    assert hasattr(message, "signed")
    return proposal_problem(
        message,  # type: ignore[arg-type]
        message.signed.author(recover_address),
        height=1,
        validators=network.validators,
        previous_proposer=ZERO_ADDRESS,
        ops=network.chains[0],
        recover=recover_address,
    )


def check_round_change(network: Network, message: RoundChange) -> str | None:
    return round_change_problem(
        message,
        message.signed.author(recover_address),
        height=1,
        validators=network.validators,
        ops=network.chains[0],
        recover=recover_address,
    )


def certificate(network: Network, round: int = 0, nonce: int = 1) -> tuple[bytes, Hash32, list]:
    block = network.chains[0].build(1, round, network.validators[round], 1000, nonce)
    digest = network.chains[0].digest(block, round)
    return block, digest, [prepare(network.signers[i], 1, round, digest) for i in (0, 1, 2)]


def fresh(network: Network, round: int = 1) -> bytes:
    return network.chains[0].build(1, round, network.validators[round], 2000, 7)


def test_a_valid_fresh_round1_proposal(network: Network) -> None:
    changes = [round_change(network.signers[i], 1, 1).signed for i in (0, 2, 3)]
    message = proposal(network.signers[1], 1, 1, fresh(network), round_changes=changes)
    assert check_proposal(network, message) is None


def test_round_changes_from_one_author_count_once(network: Network) -> None:
    repeated = round_change(network.signers[2], 1, 1).signed
    changes = [round_change(network.signers[0], 1, 1).signed, repeated, repeated]
    message = proposal(network.signers[1], 1, 1, fresh(network), round_changes=changes)
    assert "is a repeat or a non-validator" in (check_proposal(network, message) or "")


def test_round_changes_must_target_the_proposal_round(network: Network) -> None:
    changes = [round_change(network.signers[i], 1, 2).signed for i in (0, 2, 3)]
    message = proposal(network.signers[1], 1, 1, fresh(network), round_changes=changes)
    assert "targets 1/2" in (check_proposal(network, message) or "")


def test_fresh_block_with_prepares_is_refused(network: Network) -> None:
    _, _, prepares = certificate(network)
    changes = [round_change(network.signers[i], 1, 1).signed for i in (0, 2, 3)]
    message = proposal(
        network.signers[1],
        1,
        1,
        fresh(network),
        round_changes=changes,
        prepares=[p.signed for p in prepares],
    )
    assert "carries prepares" in (check_proposal(network, message) or "")


def test_fresh_block_must_carry_the_proposers_coinbase(network: Network) -> None:
    changes = [round_change(network.signers[i], 1, 1).signed for i in (0, 2, 3)]
    foreign = network.chains[0].build(1, 1, network.validators[3], 2000, 7)
    message = proposal(network.signers[1], 1, 1, foreign, round_changes=changes)
    assert "coinbase is not its proposer" in (check_proposal(network, message) or "")


def test_two_blocks_claimed_prepared_in_one_round_are_refused(network: Network) -> None:
    block, digest, prepares = certificate(network)
    _, other_digest, other_prepares = certificate(network, nonce=2)
    changes = [
        round_change(network.signers[0], 1, 1, (0, digest, block, prepares)).signed,
        round_change(network.signers[2], 1, 1, (0, other_digest, block, other_prepares)).signed,
        round_change(network.signers[3], 1, 1).signed,
    ]
    reproposal = network.chains[0].replace_round(block, 1)
    message = proposal(
        network.signers[1],
        1,
        1,
        reproposal,
        round_changes=changes,
        prepares=[p.signed for p in prepares],
    )
    assert "two different blocks claim" in (check_proposal(network, message) or "")


def test_a_reproposal_keeps_the_original_coinbase(network: Network) -> None:
    block, digest, prepares = certificate(network)
    changes = [
        round_change(network.signers[0], 1, 1, (0, digest, block, prepares)).signed,
        round_change(network.signers[2], 1, 1).signed,
        round_change(network.signers[3], 1, 1).signed,
    ]
    reproposal = network.chains[0].replace_round(block, 1)
    message = proposal(
        network.signers[1],
        1,
        1,
        reproposal,
        round_changes=changes,
        prepares=[p.signed for p in prepares],
    )
    assert check_proposal(network, message) is None
    assert network.chains[0].proposer_of(reproposal) == network.validators[0]


def test_round_change_rules(network: Network) -> None:
    block, digest, prepares = certificate(network)
    assert check_round_change(network, round_change(network.signers[2], 1, 1)) is None
    good = round_change(network.signers[2], 1, 1, (0, digest, block, prepares))
    assert check_round_change(network, good) is None
    zero = RoundChange(sign(RoundChangePayload(1, 0, None), network.signers[2]), None, ())
    assert "not a round > 0" in (check_round_change(network, zero) or "")
    late = round_change(network.signers[2], 1, 1, (1, digest, block, prepares))
    assert "not below target round" in (check_round_change(network, late) or "")
    wrong_digest = round_change(
        network.signers[2], 1, 1, (0, Hash32(b"\x01" * 32), block, prepares)
    )
    assert "digest does not match" in (check_round_change(network, wrong_digest) or "")
    no_block = RoundChange(
        sign(RoundChangePayload(1, 1, PreparedRound(0, digest)), network.signers[2]), None, ()
    )
    assert "no prepared block" in (check_round_change(network, no_block) or "")
    block_only = RoundChange(sign(RoundChangePayload(1, 1, None), network.signers[2]), block, ())
    assert "no prepared metadata" in (check_round_change(network, block_only) or "")
    wrong_round_prepares = [prepare(network.signers[i], 1, 1, digest) for i in (0, 1, 2)]
    mixed = round_change(network.signers[2], 1, 2, (0, digest, block, wrong_round_prepares))
    assert "justifying prepare is for 1/1" in (check_round_change(network, mixed) or "")
