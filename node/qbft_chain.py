"""The chain as QBFT consensus sees it: `BlockOps` and the driver's `ConsensusChain` over a Ledger.

A consensus block is its RLP `[header, txs, ommers, withdrawals]` (QBFT.md section 4): the header's
extraData carries the round and no commit seals. This adapter

- builds a proposal from the txpool with our coinbase and the round in extraData (`build`);
- judges a proposal against our block at `height - 1` by the header rules (all but the commit-seal
  rule) and by re-executing it (`validate`); the execution is kept, so the commit does not run the
  transactions a second time;
- computes the digest (commit-seal hash with a given round) and re-rounds a block for a
  re-proposal (`digest`, `replace_round`), via node.header and node.extradata;
- stores a block once a quorum committed, with the round and seals put into its extraData, and
  removes its transactions from the pool in the same atomic batch (`import_sealed`).

Invariants: every call runs under the ledger lock; a block that is already our block at its height
is accepted quietly (a write-ahead-log replay after a crash, or sync got there first); nothing
here raises into the driver for a block a peer sent: a bad block is a reason string or a log line.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import rlp

from node.chain import BuiltBlock, InvalidBlock
from node.consensus.events import NewChainHead, StartHeight
from node.consensus.ports import Block
from node.extradata import ExtraDataError, Vote, decode_extra_data, encode_extra_data
from node.header import QbftHeader, commit_seal_hash, decode_header, encode_header
from node.ledger import Ledger
from node.ports import Address, Hash32, LedgerError, TxRejected
from node.transactions import SignedTransaction, decode_transaction
from node.votes import VoteTally

log = logging.getLogger(__name__)

DEFAULT_PROPOSAL_GAS_BUDGET = 20_000_000
"""Gas a proposal may take from the pool (at most the block gas limit). Every validator
re-executes a proposal inside the round timer; a block that takes longer than the timer to run
makes round 0 expire before the prepares arrive. Measured with bench/consortium.py (four
validators sharing two cores, 4 s round timer): 250 point-contract calls (30M gas) per block
took 2-3.5 s to re-execute and every height needed round 1 (26-33 tx/s); at 20M gas no round
changed (66 tx/s); at 12M, 54 tx/s."""

EXECUTED_PROPOSALS_KEPT = 16
"""Proposals kept executed per height: one per round is plenty; more only guards memory."""


class BlockDecodeError(ValueError):
    """Bytes are not a block RLP `[header, txs, ommers, withdrawals]`; the message says why."""


@dataclass(frozen=True)
class DecodedBlock:
    """A block's header and its signed transactions (senders recovered)."""

    header: QbftHeader
    transactions: list[SignedTransaction]


def encode_block(header: QbftHeader, transactions: Sequence[SignedTransaction]) -> Block:
    """Return the block RLP `[header, txs, [], []]` (legacy txs as lists, typed ones as strings)."""
    items: list[object] = [
        rlp.decode(item.raw) if item.raw[0] >= 0xC0 else item.raw for item in transactions
    ]
    encoded: bytes = rlp.encode([rlp.decode(encode_header(header)), items, [], []])
    return encoded


def decode_block(data: bytes, chain_id: int) -> DecodedBlock:
    """Return the header and transactions of block RLP `data`; raise BlockDecodeError."""
    try:
        items = rlp.decode(data, strict=True)
    except rlp.exceptions.DecodingError as error:
        raise BlockDecodeError(f"block is not valid RLP: {error}") from error
    if not isinstance(items, list) or len(items) < 2 or not isinstance(items[0], list):
        raise BlockDecodeError("a block must be the RLP list [header, txs, ommers, withdrawals]")
    if len(items) > 2 and items[2] != []:
        raise BlockDecodeError("a QBFT block has no ommers")
    if not isinstance(items[1], list):
        raise BlockDecodeError("block transactions must be a list")
    try:
        header = decode_header(rlp.encode(items[0]))
    except (rlp.exceptions.DeserializationError, rlp.exceptions.DecodingError) as error:
        raise BlockDecodeError(f"block header does not decode: {error}") from error
    transactions: list[SignedTransaction] = []
    for index, item in enumerate(items[1]):
        raw = rlp.encode(item) if isinstance(item, list) else item
        try:
            transactions.append(decode_transaction(raw, chain_id))
        except (TxRejected, ValueError) as error:
            raise BlockDecodeError(f"transaction {index} does not decode: {error}") from error
    return DecodedBlock(header, transactions)


