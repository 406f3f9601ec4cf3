"""Each QBFT rule of the state machine, with hand-built messages, real signatures and a fake clock.

Validators are sorted by address; at height 1 over a genesis with coinbase 0x0 the proposer of
round r is validator r mod 4. Time is whatever `now` the test passes: nothing sleeps.
"""

from __future__ import annotations

from eth_hash.auto import keccak

from node.consensus.crypto import KeySigner, recover_address
from node.consensus.events import (
    BlockBuilt,
    BlockTimerExpired,
    BuildBlock,
    CommitBlock,
    Discarded,
    MessageReceived,
    NewChainHead,
    RoundSummary,
    RoundTimerExpired,
    ScheduleTimer,
    StartHeight,
    TimerKind,
)
from node.consensus.messages import COMMIT, PREPARE, PROPOSAL, ROUND_CHANGE, Proposal, RoundChange
from node.consensus.state import ZERO_ADDRESS, Config, ValidatorState, initial_state, step
from node.ports import Hash32
from tests.consensus.conftest import Network
from tests.consensus.helpers import (
    commit,
    of_type,
    prepare,
    proposal,
    received,
    round_change,
    sent,
)


def reasons(actions: list[object]) -> str:
    return " | ".join(a.reason for a in actions if isinstance(a, Discarded))


def round0_block(network: Network, nonce: int = 1) -> bytes:
    return network.chains[0].build(1, 0, network.validators[0], 1000, nonce)


def prepared_validator(network: Network, index: int = 1) -> tuple[ValidatorState, bytes, Hash32]:
    """Return validator `index` prepared at height 1 round 0 (proposal + a quorum of prepares)."""
    state = network.started(index)
    block = round0_block(network)
    digest = network.chains[index].digest(block, 0)
    state, _ = step(state, received(proposal(network.signers[0], 1, 0, block)), 1000)
    for other in (0, 2, 3):
        if other != index and len(state.current.prepares) < 3:
            state, _ = step(state, received(prepare(network.signers[other], 1, 0, digest)), 1001)
    return state, block, digest


def test_start_height_schedules_the_block_timer_after_the_parent(network: Network) -> None:
    context = network.contexts[1]
    _, actions = step(
        initial_state(context), StartHeight(1, network.validators, ZERO_ADDRESS, 5000), 0
    )
    assert actions == [ScheduleTimer(TimerKind.BLOCK, 1, 0, 6000)]


def test_proposer_builds_then_proposes_and_prepares(network: Network) -> None:
    state = network.started(0)
    state, actions = step(state, BlockTimerExpired(1), 1000)
    assert ScheduleTimer(TimerKind.ROUND, 1, 0, 2000) in actions
    assert BuildBlock(1, 0) in actions
    block = round0_block(network)
    state, actions = step(state, BlockBuilt(1, 0, block), 1000)
    (sent_proposal,) = sent(actions, PROPOSAL)
    (sent_prepare,) = sent(actions, PREPARE)
    assert isinstance(sent_proposal, Proposal)
    assert sent_proposal.signed.payload.block == block
    assert sent_proposal.signed.author(recover_address) == network.validators[0]
    assert sent_prepare.signed.payload.digest == network.chains[0].digest(block, 0)


def test_a_non_proposer_only_starts_the_round_timer(network: Network) -> None:
    _, actions = step(network.started(1), BlockTimerExpired(1), 1000)
    assert actions == [ScheduleTimer(TimerKind.ROUND, 1, 0, 2000)]


def test_happy_path_prepare_commit_and_seals(network: Network) -> None:
    state = network.started(1)
    block = round0_block(network)
    digest = network.chains[1].digest(block, 0)
    state, actions = step(state, received(proposal(network.signers[0], 1, 0, block)), 1000)
    assert [m.signed.payload.digest for m in sent(actions, PREPARE)] == [digest]
    state, actions = step(state, received(prepare(network.signers[0], 1, 0, digest)), 1001)
    assert sent(actions, COMMIT) == []  # two prepares are not a quorum of four
    state, actions = step(state, received(prepare(network.signers[2], 1, 0, digest)), 1002)
    (own_commit,) = sent(actions, COMMIT)
    assert recover_address(digest, own_commit.signed.payload.commit_seal) == network.validators[1]
    state, actions = step(state, received(commit(network.signers[0], 1, 0, digest)), 1003)
    assert of_type(actions, CommitBlock) == []
    state, actions = step(state, received(commit(network.signers[3], 1, 0, digest)), 1004)
    (finished,) = of_type(actions, CommitBlock)
    assert (finished.height, finished.round, finished.block) == (1, 0, block)
    sealers = {recover_address(digest, seal) for seal in finished.seals}
    assert sealers == {network.validators[i] for i in (0, 1, 3)}
    (summary,) = of_type(actions, RoundSummary)
    assert summary.outcome == "committed"
    assert summary.committed_by == tuple(sorted(sealers))
    assert "height=1 round=0" in summary.describe()
    _, actions = step(state, received(commit(network.signers[2], 1, 0, digest)), 1005)
    assert "already committed" in reasons(actions)


