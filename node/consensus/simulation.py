"""Deterministic fault simulation of N QBFT validators, driven by one seeded scheduler.

Each validator runs the real `step`, a write-ahead log (real bytes, real replay after a crash) and a
toy chain. The scheduler, seeded, drops, delays, reorders and duplicates messages, partitions the
network, crashes validators (sometimes mid-step, losing the actions and tearing the last log
record) and restarts them from their log, and may make one validator Byzantine: it equivocates
proposals, casts conflicting votes and sends garbage bytes. Faults stop at `heal_ms`; after that
only the Byzantine validator (at most f) misbehaves.

Checked invariants:
- safety: no two different blocks finalized at one height on honest validators, ever;
- no honest validator signs two different digests for one (height, round, message kind);
- every finalized block carries a quorum of valid commit seals;
- liveness: after the faults heal, every honest validator finalizes `blocks_after_heal` more blocks
  within `liveness_window_ms` of simulated time.

A failing schedule prints the command that replays it:
`.venv/bin/python -m node.consensus.simulation --seed 1234 --validators 7`.
"""

from __future__ import annotations

import argparse
import hashlib
import heapq
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from eth_hash.auto import keccak

from node.consensus import rlp_codec as rlp
from node.consensus import rules
from node.consensus.crypto import KeySigner, recover_address
from node.consensus.events import (
    Action,
    BlockBuilt,
    BlockTimerExpired,
    Broadcast,
    BuildBlock,
    CommitBlock,
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
    MESSAGE_CODES,
    PREPARE,
    PROPOSAL,
    ROUND_CHANGE,
    Commit,
    CommitPayload,
    Prepare,
    PreparePayload,
    Proposal,
    ProposalPayload,
    RoundChange,
    RoundChangePayload,
    decode_message,
    encode_message,
    sign,
)
from node.consensus.ports import Block, InvalidSignature, Recover, Signer
from node.consensus.state import (
    ZERO_ADDRESS,
    Config,
    Context,
    ValidatorState,
    initial_state,
    step,
)
from node.consensus.wal import (
    WalRecord,
    decode_log,
    encode_record,
    replay,
    start_segment,
    starts_segment,
)
from node.ports import Address, Hash32

GENESIS_HASH = Hash32(b"\x00" * 32)


class SimulationViolation(AssertionError):
    """An invariant broke; the message says which, and at what simulated time."""


# --- signatures: a cheap deterministic stand-in, and the real one -----------------------------


class FakeSigner:
    """A simulation-only signature: address ‖ blake2b(address ‖ hash) ‖ zeros ‖ v=0.

    Not a secret: anyone could forge it, but the simulated Byzantine validator only signs as itself.
    It is 65 bytes and deterministic like the real one, and ~50x cheaper than secp256k1.
    """

    def __init__(self, address: Address) -> None:
        self._address = address

    @property
    def address(self) -> Address:
        """Return the validator address."""
        return self._address

    def sign(self, message_hash: Hash32) -> bytes:
        """Return the 65-byte fake signature of `message_hash`."""
        return self._address + _fake_mac(self._address + message_hash) + bytes(13)


def _fake_mac(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=32).digest()  # ~10x cheaper than keccak here


def fake_recover(message_hash: Hash32, signature: bytes) -> Address:
    """Return the signer of a `FakeSigner` signature; raises InvalidSignature if it is wrong."""
    if len(signature) != 65:
        raise InvalidSignature(f"a signature is 65 bytes, got {len(signature)}")
    address = Address(signature[:20])
    if signature[20:52] != _fake_mac(address + message_hash) or any(signature[52:]):
        raise InvalidSignature("fake signature does not match the hash")
    return address


# --- the toy chain ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ToyBlock:
    """A block cut down to what consensus reads: [height, parent, proposer, round, ts, nonce]."""

    height: int
    parent: Hash32
    proposer: Address
    round: int
    timestamp_ms: int
    nonce: int

    def encode(self) -> Block:
        """Return the block's RLP."""
        s = rlp.encode_scalar
        return rlp.encode_list(
            [
                s(self.height),
                rlp.encode_bytes(self.parent),
                rlp.encode_bytes(self.proposer),
                s(self.round),
                s(self.timestamp_ms),
                s(self.nonce),
            ]
        )

    @staticmethod
    def decode(block: Block) -> ToyBlock:
        """Return the toy block in `block`; raises RlpDecodingError."""
        items = rlp.split_list(block)
        if len(items) != 6:
            raise rlp.RlpDecodingError(f"a toy block has 6 fields, got {len(items)}")
        return ToyBlock(
            rlp.decode_scalar(items[0]),
            Hash32(rlp.decode_fixed(items[1], 32, "parent")),
            Address(rlp.decode_fixed(items[2], 20, "proposer")),
            rlp.decode_scalar(items[3]),
            rlp.decode_scalar(items[4]),
            rlp.decode_scalar(items[5]),
        )