def with_round_and_seals(header: QbftHeader, round: int, seals: tuple[bytes, ...]) -> QbftHeader:
    """Return `header` with extraData's round and commit seals replaced (vote and set kept)."""
    extra = decode_extra_data(header.extra_data)
    sealed_extra = encode_extra_data(replace(extra, round=round, seals=seals))
    copied: QbftHeader = header.copy(extra_data=sealed_extra)  # type: ignore[assignment]
    return copied


class QbftChain:
    """BlockOps and ConsensusChain over one Ledger (see the module docstring)."""

    def __init__(
        self,
        ledger: Ledger,
        clock: Callable[[], float] = time.time,
        choose_vote: Callable[[int, VoteTally], Vote | None] | None = None,
        proposal_gas_budget: int = DEFAULT_PROPOSAL_GAS_BUDGET,
    ) -> None:
        self.ledger = ledger
        self.chain = ledger.chain
        self.clock = clock
        self._choose_vote = choose_vote
        self.proposal_gas_budget = proposal_gas_budget
        self._executed: OrderedDict[bytes, BuiltBlock] = OrderedDict()

    # -- BlockOps -------------------------------------------------------------------------

    def _decode(self, block: Block) -> DecodedBlock:
        return decode_block(block, self.chain.chain_id)

    def digest(self, block: Block, round: int) -> Hash32:
        """Return the commit-seal hash of `block` with `round` in its extraData (QBFT.md 2)."""
        header = decode_block(block, self.chain.chain_id).header
        return Hash32(commit_seal_hash(with_round_and_seals(header, round, ())))

    def replace_round(self, block: Block, round: int) -> Block:
        """Return `block` with its extraData round set to `round`, seals emptied."""
        decoded = self._decode(block)
        return encode_block(with_round_and_seals(decoded.header, round, ()), decoded.transactions)

    def proposer_of(self, block: Block) -> Address:
        """Return the block's header coinbase."""
        return Address(self._decode(block).header.coinbase)

    def validate(self, block: Block, height: int) -> str | None:
        """Return None when `block` is a valid proposal at `height`, else why not.

        Judged against our block at `height - 1`: when we already hold a block at `height` (a
        replay after import), only that very block is valid.
        """
        try:
            decoded = self._decode(block)
            header = decoded.header
            extra = decode_extra_data(header.extra_data)
        except (BlockDecodeError, ExtraDataError) as error:
            return str(error)
        problem = None
        if header.block_number != height:
            problem = f"block number {header.block_number} is not the height {height}"
        elif extra.seals:
            problem = "a proposed block must not carry commit seals"
        if problem is not None:
            return problem
        with self.ledger.lock:
            head = self.chain.head_header
            if head.block_number != height - 1:
                return self._judge_off_head(header, height)
            known = self._executed.get(header.hash)
            if known is not None and known.header.parent_hash == head.hash:
                return None
            started = time.perf_counter()
            try:
                built = self.chain.execute_on_head(
                    header, decoded.transactions, self.clock(), check_seals=False
                )
            except (InvalidBlock, LedgerError, ExtraDataError) as error:
                return f"invalid proposal for block {height}: {error}"
            self._remember(built)
            log.debug(
                "proposal for block %d with %d transactions re-executed in %.0f ms",
                height,
                len(decoded.transactions),
                (time.perf_counter() - started) * 1000,
            )
            return None

    def _judge_off_head(self, header: QbftHeader, height: int) -> str | None:
        """Judge a proposal when our head is not its parent: only our own block passes."""
        head = self.chain.head_header
        if head.block_number < height:
            return f"our head is block {head.block_number}; block {height} cannot be judged yet"
        ours = self.chain.header_by_number(height)
        if ours is not None and ours.hash == header.hash:
            return None
        return f"block {height} is already finalized as another block"

    def _remember(self, built: BuiltBlock) -> None:
        self._executed[built.header.hash] = built
        while len(self._executed) > EXECUTED_PROPOSALS_KEPT:
            self._executed.popitem(last=False)

    # -- ConsensusChain -------------------------------------------------------------------

    def build(self, height: int, round: int, proposer: Address, timestamp_ms: int) -> Block:
        """Return a new block on the head from the pool, with `proposer` as coinbase.

        The timestamp is the block timer's wall time in whole seconds, but never earlier than
        the parent's plus the block period (Besu TimestampMoreRecentThanParent; with a
        sub-second `xblockperiodmilliseconds` period, never earlier than the parent's).
        """
        ledger = self.ledger
        started = time.perf_counter()
        with ledger.lock:
            parent = self.chain.head_header
            if parent.block_number + 1 != height:
                log.warning(
                    "asked to build block %d but the head is %d; building on the head",
                    height,
                    parent.block_number,
                )
            gap = self.chain.genesis.qbft.minimum_timestamp_gap  # 0 for sub-second periods
            timestamp = max(round_half_up(timestamp_ms), parent.timestamp + gap)
            candidates = ledger.txpool.select(min(parent.gas_limit, self.proposal_gas_budget))
            vote = None
            if self._choose_vote is not None:
                tally = self.chain.validator_tracker.tally_after(parent.block_number)
                vote = self._choose_vote(parent.block_number + 1, tally)
            built = self.chain.build_block(
                candidates, proposer, timestamp, round_number=round, vote=vote
            )
            rejected = built.execution.rejected
            if rejected:
                keys = ledger.txpool.removal_writes([], rejected)
                with ledger.store.batch() as batch:
                    ledger.txpool.write_removals(batch, keys)
                ledger.txpool.settle([], rejected)
            self._remember(built)
            block = encode_block(built.header, built.transactions)
        log.info(
            "built block %d round %d with %d transactions in %.0f ms",
            height,
            round,
            len(built.transactions),
            (time.perf_counter() - started) * 1000,
        )
        return block

    def import_sealed(self, block: Block, round: int, seals: tuple[bytes, ...]) -> NewChainHead:
        """Put `round` and `seals` into the block's extraData, store it; describe the new head.

        A block already stored at its height is accepted quietly. A block that fails import
        (which a quorum of honest validators makes impossible) is logged at ERROR and the head
        stays; peers' sync then brings the finalized block.
        """
        ledger = self.ledger
        try:
            decoded = self._decode(block)
            sealed = with_round_and_seals(decoded.header, round, seals)
            with ledger.lock:
                head = self.chain.head_header
                if head.block_number >= sealed.block_number:
                    ours = self.chain.header_by_number(sealed.block_number)
                    if ours is None or ours.hash != sealed.hash:
                        log.error(
                            "committed block %d 0x%s differs from our stored block",
                            sealed.block_number,
                            sealed.hash.hex(),
                        )
                    return self.head_event()
                self._store(sealed, decoded.transactions)
        except (BlockDecodeError, ExtraDataError, InvalidBlock, LedgerError) as error:
            log.error("cannot import the committed block: %s", error)
        finally:
            self.chain.deliver_new_heads()
        return self.head_event()

    def _store(self, sealed: QbftHeader, transactions: list[SignedTransaction]) -> None:
        """Store a sealed block on the head, reusing the proposal's execution when we have it."""
        ledger = self.ledger
        head = self.chain.head_header
        built = self._executed.get(sealed.hash)
        now = self.clock()
        if built is not None and built.header.parent_hash == head.hash:
            keys = ledger.txpool.removal_writes(built.transactions, [])
            self.chain.import_built(
                built, sealed, now, lambda batch: ledger.txpool.write_removals(batch, keys)
            )
            mined = built.transactions
        else:
            keys = ledger.txpool.removal_writes(transactions, [])
            self.chain.import_block(
                sealed, transactions, now, lambda batch: ledger.txpool.write_removals(batch, keys)
            )
            mined = transactions
        ledger.txpool.settle(mined, [])
        self._executed.clear()

    def import_synced(self, block: Block) -> bool:
        """Import a sealed block fetched from a peer; return False if it was already ours.

        Raises InvalidBlock (or BlockDecodeError) when it is not the next valid block.
        """
        decoded = self._decode(block)
        header = decoded.header
        try:
            with self.ledger.lock:
                head = self.chain.head_header
                if header.block_number <= head.block_number:
                    ours = self.chain.header_by_number(header.block_number)
                    if ours is not None and ours.hash == header.hash:
                        return False
                    raise InvalidBlock(
                        f"block {header.block_number} 0x{header.hash.hex()} conflicts with "
                        "our finalized block"
                    )
                self._store(header, decoded.transactions)
                return True
        finally:
            self.chain.deliver_new_heads()

    def head_event(self) -> NewChainHead:
        """Describe the current head: number, validators after it, coinbase, timestamp."""
        with self.ledger.lock:
            head = self.chain.head_header
            validators = self.chain.validators_at(head.block_number)
        return NewChainHead(
            height=head.block_number,
            validators=tuple(validators),
            proposer=Address(head.coinbase),
            timestamp_ms=head.timestamp * 1000,
        )

    def start_event(self) -> StartHeight:
        """Return the StartHeight for the block after the head (first event of a fresh log)."""
        head = self.head_event()
        return StartHeight(
            height=head.height + 1,
            validators=head.validators,
            previous_proposer=head.proposer,
            parent_timestamp_ms=head.timestamp_ms,
        )


def round_half_up(timestamp_ms: int) -> int:
    """Return milliseconds as whole seconds, rounded half up (Besu `round(now_ms / 1000)`)."""
    return (timestamp_ms + 500) // 1000
