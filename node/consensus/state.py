"""The QBFT state machine of one validator: `step(state, event, now) -> (state, actions)`.

Everything that affects consensus lives here, after Besu's QbftBlockHeightManager / QbftRound /
RoundState and the Dafny L1 spec. No clock, no sockets, no files: time comes in as `now` (ms), and
timers, broadcasts, block building and imports go out as actions.

Rules kept on every step:
- Stale first: an event for a past height or round is discarded before any other work (and before
  paying for signature recovery). Messages are PRIOR (dropped), CURRENT (handled) or FUTURE
  (buffered, at most `future_message_limit`, evicting the highest height first).
- Never sign two different things for one (height, round, message kind): `signed` records every
  proposal, prepare and commit digest we signed; a replay of the write-ahead log rebuilds it.
- Our own commit counts only once we are prepared (a quorum of prepares), as in the Dafny model,
  so every honest commit in a quorum stands on a prepared certificate.
- `step` never mutates the state it is given; it returns a new one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from node.consensus import rules
from node.consensus.events import (
    Action,
    BlockBuilt,
    BlockTimerExpired,
    Broadcast,
    BuildBlock,
    CommitBlock,
    Discarded,
    Event,
    MessageReceived,
    NewChainHead,
    RoundSummary,
    RoundTimerExpired,
    ScheduleTimer,
    StartHeight,
    TimerKind,
)
from node.consensus.messages import (
    COMMIT,
    PREPARE,
    PROPOSAL,
    ROUND_CHANGE,
    Commit,
    CommitPayload,
    MalformedMessage,
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
    height_and_round,
    sign,
)
from node.consensus.ports import Block, BlockOps, InvalidSignature, Recover, Signer
from node.consensus.validation import proposal_problem, round_change_problem
from node.ports import Address, Hash32

ZERO_ADDRESS = Address(b"\x00" * 20)
"""The coinbase of a genesis block: block 1's proposer is then sorted[round mod n]."""


@dataclass(frozen=True)
class Config:
    """Operator settings (Besu genesis `qbft` options), in milliseconds."""

    block_period_ms: int = 1000
    request_timeout_ms: int = 1000
    round_timeout_cap_ms: int | None = None
    future_message_limit: int = 1000  # Besu futureMessagesLimit
    future_height_distance: int = 10  # Besu futureMessagesMaxDistance: farther ones are dropped
    early_round_change: bool = True


@dataclass(frozen=True)
class Context:
    """What a validator runs with: settings, block operations, its key and signature recovery."""

    config: Config
    ops: BlockOps
    signer: Signer
    recover: Recover


@dataclass(frozen=True)
class PreparedCertificate:
    """Our latest prepared round: the block as proposed there, its digest, a quorum of prepares."""

    round: int
    block: Block
    digest: Hash32
    prepares: tuple[SignedData[PreparePayload], ...]


@dataclass
class RoundState:
    """What one round of the current height has gathered."""

    round: int
    proposal: Proposal | None = None
    digest: Hash32 | None = None
    prepares: dict[Address, SignedData[PreparePayload]] = field(default_factory=dict)
    commits: dict[Address, SignedData[CommitPayload]] = field(default_factory=dict)
    sent_commit: bool = False


@dataclass
class ValidatorState:
    """One validator's consensus state. Height 0 means no height has started yet."""

    context: Context
    height: int = 0
    validators: tuple[Address, ...] = ()
    previous_proposer: Address = ZERO_ADDRESS
    round: int = 0
    current: RoundState = field(default_factory=lambda: RoundState(0))
    round_changes: dict[int, dict[Address, RoundChange]] = field(default_factory=dict)
    actioned_round_changes: set[int] = field(default_factory=set)
    prepared: PreparedCertificate | None = None
    signed: dict[tuple[int, int], Hash32] = field(default_factory=dict)
    block_timer_expired: bool = False
    committed: bool = False
    future: dict[tuple[int, bytes], tuple[int, int]] = field(default_factory=dict)

    def copy(self) -> ValidatorState:
        """Return a copy that shares only immutable parts (messages, blocks, the context)."""
        clone = object.__new__(ValidatorState)
        clone.__dict__.update(self.__dict__)
        clone.current = object.__new__(RoundState)
        clone.current.__dict__.update(self.current.__dict__)
        clone.current.prepares = dict(self.current.prepares)
        clone.current.commits = dict(self.current.commits)
        clone.round_changes = {r: dict(rcs) for r, rcs in self.round_changes.items()}
        clone.actioned_round_changes = set(self.actioned_round_changes)
        clone.signed = dict(self.signed)
        clone.future = dict(self.future)
        return clone

    @property
    def me(self) -> Address:
        """Return this validator's address."""
        return self.context.signer.address

    def proposer(self, round: int) -> Address:
        """Return the proposer of `round` at the current height."""
        return rules.proposer_for(self.validators, self.previous_proposer, round)

    def quorum(self) -> int:
        """Return the quorum of the current validator set."""
        return rules.quorum(len(self.validators))