def block_identity(block: Block) -> Hash32:
    """Return the block hash: its digest with round 0, the same at every round it is proposed."""
    toy = ToyBlock.decode(block)
    unrounded = ToyBlock(toy.height, toy.parent, toy.proposer, 0, toy.timestamp_ms, toy.nonce)
    return Hash32(hashlib.blake2b(unrounded.encode(), digest_size=32).digest())


@dataclass
class FinalizedBlock:
    """A block in a validator's chain, with the round and seals that finalized it."""

    block: Block
    round: int
    seals: tuple[bytes, ...]
    identity: Hash32


class ToyChain:
    """One validator's chain (the BlockOps the state machine sees); it survives crashes."""

    def __init__(self, validators: tuple[Address, ...]) -> None:
        self.validators = validators
        self.blocks: dict[int, FinalizedBlock] = {}

    @property
    def head(self) -> int:
        """Return the height of the last block (0 = genesis)."""
        return len(self.blocks)

    def hash_at(self, height: int) -> Hash32 | None:
        """Return the block hash at `height` (genesis is all zeros), or None beyond the head."""
        if height == 0:
            return GENESIS_HASH
        found = self.blocks.get(height)
        return None if found is None else found.identity

    def digest(self, block: Block, round: int) -> Hash32:
        """Return a hash of the block with `round` in it (the toy commit-seal hash)."""
        return Hash32(hashlib.blake2b(self.replace_round(block, round), digest_size=32).digest())

    def replace_round(self, block: Block, round: int) -> Block:
        """Return the block with its round field set to `round`."""
        toy = ToyBlock.decode(block)
        return ToyBlock(
            toy.height, toy.parent, toy.proposer, round, toy.timestamp_ms, toy.nonce
        ).encode()

    def validate(self, block: Block, height: int) -> str | None:
        """Return why `block` cannot follow our block `height - 1`, or None."""
        try:
            toy = ToyBlock.decode(block)
        except rlp.RlpDecodingError as error:
            return f"undecodable block: {error}"
        if toy.height != height:
            return f"block number {toy.height}, expected {height}"
        if toy.parent != self.hash_at(height - 1):
            return "parent is not our block at the previous height"
        if toy.proposer not in self.validators:
            return "coinbase is not a validator"
        return None

    def proposer_of(self, block: Block) -> Address:
        """Return the block's coinbase."""
        return ToyBlock.decode(block).proposer

    def build(self, height: int, round: int, proposer: Address, now: int, nonce: int) -> Block:
        """Return a fresh block on our head."""
        parent = self.hash_at(height - 1)
        if parent is None:
            raise SimulationViolation(f"asked to build {height} without its parent")
        return ToyBlock(height, parent, proposer, round, now, nonce).encode()


# --- schedule ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FaultPlan:
    """The faults of one schedule, all drawn from its seed."""

    heal_ms: int
    drop: float
    duplicate: float
    max_delay_ms: int
    byzantine: int | None
    partitions: tuple[tuple[int, int, frozenset[int]], ...]
    crashes: tuple[tuple[int, int, int, bool], ...]  # node, down at, up at, mid-step

    @staticmethod
    def draw(rng: random.Random, count: int) -> FaultPlan:
        """Draw a fault plan for `count` validators."""
        heal = rng.randrange(2_000, 15_000)
        partitions = []
        for _ in range(rng.randrange(0, 3)):
            start = rng.randrange(0, heal)
            end = rng.randrange(start, heal + 1)
            side = frozenset(rng.sample(range(count), rng.randrange(1, count)))
            partitions.append((start, end, side))
        crashes = []
        for _ in range(rng.randrange(0, 3)):
            start = rng.randrange(0, heal)
            crashes.append(
                (rng.randrange(count), start, rng.randrange(start, heal + 1), rng.random() < 0.5)
            )
        return FaultPlan(
            heal_ms=heal,
            drop=rng.choice((0.0, 0.05, 0.2, 0.4)),
            duplicate=rng.choice((0.0, 0.1, 0.3)),
            max_delay_ms=rng.choice((50, 300, 1500)),
            byzantine=rng.randrange(count) if rng.random() < 0.5 else None,
            partitions=tuple(partitions),
            crashes=tuple(crashes),
        )


