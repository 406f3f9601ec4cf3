"""QBFT's arithmetic: quorum, f+1, proposer rotation and the round timer (QBFT.md section 5).

Invariants: `quorum(n)` = ceil(2n/3) (equal to the Dafny form (2n-1)/3+1); any two quorums of
`n` validators share more than f = (n-1)/3 members, which is what makes finality safe.
"""

from __future__ import annotations

from collections.abc import Sequence

from node.ports import Address


def quorum(validator_count: int) -> int:
    """Return ceil(2n/3), the number of distinct votes that prepare or commit (Besu BftHelpers)."""
    return (2 * validator_count + 2) // 3


def faulty_bound_plus_one(validator_count: int) -> int:
    """Return f+1 = (n-1)/3 + 1: enough senders that at least one is honest."""
    return (validator_count - 1) // 3 + 1


def proposer_for(validators: Sequence[Address], previous_proposer: Address, round: int) -> Address:
    """Return the proposer for `round` (Besu BftProposerSelector, changeEachBlock = true).

    `validators` must be sorted ascending. With the previous block's coinbase in the set the index
    is (idx(prev) + 1 + round) mod n; otherwise counting starts at the first validator above prev
    (wrapping to the first), so block 1 after a 0x0 genesis coinbase gets sorted[round mod n].
    """
    if not validators:
        raise ValueError("the validator set is empty: no proposer can be chosen")
    count = len(validators)
    if previous_proposer in validators:
        start = validators.index(previous_proposer) + 1
    else:
        start = next((i for i, v in enumerate(validators) if v > previous_proposer), 0)
    return validators[(start + round) % count]


def round_timeout_ms(request_timeout_ms: int, round: int, cap_ms: int | None) -> int:
    """Return requesttimeoutseconds · 2^round in ms, limited by an operator's cap when set.

    Besu has no cap; a cap bounds the wait after long outages but slows how fast validators that
    drifted apart in rounds meet again, so it is off unless an operator sets it.
    """
    timeout = request_timeout_ms << min(round, 62)
    return timeout if cap_ms is None else min(timeout, cap_ms)