def initial_state(context: Context) -> ValidatorState:
    """Return the state of a validator that has not started a height yet."""
    return ValidatorState(context)


def step(state: ValidatorState, event: Event, now: int) -> tuple[ValidatorState, list[Action]]:
    """Apply one event at time `now` (ms); return the new state and the actions to carry out."""
    state = state.copy()
    actions: list[Action] = []
    if isinstance(event, MessageReceived):
        _on_message(state, event.code, event.data, now, actions)
    elif isinstance(event, RoundTimerExpired):
        _on_round_timer(state, event, now, actions)
    elif isinstance(event, BlockTimerExpired):
        _on_block_timer(state, event, now, actions)
    elif isinstance(event, BlockBuilt):
        _on_block_built(state, event, now, actions)
    elif isinstance(event, NewChainHead):
        if state.height and event.height < state.height:
            actions.append(Discarded(f"chain head {event.height} is below height {state.height}"))
        else:
            _finish_round(state, "head imported", actions)
            _start_height(
                state,
                height=event.height + 1,
                validators=event.validators,
                previous_proposer=event.proposer,
                parent_timestamp_ms=event.timestamp_ms,
                now=now,
                actions=actions,
            )
    elif isinstance(event, StartHeight):
        _start_height(
            state,
            height=event.height,
            validators=event.validators,
            previous_proposer=event.previous_proposer,
            parent_timestamp_ms=event.parent_timestamp_ms,
            now=now,
            actions=actions,
        )
    return state, actions


def _start_height(
    state: ValidatorState,
    *,
    height: int,
    validators: tuple[Address, ...],
    previous_proposer: Address,
    parent_timestamp_ms: int,
    now: int,
    actions: list[Action],
) -> None:
    state.height = height
    state.validators = tuple(sorted(validators))
    state.previous_proposer = previous_proposer
    state.round = 0
    state.current = RoundState(0)
    state.round_changes = {}
    state.actioned_round_changes = set()
    state.prepared = None
    state.signed = {}
    state.block_timer_expired = False
    state.committed = False
    deadline = parent_timestamp_ms + state.context.config.block_period_ms
    actions.append(ScheduleTimer(TimerKind.BLOCK, height, 0, max(deadline, now)))
    _drain_future(state, now, actions)


def _on_block_timer(
    state: ValidatorState, event: BlockTimerExpired, now: int, actions: list[Action]
) -> None:
    if event.height != state.height or state.block_timer_expired:
        actions.append(Discarded(f"block timer for height {event.height} is stale"))
        return
    state.block_timer_expired = True
    if state.round != 0 or state.committed:
        return  # a round change overtook the block timer; that round's timer already runs
    _schedule_round_timer(state, now, actions)
    if state.proposer(0) == state.me:
        _propose(state, None, now, actions)


def _on_round_timer(
    state: ValidatorState, event: RoundTimerExpired, now: int, actions: list[Action]
) -> None:
    if event.height != state.height or event.round != state.round or state.committed:
        actions.append(Discarded(f"round timer {event.height}/{event.round} is stale"))
        return
    _move_to_round(state, state.round + 1, now, actions, send_round_change=True)


def _on_block_built(
    state: ValidatorState, event: BlockBuilt, now: int, actions: list[Action]
) -> None:
    if (event.height, event.round) != (state.height, state.round) or state.committed:
        actions.append(Discarded(f"built block for {event.height}/{event.round} is stale"))
        return
    _propose(state, event.block, now, actions)