@dataclass
class SimNode:
    """One simulated validator process: its state, log, chain and timers."""

    index: int
    context: Context
    chain: ToyChain
    state: ValidatorState
    wal: bytearray = field(default_factory=bytearray)
    alive: bool = True
    incarnation: int = 0
    crash_mid_step: bool = False
    timers: dict[TimerKind, tuple[int, int, int]] = field(default_factory=dict)
    summaries: list[str] = field(default_factory=list)


@dataclass
class SimulationResult:
    """What one schedule did; `violation` is None when every invariant held."""

    seed: int
    validators: int
    violation: str | None
    heads: tuple[int, ...]
    events: int
    simulated_ms: int

    def replay_command(self) -> str:
        """Return the one-line command that replays this schedule."""
        return (
            f".venv/bin/python -m node.consensus.simulation --seed {self.seed} "
            f"--validators {self.validators}"
        )


_DELIVER, _TIMER, _CRASH, _RESTART, _SYNC, _LOCAL = range(6)


class Simulation:
    """One seeded schedule. `run()` returns a SimulationResult; it never sleeps or does I/O."""

    def __init__(
        self,
        seed: int,
        validator_count: int,
        *,
        real_signatures: bool = False,
        blocks_after_heal: int = 3,
        liveness_window_ms: int = 600_000,
        faults: bool = True,
        config: Config | None = None,
    ) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.count = validator_count
        self.plan = (
            FaultPlan.draw(self.rng, validator_count)
            if faults
            else FaultPlan(0, 0.0, 0.0, 50, None, (), ())
        )
        self.blocks_after_heal = blocks_after_heal
        self.liveness_window_ms = liveness_window_ms
        signers: list[Signer] = []
        recover: Recover
        if real_signatures:
            keys = [
                KeySigner(keccak(b"simulation test key %d" % i)) for i in range(validator_count)
            ]
            signers.extend(keys)
            recover = recover_address
        else:
            signers.extend(
                FakeSigner(Address(keccak(b"validator %d" % i)[:20]))
                for i in range(validator_count)
            )
            recover = fake_recover
        signers.sort(key=lambda s: s.address)
        self.validators = tuple(s.address for s in signers)
        self.recover = recover
        self.config = config or Config(block_period_ms=1000, request_timeout_ms=1000)
        self.nodes: list[SimNode] = []
        for index, signer in enumerate(signers):
            chain = ToyChain(self.validators)
            context = Context(self.config, chain, signer, recover)
            self.nodes.append(SimNode(index, context, chain, initial_state(context)))
        self.queue: list[tuple[int, int, int, Any]] = []
        self.sequence = 0
        self.now = 0
        self.events = 0
        self.finalized: dict[int, tuple[Hash32, int]] = {}
        self.signed: dict[tuple[Address, int, int, int], Hash32] = {}
        self.twins: dict[tuple[int, int], tuple[Hash32, set[int]]] = {}
        self.finalizations: list[tuple[int, int, int]] = []  # (time, validator, height)

    # -- scheduling --

    def _push(self, at: int, kind: int, payload: Any) -> None:
        self.sequence += 1
        heapq.heappush(self.queue, (at, self.sequence, kind, payload))

    def _honest(self, index: int) -> bool:
        return index != self.plan.byzantine

    def _connected(self, a: int, b: int) -> bool:
        for start, end, side in self.plan.partitions:
            if start <= self.now < end and ((a in side) != (b in side)):
                return False
        return True

    def _faulty_now(self) -> bool:
        return self.now < self.plan.heal_ms

    # -- the driver of one node --

    def _handle(self, node: SimNode, event: Event) -> None:
        """Log `event`, step, then act, exactly as the real driver does."""
        if not node.alive:
            return
        self.events += 1
        record = WalRecord(event, self.now)
        new_segment = starts_segment(event, node.state)
        if new_segment:
            node.wal = bytearray(
                b"".join(encode_record(r) for r in start_segment(record, node.state))
            )
        else:
            node.wal += encode_record(record)
        node.state, actions = step(node.state, event, self.now)
        if node.crash_mid_step:
            node.crash_mid_step = False
            if self.rng.random() < 0.5 and not new_segment:
                # The crash tore the record just appended: the event never happened. (A new
                # segment is renamed into place whole, so it cannot tear.)
                del node.wal[-self.rng.randrange(1, 9) :]
            self._crash(node)
            return
        self._act(node, actions)

    def _act(self, node: SimNode, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Broadcast):
                self._record_signature(node, action)
                self._broadcast(node, action)
            elif isinstance(action, ScheduleTimer):
                node.timers[action.kind] = (action.height, action.round, action.deadline_ms)
                self._push(
                    max(action.deadline_ms, self.now),
                    _TIMER,
                    (node.index, node.incarnation, action),
                )
            elif isinstance(action, BuildBlock):
                block = node.chain.build(
                    action.height,
                    action.round,
                    node.context.signer.address,
                    self.now,
                    self.rng.randrange(1 << 32),
                )
                self._push(
                    self.now,
                    _LOCAL,
                    (node.index, node.incarnation, BlockBuilt(action.height, action.round, block)),
                )
            elif isinstance(action, CommitBlock):
                self._import(
                    node,
                    action.height,
                    FinalizedBlock(
                        action.block, action.round, action.seals, block_identity(action.block)
                    ),
                )
            elif isinstance(action, RoundSummary):
                node.summaries.append(f"t={self.now} {action.describe()}")

    def _record_signature(self, node: SimNode, action: Broadcast) -> None:
        """Check the never-sign-twice rule on everything an honest validator sends."""
        if not self._honest(node.index) or action.code not in (PROPOSAL, PREPARE, COMMIT):
            return
        message = decode_message(action.code, action.data)
        payload = message.signed.payload
        if isinstance(payload, ProposalPayload):
            digest = node.chain.digest(payload.block, payload.round)
        else:
            assert isinstance(payload, PreparePayload | CommitPayload)
            digest = payload.digest
        key = (node.context.signer.address, action.code, payload.height, payload.round)
        previous = self.signed.setdefault(key, digest)
        if previous != digest:
            raise SimulationViolation(
                f"t={self.now}: validator {node.index} signed two digests for message "
                f"{action.code:#x} at {payload.height}/{payload.round}"
            )

    def _broadcast(self, node: SimNode, action: Broadcast) -> None:
        for target in self.nodes:
            if target is node:
                continue
            for code, data in self._outgoing(node, action, target.index):
                self._send(node.index, target.index, code, data)

    def _send(self, source: int, target: int, code: int, data: bytes) -> None:
        if not self._connected(source, target):
            return
        if self._faulty_now() and self.rng.random() < self.plan.drop:
            return
        copies = 2 if self.rng.random() < self.plan.duplicate else 1
        for _ in range(copies):
            delay = self.rng.randrange(1, self.plan.max_delay_ms + 1)
            self._push(self.now + delay, _DELIVER, (target, code, data))

    def _outgoing(self, node: SimNode, action: Broadcast, target: int) -> list[tuple[int, bytes]]:
        """Return what `node` sends to `target`: the broadcast, or a Byzantine twist of it."""
        if self._honest(node.index) or self.rng.random() < 0.3:
            return [(action.code, action.data)]
        choice = self.rng.randrange(5)
        signer = node.context.signer
        if choice == 0:  # silence
            return []
        if choice == 1:  # garbage: random bytes, a cut message or a flipped byte
            data = bytearray(action.data)
            if data and self.rng.random() < 0.5:
                data[self.rng.randrange(len(data))] ^= 1 << self.rng.randrange(8)
            elif data:
                del data[self.rng.randrange(len(data)) :]
            else:
                data = bytearray(self.rng.randbytes(self.rng.randrange(1, 80)))
            return [(self.rng.choice(MESSAGE_CODES), bytes(data))]
        message = decode_message(action.code, action.data)
        payload = message.signed.payload
        key = (payload.height, payload.round)
        if isinstance(message, Proposal):  # equivocate: another block, same height and round
            assert isinstance(payload, ProposalPayload)
            other = node.chain.build(
                payload.height, payload.round, signer.address, self.now, self.rng.randrange(1 << 32)
            )
            twin = Proposal(
                sign(ProposalPayload(payload.height, payload.round, other), signer),
                message.round_changes,
                message.prepares,
            )
            twin_digest = node.chain.digest(other, payload.round)
            self.twins.setdefault(key, (twin_digest, set()))[1].add(target)
            return [(PROPOSAL, encode_message(twin))]
        if isinstance(message, RoundChange):  # hide the prepared certificate
            hidden = RoundChange(
                sign(RoundChangePayload(payload.height, payload.round, None), signer), None, ()
            )
            return [(ROUND_CHANGE, encode_message(hidden))]
        equivocated = self.twins.get(key)
        if equivocated is not None and target in equivocated[1]:
            # back the twin proposal this target got, consistently, with both votes
            digests = [equivocated[0]]
            sent: list[tuple[int, bytes]] = []
        else:  # conflicting votes: an extra prepare and commit for a digest nobody proposed
            digests = [Hash32(self.rng.randbytes(32))]
            sent = [(action.code, action.data)]
        for digest in digests:
            prepare = Prepare(sign(PreparePayload(payload.height, payload.round, digest), signer))
            seal = signer.sign(digest)
            commit = Commit(
                sign(CommitPayload(payload.height, payload.round, digest, seal), signer)
            )
            sent += [(PREPARE, encode_message(prepare)), (COMMIT, encode_message(commit))]
        return sent

    def _import(self, node: SimNode, height: int, finalized: FinalizedBlock) -> None:
        """Import a finalized block (committed or synced) after checking its seals."""
        if height <= node.chain.head:
            self._feed_head(node)
            return
        if height != node.chain.head + 1:
            raise SimulationViolation(f"validator {node.index} imported {height} out of order")
        digest = node.chain.digest(finalized.block, finalized.round)
        sealers = set()
        for seal in finalized.seals:
            try:
                sealers.add(self.recover(digest, seal))
            except InvalidSignature as error:
                raise SimulationViolation(f"t={self.now}: a bad commit seal at {height}") from error
        if len(sealers) < rules.quorum(self.count) or not sealers <= set(self.validators):
            raise SimulationViolation(f"t={self.now}: block {height} lacks a quorum of seals")
        node.chain.blocks[height] = finalized
        self.finalizations.append((self.now, node.index, height))
        if self._honest(node.index):
            known = self.finalized.setdefault(height, (finalized.identity, node.index))
            if known[0] != finalized.identity:
                raise SimulationViolation(
                    f"t={self.now}: SAFETY: validators {known[1]} and {node.index} finalized "
                    f"different blocks at height {height}"
                )
        self._feed_head(node)

    def _feed_head(self, node: SimNode) -> None:
        head = node.chain.head
        if head >= node.state.height and head > 0:
            block = ToyBlock.decode(node.chain.blocks[head].block)
            self._push(
                self.now,
                _LOCAL,
                (
                    node.index,
                    node.incarnation,
                    NewChainHead(head, self.validators, block.proposer, block.timestamp_ms),
                ),
            )

    def _crash(self, node: SimNode) -> None:
        node.alive = False
        node.incarnation += 1
        node.timers.clear()

    def _restart(self, node: SimNode) -> None:
        node.alive = True
        node.incarnation += 1
        records, whole = decode_log(bytes(node.wal))
        del node.wal[whole:]
        node.state, redo = replay(node.context, records)
        if node.state.height == 0:
            node.state = initial_state(node.context)
            self._handle(node, StartHeight(1, self.validators, ZERO_ADDRESS, 0))
        self._act(node, redo)
        self._feed_head(node)

    def _sync(self, node: SimNode) -> None:
        """Fetch missing finalized blocks from one reachable peer, as block sync does."""
        peers = [
            p
            for p in self.nodes
            if p is not node and p.alive and self._connected(node.index, p.index)
        ]
        if not peers:
            return
        peer = self.rng.choice(peers)
        while peer.chain.head > node.chain.head:
            next_height = node.chain.head + 1
            self._import(node, next_height, peer.chain.blocks[next_height])

    # -- the loop --

    def run(self) -> SimulationResult:
        """Run the schedule; return its result (violation set on the first broken invariant)."""
        try:
            self._run()
            violation = None
        except SimulationViolation as error:
            violation = str(error)
        except Exception as error:  # a crash of the code under test is a failed schedule too
            violation = f"t={self.now}: unexpected {type(error).__name__}: {error}"
        return SimulationResult(
            self.seed,
            self.count,
            violation,
            tuple(n.chain.head for n in self.nodes),
            self.events,
            self.now,
        )

    def _run(self) -> None:
        for node in self.nodes:
            self._handle(node, StartHeight(1, self.validators, ZERO_ADDRESS, 0))
            self._push(1000 + node.index * 37, _SYNC, node.index)
        for index, down, up, mid_step in self.plan.crashes:
            self._push(down, _CRASH, (index, mid_step))
            self._push(up, _RESTART, index)
        heal_target: int | None = None
        deadline = self.plan.heal_ms + self.liveness_window_ms
        honest = [n for n in self.nodes if self._honest(n.index)]
        while self.queue:
            at, _, kind, payload = heapq.heappop(self.queue)
            self.now = at
            if heal_target is None and at >= self.plan.heal_ms:
                heal_target = max(n.chain.head for n in self.nodes) + self.blocks_after_heal
            if heal_target is not None and all(n.chain.head >= heal_target for n in honest):
                return
            if at > deadline:
                heads = [n.chain.head for n in self.nodes]
                raise SimulationViolation(
                    f"LIVENESS: heads {heads} did not reach {heal_target} within "
                    f"{self.liveness_window_ms} ms after the faults healed at {self.plan.heal_ms}"
                )
            self._dispatch(kind, payload)
        raise SimulationViolation("the schedule ran out of events before reaching its target")

    def _fire_timer(self, index: int, incarnation: int, timer: ScheduleTimer) -> None:
        node = self.nodes[index]
        if incarnation != node.incarnation or node.timers.get(timer.kind) != (
            timer.height,
            timer.round,
            timer.deadline_ms,
        ):
            return  # superseded by a later timer of the same kind, or from before a crash
        event: Event = (
            BlockTimerExpired(timer.height)
            if timer.kind is TimerKind.BLOCK
            else RoundTimerExpired(timer.height, timer.round)
        )
        self._handle(node, event)

    def _dispatch(self, kind: int, payload: Any) -> None:
        if kind == _DELIVER:
            target, code, data = payload
            self._handle(self.nodes[target], MessageReceived(code, data))
        elif kind == _TIMER:
            self._fire_timer(*payload)
        elif kind == _LOCAL:
            index, incarnation, event = payload
            node = self.nodes[index]
            if incarnation == node.incarnation:
                self._handle(node, event)
        elif kind == _CRASH:
            index, mid_step = payload
            node = self.nodes[index]
            if node.alive:
                if mid_step:
                    node.crash_mid_step = True
                else:
                    self._crash(node)
        elif kind == _RESTART:
            node = self.nodes[payload]
            if not node.alive:
                self._restart(node)
            node.crash_mid_step = False
        else:
            node = self.nodes[payload]
            if node.alive:
                self._sync(node)
            self._push(self.now + 1000, _SYNC, payload)