def test_proposal_from_the_wrong_proposer_is_discarded(network: Network) -> None:
    block = network.chains[2].build(1, 0, network.validators[2], 1000, 1)
    _, actions = step(network.started(1), received(proposal(network.signers[2], 1, 0, block)), 1000)
    assert "round 0's proposer is" in reasons(actions)
    assert sent(actions, PREPARE) == []


def test_round0_block_must_carry_the_proposers_coinbase(network: Network) -> None:
    block = network.chains[0].build(1, 0, network.validators[3], 1000, 1)
    _, actions = step(network.started(1), received(proposal(network.signers[0], 1, 0, block)), 1000)
    assert "coinbase is not its proposer" in reasons(actions)


def test_invalid_block_is_discarded(network: Network) -> None:
    block = network.chains[0].build(1, 0, network.validators[0], 1000, 1)
    wrong_height = network.chains[0].replace_round(block, 0).replace(b"\x01", b"\x02", 1)
    _, actions = step(
        network.started(1), received(proposal(network.signers[0], 1, 0, wrong_height)), 1000
    )
    assert "proposed block is invalid" in reasons(actions)


def test_stale_messages_are_dropped_before_their_signature_is_checked(network: Network) -> None:
    state, _, digest = prepared_validator(network)
    forged = prepare(network.signers[0], 0, 0, digest)
    broken = MessageReceived(PREPARE, received(forged).data[:-2] + b"\xff\xff")
    _, actions = step(state, broken, 1100)
    assert reasons(actions) == "message for prior height 0"
    state, _ = step(state, RoundTimerExpired(1, 0), 2000)
    _, actions = step(state, received(prepare(network.signers[3], 1, 0, digest)), 2001)
    assert reasons(actions) == "message for prior round 1/0"


def test_future_height_messages_wait_for_their_height(network: Network) -> None:
    state = network.started(1)
    digest = Hash32(b"\x42" * 32)
    state, actions = step(state, received(prepare(network.signers[2], 2, 0, digest)), 500)
    assert actions == [] and len(state.future) == 1
    head = NewChainHead(1, network.validators, network.validators[0], 1000)
    state, _ = step(state, head, 1500)
    assert state.height == 2
    assert network.validators[2] in state.current.prepares
    assert state.future == {}


def test_future_round_messages_wait_for_their_round(network: Network) -> None:
    state = network.started(2)
    digest = Hash32(b"\x42" * 32)
    state, actions = step(state, received(prepare(network.signers[3], 1, 1, digest)), 500)
    assert actions == [] and state.current.prepares == {}
    state, _ = step(state, BlockTimerExpired(1), 1000)
    state, _ = step(state, RoundTimerExpired(1, 0), 2000)
    assert state.round == 1
    assert network.validators[3] in state.current.prepares


def test_round_timer_sends_a_round_change_with_the_prepared_certificate(network: Network) -> None:
    state, block, digest = prepared_validator(network)
    state, actions = step(state, RoundTimerExpired(1, 0), 2000)
    (message,) = sent(actions, ROUND_CHANGE)
    assert isinstance(message, RoundChange)
    payload = message.signed.payload
    assert payload.round == 1
    assert payload.prepared is not None
    assert (payload.prepared.round, payload.prepared.digest) == (0, digest)
    assert message.prepared_block == block
    assert len(message.prepares) == 3
    assert ScheduleTimer(TimerKind.ROUND, 1, 1, 4000) in actions
    (summary,) = of_type(actions, RoundSummary)
    assert summary.outcome == "round change to 1"
    assert summary.proposal_received


def test_round_timer_cap(network: Network) -> None:
    state = network.started(1, Config(request_timeout_ms=1000, round_timeout_cap_ms=3000))
    for round in range(3):
        state, actions = step(state, RoundTimerExpired(1, round), 10_000)
    assert ScheduleTimer(TimerKind.ROUND, 1, 3, 13_000) in actions