def _schedule_round_timer(state: ValidatorState, now: int, actions: list[Action]) -> None:
    config = state.context.config
    timeout = rules.round_timeout_ms(
        config.request_timeout_ms, state.round, config.round_timeout_cap_ms
    )
    actions.append(ScheduleTimer(TimerKind.ROUND, state.height, state.round, now + timeout))


def _finish_round(state: ValidatorState, outcome: str, actions: list[Action]) -> None:
    """Emit the round summary of the current round (nothing before the first height)."""
    if state.height == 0 or state.committed:
        return
    current = state.current
    actions.append(
        RoundSummary(
            height=state.height,
            round=state.round,
            proposer=state.proposer(state.round),
            proposal_received=current.proposal is not None,
            prepared_by=tuple(sorted(current.prepares)),
            committed_by=tuple(sorted(current.commits)),
            outcome=outcome,
        )
    )


def _move_to_round(
    state: ValidatorState,
    new_round: int,
    now: int,
    actions: list[Action],
    *,
    send_round_change: bool,
) -> None:
    _finish_round(state, f"round change to {new_round}", actions)
    state.round = new_round
    state.current = RoundState(new_round)
    state.round_changes = {r: rcs for r, rcs in state.round_changes.items() if r >= new_round}
    _schedule_round_timer(state, now, actions)
    if send_round_change and state.me in state.validators:
        certificate = state.prepared
        payload = RoundChangePayload(
            state.height,
            new_round,
            None if certificate is None else PreparedRound(certificate.round, certificate.digest),
        )
        message = RoundChange(
            sign(payload, state.context.signer),
            None if certificate is None else certificate.block,
            () if certificate is None else certificate.prepares,
        )
        _broadcast(state, message, actions)
        _on_round_change(state, message, state.me, now, actions)
    _check_round_change_quorum(state, new_round, now, actions)
    _drain_future(state, now, actions)


def _broadcast(state: ValidatorState, message: Message, actions: list[Action]) -> None:
    payload = message.signed.payload
    actions.append(Broadcast(message.code, encode_message(message), payload.height, payload.round))


def _buffer(
    state: ValidatorState, code: int, data: bytes, *, height: int, round: int, actions: list[Action]
) -> None:
    future = state.future
    if (code, data) in future:
        return
    limit = state.context.config.future_message_limit
    if len(future) >= limit:
        highest = max(future, key=lambda key: future[key][0])
        if future[highest][0] <= height:
            actions.append(Discarded(f"future buffer full; dropped a message for {height}"))
            return
        del future[highest]
    future[(code, data)] = (height, round)


def _drain_future(state: ValidatorState, now: int, actions: list[Action]) -> None:
    """Handle buffered messages that became current; drop the ones that became stale."""
    ready = []
    for key, (height, round) in list(state.future.items()):
        if height < state.height or (height == state.height and round < state.round):
            del state.future[key]
        elif height == state.height and (round == state.round or key[0] == ROUND_CHANGE):
            del state.future[key]
            ready.append(key)
    for code, data in ready:
        _on_message(state, code, data, now, actions)


def _on_message(
    state: ValidatorState, code: int, data: bytes, now: int, actions: list[Action]
) -> None:
    try:
        message = decode_message(code, data)
    except MalformedMessage as error:
        actions.append(Discarded(str(error)))
        return
    if not _is_current(state, message, code, data, actions):
        return
    try:
        author = message.signed.author(state.context.recover)
    except InvalidSignature as error:
        actions.append(Discarded(f"message signature: {error}"))
        return
    if author not in state.validators:
        actions.append(Discarded(f"message from non-validator 0x{author.hex()}"))
        return
    if isinstance(message, RoundChange):
        _on_round_change(state, message, author, now, actions)
    elif isinstance(message, Proposal):
        _on_proposal(state, message, author, now, actions)
    elif isinstance(message, Prepare):
        _on_prepare(state, message.signed, author, actions)
    else:
        _on_commit(state, message.signed, author, actions)


