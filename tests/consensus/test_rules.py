"""Quorum, f+1, proposer rotation and the round timer (QBFT.md section 5)."""

from __future__ import annotations

import pytest

from node.consensus import rules
from node.ports import Address


@pytest.mark.parametrize(
    ("n", "quorum", "f_plus_one"),
    [(1, 1, 1), (2, 2, 1), (3, 2, 1), (4, 3, 2), (5, 4, 2), (6, 4, 2), (7, 5, 3), (10, 7, 4)],
)
def test_quorum_and_f_plus_one(n: int, quorum: int, f_plus_one: int) -> None:
    assert rules.quorum(n) == quorum
    assert rules.quorum(n) == (2 * n - 1) // 3 + 1  # the Dafny form
    assert rules.faulty_bound_plus_one(n) == f_plus_one


@pytest.mark.parametrize("n", range(1, 30))
def test_two_quorums_share_an_honest_validator(n: int) -> None:
    f = (n - 1) // 3
    assert 2 * rules.quorum(n) - n >= f + 1


VALIDATORS = tuple(Address(bytes([b]) * 20) for b in (0x10, 0x20, 0x30, 0x40))


def test_proposer_follows_the_previous_proposer() -> None:
    assert rules.proposer_for(VALIDATORS, VALIDATORS[1], 0) == VALIDATORS[2]
    assert rules.proposer_for(VALIDATORS, VALIDATORS[1], 1) == VALIDATORS[3]
    assert rules.proposer_for(VALIDATORS, VALIDATORS[3], 0) == VALIDATORS[0]
    assert rules.proposer_for(VALIDATORS, VALIDATORS[3], 6) == VALIDATORS[2]


def test_genesis_coinbase_zero_starts_at_the_first_validator() -> None:
    zero = Address(bytes(20))
    assert [rules.proposer_for(VALIDATORS, zero, r) for r in range(5)] == [
        *VALIDATORS,
        VALIDATORS[0],
    ]


def test_removed_previous_proposer_counts_from_the_next_higher_address() -> None:
    removed = Address(bytes([0x25]) * 20)
    assert rules.proposer_for(VALIDATORS, removed, 0) == VALIDATORS[2]
    beyond = Address(bytes([0x50]) * 20)
    assert rules.proposer_for(VALIDATORS, beyond, 1) == VALIDATORS[1]


def test_empty_validator_set_is_an_error() -> None:
    with pytest.raises(ValueError, match="empty"):
        rules.proposer_for((), Address(bytes(20)), 0)


def test_round_timer_doubles_and_respects_the_cap() -> None:
    assert [rules.round_timeout_ms(1000, r, None) for r in range(4)] == [1000, 2000, 4000, 8000]
    assert rules.round_timeout_ms(1000, 10, 30_000) == 30_000
    assert rules.round_timeout_ms(1000, 1, 30_000) == 2000
    assert rules.round_timeout_ms(1000, 500, None) > 0