def test_stale_timers_are_discarded(network: Network) -> None:
    state = network.started(1)
    _, actions = step(state, RoundTimerExpired(1, 5), 2000)
    assert "is stale" in reasons(actions)
    _, actions = step(state, BlockTimerExpired(7), 2000)
    assert "is stale" in reasons(actions)


def test_quorum_of_round_changes_makes_the_proposer_repropose_the_prepared_block(
    network: Network,
) -> None:
    state, block, _ = prepared_validator(network, 1)  # validator 1 proposes round 1
    state, _ = step(state, RoundTimerExpired(1, 0), 2000)
    state, actions = step(state, received(round_change(network.signers[2], 1, 1)), 2001)
    assert sent(actions, PROPOSAL) == []
    state, actions = step(state, received(round_change(network.signers[3], 1, 1)), 2002)
    (reproposal,) = sent(actions, PROPOSAL)
    assert isinstance(reproposal, Proposal)
    assert reproposal.signed.payload.block == network.chains[1].replace_round(block, 1)
    assert len(reproposal.round_changes) == 3 and len(reproposal.prepares) == 3
    follower = network.started(2)
    follower, _ = step(follower, RoundTimerExpired(1, 0), 2000)
    follower, actions = step(follower, received(reproposal), 2003)
    assert reasons(actions) == ""
    (follower_prepare,) = sent(actions, PREPARE)
    assert follower_prepare.signed.payload.digest == network.chains[2].digest(block, 1)


def test_a_fresh_block_is_built_when_no_round_change_is_prepared(network: Network) -> None:
    state = network.started(1)
    state, _ = step(state, RoundTimerExpired(1, 0), 2000)
    for other in (2, 3):
        state, actions = step(state, received(round_change(network.signers[other], 1, 1)), 2001)
    assert BuildBlock(1, 1) in actions
    fresh = network.chains[1].build(1, 1, network.validators[1], 2002, 9)
    _, actions = step(state, BlockBuilt(1, 1, fresh), 2002)
    (made,) = sent(actions, PROPOSAL)
    assert made.signed.payload.block == fresh
    assert isinstance(made, Proposal) and made.prepares == ()


def test_a_round1_proposal_must_repropose_the_highest_prepared_block(network: Network) -> None:
    _, block, digest = prepared_validator(network, 2)
    prepares = [prepare(network.signers[i], 1, 0, digest) for i in (0, 2, 3)]
    changes = [
        round_change(network.signers[0], 1, 1, (0, digest, block, prepares)).signed,
        round_change(network.signers[2], 1, 1).signed,
        round_change(network.signers[3], 1, 1).signed,
    ]
    fresh = network.chains[1].build(1, 1, network.validators[1], 2002, 9)
    follower = network.started(2)
    follower, _ = step(follower, RoundTimerExpired(1, 0), 2000)
    bad = proposal(
        network.signers[1],
        1,
        1,
        fresh,
        round_changes=changes,
        prepares=[p.signed for p in prepares],
    )
    _, actions = step(follower, received(bad), 2003)
    assert "not the block prepared at round 0" in reasons(actions)
    too_few = proposal(network.signers[1], 1, 1, fresh, round_changes=changes[1:])
    _, actions = step(follower, received(too_few), 2003)
    assert "fewer than the quorum" in reasons(actions)


def test_a_justified_future_round_proposal_moves_the_follower(network: Network) -> None:
    changes = [round_change(network.signers[i], 1, 1).signed for i in (0, 2, 3)]
    fresh = network.chains[1].build(1, 1, network.validators[1], 2002, 9)
    state, actions = step(
        network.started(3),
        received(proposal(network.signers[1], 1, 1, fresh, round_changes=changes)),
        1500,
    )
    assert state.round == 1
    assert len(sent(actions, PREPARE)) == 1


def test_an_equivocating_second_proposal_gets_no_second_prepare(network: Network) -> None:
    state = network.started(2)
    first, second = round0_block(network, 1), round0_block(network, 2)
    state, actions = step(state, received(proposal(network.signers[0], 1, 0, first)), 1000)
    assert len(sent(actions, PREPARE)) == 1
    state, actions = step(state, received(proposal(network.signers[0], 1, 0, second)), 1001)
    assert sent(actions, PREPARE) == []
    assert "second proposal" in reasons(actions)
    assert state.signed[(PREPARE, 0)] == network.chains[2].digest(first, 0)