def _is_current(
    state: ValidatorState, message: Message, code: int, data: bytes, actions: list[Action]
) -> bool:
    """Classify by (height, round): drop PRIOR, buffer FUTURE, return True for CURRENT.

    Round changes and (justified) proposals for later rounds of this height count as current:
    they are what moves a validator to a later round.
    """
    height, round = height_and_round(message)
    if height < state.height:
        actions.append(Discarded(f"message for prior height {height}"))
        return False
    if height > state.height or state.height == 0:
        if state.height and height > state.height + state.context.config.future_height_distance:
            actions.append(Discarded(f"message for height {height} is too far ahead"))
        else:
            _buffer(state, code, data, height=height, round=round, actions=actions)
        return False
    if state.committed:
        actions.append(Discarded(f"height {height} is already committed"))
        return False
    if round < state.round:
        actions.append(Discarded(f"message for prior round {height}/{round}"))
        return False
    if round > state.round and not isinstance(message, RoundChange | Proposal):
        _buffer(state, code, data, height=height, round=round, actions=actions)
        return False
    return True


def _on_proposal(
    state: ValidatorState, proposal: Proposal, author: Address, now: int, actions: list[Action]
) -> None:
    round = proposal.signed.payload.round
    if round == state.round and state.current.proposal is not None:
        actions.append(Discarded(f"second proposal for {state.height}/{round} ignored"))
        return
    context = state.context
    problem = proposal_problem(
        proposal,
        author,
        height=state.height,
        validators=state.validators,
        previous_proposer=state.previous_proposer,
        ops=context.ops,
        recover=context.recover,
    )
    if problem is not None:
        actions.append(Discarded(f"proposal {state.height}/{round}: {problem}"))
        return
    if round > state.round:
        # A justified proposal for a later round: a quorum moved on, so follow it (Besu does).
        _move_to_round(state, round, now, actions, send_round_change=False)
        if state.current.proposal is not None or state.committed:
            return
    current = state.current
    block = proposal.signed.payload.block
    digest = context.ops.digest(block, round)
    current.proposal = proposal
    current.digest = digest
    current.prepares = {a: p for a, p in current.prepares.items() if p.payload.digest == digest}
    current.commits = {a: c for a, c in current.commits.items() if c.payload.digest == digest}
    if state.me in state.validators and _record_signature(state, PREPARE, round, digest):
        prepare = sign(PreparePayload(state.height, round, digest), context.signer)
        current.prepares[state.me] = prepare
        _broadcast(state, Prepare(prepare), actions)
    _check_prepared(state, actions)


def _record_signature(state: ValidatorState, code: int, round: int, digest: Hash32) -> bool:
    """Return whether we may sign `digest` for (code, round) now; remember it if so."""
    previous = state.signed.get((code, round))
    if previous is not None:
        return False  # signed already: same digest needs no second copy, another one is forbidden
    state.signed[(code, round)] = digest
    return True


def _on_prepare(
    state: ValidatorState,
    prepare: SignedData[PreparePayload],
    author: Address,
    actions: list[Action],
) -> None:
    current = state.current
    if author in current.prepares:
        actions.append(Discarded(f"repeat prepare from 0x{author.hex()}"))
        return
    if current.digest is not None and prepare.payload.digest != current.digest:
        actions.append(Discarded(f"prepare from 0x{author.hex()} for another digest"))
        return
    current.prepares[author] = prepare
    _check_prepared(state, actions)


def _on_commit(
    state: ValidatorState,
    commit: SignedData[CommitPayload],
    author: Address,
    actions: list[Action],
) -> None:
    current = state.current
    payload = commit.payload
    if author in current.commits:
        actions.append(Discarded(f"repeat commit from 0x{author.hex()}"))
        return
    if current.digest is not None and payload.digest != current.digest:
        actions.append(Discarded(f"commit from 0x{author.hex()} for another digest"))
        return
    try:
        sealer = state.context.recover(payload.digest, payload.commit_seal)
    except InvalidSignature as error:
        actions.append(Discarded(f"commit seal from 0x{author.hex()}: {error}"))
        return
    if sealer != author:
        actions.append(Discarded(f"commit seal of 0x{author.hex()} was made by another key"))
        return
    current.commits[author] = commit
    _check_committed(state, actions)


def _check_prepared(state: ValidatorState, actions: list[Action]) -> None:
    current = state.current
    if current.proposal is None or current.digest is None or current.sent_commit:
        return
    if len(current.prepares) < state.quorum():
        return
    current.sent_commit = True
    digest = current.digest
    state.prepared = PreparedCertificate(
        current.round,
        current.proposal.signed.payload.block,
        digest,
        tuple(current.prepares[a] for a in sorted(current.prepares)),
    )
    context = state.context
    if state.me in state.validators and _record_signature(state, COMMIT, current.round, digest):
        seal = context.signer.sign(digest)
        commit = sign(CommitPayload(state.height, current.round, digest, seal), context.signer)
        current.commits[state.me] = commit
        _broadcast(state, Commit(commit), actions)
    _check_committed(state, actions)


