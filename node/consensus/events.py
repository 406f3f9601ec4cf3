"""Inputs and outputs of the QBFT state machine: events in, actions out.

Events are everything that can change a validator's consensus state; the driver appends each one to
the write-ahead log before handing it to `step`, so a replay rebuilds the same state. Actions are
what the driver must do; none of them is done by the state machine itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from node.consensus.ports import Block
from node.ports import Address


@dataclass(frozen=True)
class StartHeight:
    """Begin consensus for `height` on top of a parent block (at boot, or the first event of a log).

    `validators` are the validators after the parent (sorted ascending), `previous_proposer` the
    parent's coinbase, `parent_timestamp_ms` the parent header's timestamp in milliseconds.
    """

    height: int
    validators: tuple[Address, ...]
    previous_proposer: Address
    parent_timestamp_ms: int


@dataclass(frozen=True)
class NewChainHead:
    """Block `height` was imported (committed by us or fetched by sync): go to `height + 1`."""

    height: int
    validators: tuple[Address, ...]
    proposer: Address
    timestamp_ms: int


@dataclass(frozen=True)
class MessageReceived:
    """A QBFT message arrived from a peer: devp2p `code` and message data."""

    code: int
    data: bytes


@dataclass(frozen=True)
class BlockTimerExpired:
    """The block period after the parent's timestamp passed: round 0 may start."""

    height: int


@dataclass(frozen=True)
class RoundTimerExpired:
    """The round timer of (height, round) fired."""

    height: int
    round: int


@dataclass(frozen=True)
class BlockBuilt:
    """The block the driver built on request (`BuildBlock`). Logged, so a replay reuses it."""

    height: int
    round: int
    block: Block


Event = (
    StartHeight
    | NewChainHead
    | MessageReceived
    | BlockTimerExpired
    | RoundTimerExpired
    | BlockBuilt
)


class TimerKind(Enum):
    """The two QBFT timers."""

    BLOCK = "block"
    ROUND = "round"


@dataclass(frozen=True)
class Broadcast:
    """Send this message to every other validator (it is already applied locally)."""

    code: int
    data: bytes
    height: int
    round: int


@dataclass(frozen=True)
class ScheduleTimer:
    """Fire `BlockTimerExpired` / `RoundTimerExpired` at `deadline_ms`; a later one replaces it."""

    kind: TimerKind
    height: int
    round: int
    deadline_ms: int


@dataclass(frozen=True)
class BuildBlock:
    """Build a new block for (height, round) with our coinbase; answer with `BlockBuilt`.

    Building reads the txpool and the clock, so it happens outside the state machine and its result
    comes back as a logged event: a restarted validator proposes the same block, never another.
    """

    height: int
    round: int


@dataclass(frozen=True)
class CommitBlock:
    """A quorum committed: put `round` and `seals` into the block's extraData and import it."""

    height: int
    round: int
    block: Block
    seals: tuple[bytes, ...]


@dataclass(frozen=True)
class RoundSummary:
    """A round ended: what an operator reads at INFO to see why a height stalled or finished."""

    height: int
    round: int
    proposer: Address
    proposal_received: bool
    prepared_by: tuple[Address, ...]
    committed_by: tuple[Address, ...]
    outcome: str

    def describe(self) -> str:
        """Return the one-line log text."""

        def short(addresses: tuple[Address, ...]) -> str:
            return "[" + ",".join("0x" + a.hex()[:8] for a in addresses) + "]"

        proposal = "yes" if self.proposal_received else "no"
        return (
            f"QBFT round summary height={self.height} round={self.round} "
            f"proposer=0x{self.proposer.hex()} proposal={proposal} "
            f"prepared={len(self.prepared_by)}{short(self.prepared_by)} "
            f"committed={len(self.committed_by)}{short(self.committed_by)} outcome={self.outcome}"
        )


@dataclass(frozen=True)
class Discarded:
    """An input was dropped (stale, duplicate, invalid); `reason` is for a DEBUG log line."""

    reason: str


Action = Broadcast | ScheduleTimer | BuildBlock | CommitBlock | RoundSummary | Discarded