def test_votes_for_another_digest_and_foreign_seals_are_discarded(network: Network) -> None:
    state = network.started(1)
    block = round0_block(network)
    digest = network.chains[1].digest(block, 0)
    state, _ = step(state, received(proposal(network.signers[0], 1, 0, block)), 1000)
    other = Hash32(b"\x13" * 32)
    _, actions = step(state, received(prepare(network.signers[2], 1, 0, other)), 1001)
    assert "for another digest" in reasons(actions)
    forged = commit(network.signers[2], 1, 0, digest, sealer=network.signers[3])
    _, actions = step(state, received(forged), 1001)
    assert "made by another key" in reasons(actions)


def test_repeat_votes_count_once(network: Network) -> None:
    state = network.started(1)
    block = round0_block(network)
    digest = network.chains[1].digest(block, 0)
    state, _ = step(state, received(proposal(network.signers[0], 1, 0, block)), 1000)
    vote = received(prepare(network.signers[0], 1, 0, digest))
    state, _ = step(state, vote, 1001)
    state, actions = step(state, vote, 1002)
    assert "repeat prepare" in reasons(actions)
    assert sent(actions, COMMIT) == []


def test_f_plus_one_higher_round_changes_pull_a_validator_forward(network: Network) -> None:
    state = network.started(3)
    state, actions = step(state, received(round_change(network.signers[0], 1, 2)), 1500)
    assert state.round == 0
    state, actions = step(state, received(round_change(network.signers[1], 1, 2)), 1501)
    assert state.round == 2
    (own,) = sent(actions, ROUND_CHANGE)
    assert own.signed.payload.round == 2
    assert ScheduleTimer(TimerKind.ROUND, 1, 2, 1501 + 4000) in actions


def test_a_round_change_with_a_short_certificate_is_refused(network: Network) -> None:
    _, block, digest = prepared_validator(network)
    two = [prepare(network.signers[i], 1, 0, digest) for i in (0, 2)]
    _, actions = step(
        network.started(3),
        received(round_change(network.signers[0], 1, 1, (0, digest, block, two))),
        1500,
    )
    assert "fewer than the quorum" in reasons(actions)


def test_garbage_and_strangers_are_discarded(network: Network) -> None:
    state = network.started(1)
    _, actions = step(state, MessageReceived(PREPARE, b"\xff\x00garbage"), 1000)
    assert "message code 0x13" in reasons(actions)
    stranger = KeySigner(keccak(b"a stranger's test key"))
    _, actions = step(state, received(prepare(stranger, 1, 0, Hash32(bytes(32)))), 1000)
    assert "non-validator" in reasons(actions)


def test_sync_import_moves_to_the_next_height_and_summarizes(network: Network) -> None:
    state, _, _ = prepared_validator(network)
    state, actions = step(
        state, NewChainHead(1, network.validators, network.validators[0], 1200), 1300
    )
    assert state.height == 2 and state.round == 0 and state.signed == {}
    assert ScheduleTimer(TimerKind.BLOCK, 2, 0, 2200) in actions
    (summary,) = of_type(actions, RoundSummary)
    assert summary.outcome == "head imported"
    _, actions = step(state, NewChainHead(1, network.validators, network.validators[0], 1200), 1400)
    assert "below height 2" in reasons(actions)


def test_step_never_changes_the_state_it_was_given(network: Network) -> None:
    state, _, digest = prepared_validator(network)

    def snapshot(s: ValidatorState) -> tuple[object, ...]:
        return (
            dict(s.current.prepares),
            dict(s.current.commits),
            s.current.proposal,
            {r: dict(rcs) for r, rcs in s.round_changes.items()},
            dict(s.signed),
            dict(s.future),
            s.round,
            s.prepared,
            s.committed,
        )

    before = snapshot(state)
    after, _ = step(state, received(commit(network.signers[0], 1, 0, digest)), 1500)
    assert snapshot(after) != before
    after, _ = step(state, RoundTimerExpired(1, 0), 2000)
    assert snapshot(after) != before
    after, _ = step(state, received(prepare(network.signers[2], 3, 0, digest)), 2000)
    assert snapshot(after) != before
    assert snapshot(state) == before


def test_the_future_buffer_is_bounded_and_keeps_the_nearest_heights(network: Network) -> None:
    state = network.started(1, Config(future_message_limit=3))
    _, actions = step(state, received(prepare(network.signers[2], 12, 0, Hash32(bytes(32)))), 10)
    assert "too far ahead" in reasons(actions)
    for height in (9, 5, 7, 3, 8):
        state, _ = step(
            state, received(prepare(network.signers[2], height, 0, Hash32(bytes(32)))), 10
        )
    assert sorted(h for h, _ in state.future.values()) == [3, 5, 7]