def _check_committed(state: ValidatorState, actions: list[Action]) -> None:
    current = state.current
    if current.proposal is None or state.committed:
        return
    if len(current.commits) < state.quorum():
        return
    _finish_round(state, "committed", actions)
    state.committed = True
    seals = tuple(current.commits[a].payload.commit_seal for a in sorted(current.commits))
    block = current.proposal.signed.payload.block
    actions.append(CommitBlock(state.height, current.round, block, seals))


def _on_round_change(
    state: ValidatorState,
    message: RoundChange,
    author: Address,
    now: int,
    actions: list[Action],
) -> None:
    context = state.context
    problem = round_change_problem(
        message,
        author,
        height=state.height,
        validators=state.validators,
        ops=context.ops,
        recover=context.recover,
    )
    if problem is not None:
        actions.append(Discarded(f"round change from 0x{author.hex()}: {problem}"))
        return
    target = message.signed.payload.round
    received = state.round_changes.setdefault(target, {})
    if author in received:
        actions.append(Discarded(f"repeat round change from 0x{author.hex()} for {target}"))
        return
    received[author] = message
    if context.config.early_round_change and target > state.round:
        _check_early_round_change(state, now, actions)
    _check_round_change_quorum(state, target, now, actions)


def _check_early_round_change(state: ValidatorState, now: int, actions: list[Action]) -> None:
    """f+1 validators ask for rounds above ours: at least one is honest, so catch up with them."""
    highest_by_author: dict[Address, int] = {}
    for target, received in state.round_changes.items():
        if target > state.round:
            for author in received:
                highest_by_author[author] = max(highest_by_author.get(author, 0), target)
    if len(highest_by_author) < rules.faulty_bound_plus_one(len(state.validators)):
        return
    lowest = min(highest_by_author.values())
    if lowest > state.round and not state.committed:
        _move_to_round(state, lowest, now, actions, send_round_change=True)


def _check_round_change_quorum(
    state: ValidatorState, target: int, now: int, actions: list[Action]
) -> None:
    received = state.round_changes.get(target, {})
    if target < state.round or target in state.actioned_round_changes or state.committed:
        return
    if len(received) < state.quorum():
        return
    state.actioned_round_changes.add(target)
    if target > state.round:
        _move_to_round(state, target, now, actions, send_round_change=False)
    if state.round == target and state.proposer(target) == state.me:
        _propose(state, None, now, actions)


def _propose(state: ValidatorState, built: Block | None, now: int, actions: list[Action]) -> None:
    """Propose at the current round: re-propose the best prepared block, or a fresh one."""
    round = state.round
    if (PROPOSAL, round) in state.signed or state.committed or state.me not in state.validators:
        return
    ops = state.context.ops
    justification: tuple[SignedData[RoundChangePayload], ...] = ()
    prepares: tuple[SignedData[PreparePayload], ...] = ()
    if round == 0:
        block = built
    else:
        received = state.round_changes.get(round, {})
        justification = tuple(received[a].signed for a in sorted(received))
        prepared = [rc for rc in received.values() if rc.signed.payload.prepared is not None]
        if prepared:
            best = max(prepared, key=_prepared_round)
            assert best.prepared_block is not None  # validated: metadata comes with its block
            block = ops.replace_round(best.prepared_block, round)
            prepares = best.prepares
        else:
            block = built
    if block is None:
        actions.append(BuildBlock(state.height, round))
        return
    digest = ops.digest(block, round)
    if not _record_signature(state, PROPOSAL, round, digest):
        return
    proposal = Proposal(
        sign(ProposalPayload(state.height, round, block), state.context.signer),
        justification,
        prepares,
    )
    _broadcast(state, proposal, actions)
    _on_proposal(state, proposal, state.me, now, actions)


def _prepared_round(message: RoundChange) -> int:
    prepared = message.signed.payload.prepared
    return -1 if prepared is None else prepared.round