def run_schedule(seed: int, validators: int, *, real_signatures: bool = False) -> SimulationResult:
    """Run one seeded schedule and return its result."""
    return Simulation(seed, validators, real_signatures=real_signatures).run()


def main(argv: list[str] | None = None, out: Callable[[str], Any] = print) -> int:
    """Replay one schedule from the command line; exit status 1 when an invariant broke."""
    parser = argparse.ArgumentParser(description="Replay one seeded QBFT fault schedule.")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--validators", type=int, default=4)
    parser.add_argument("--real-signatures", action="store_true")
    parser.add_argument("--verbose", action="store_true", help="print every round summary")
    arguments = parser.parse_args(argv)
    simulation = Simulation(
        arguments.seed, arguments.validators, real_signatures=arguments.real_signatures
    )
    result = simulation.run()
    out(f"plan: {simulation.plan}")
    if arguments.verbose or result.violation:
        for node in simulation.nodes:
            for line in node.summaries[-40 if not arguments.verbose else 0 :]:
                out(f"validator {node.index}: {line}")
    out(
        f"seed={result.seed} validators={result.validators} heads={list(result.heads)} "
        f"events={result.events} simulated_ms={result.simulated_ms} "
        f"result={'ok' if result.violation is None else 'VIOLATION: ' + result.violation}"
    )
    return 0 if result.violation is None else 1


if __name__ == "__main__":
    sys.exit(main())
