"""The ledger facade the node process and JSON-RPC use: chain + txpool + config + node key.

`open_ledger(datadir)` opens `<datadir>/chain` (LevelDB), reads genesis.json, config.toml and
keys/node.key, and reloads the persisted txpool. `Ledger.produce_block(now)` builds a block from
the pool, seals it with this node's key (one validator for now: the block needs quorum(1) = 1
seal), imports it and persists it, all in one atomic batch that also removes the mined
transactions from the persisted pool. Block time comes from `Ledger.clock` (a
`node.devclock.BlockClock`: the wall clock, or the dev clock a dev node's JSON-RPC moves).

Thread safety: the chain and the pool share one re-entrant lock; every public method of all three
takes it, so RPC reads from a thread pool and a timer thread producing blocks may run together.
New-head listeners (`chain.subscribe`) run on the producing thread after that lock is released,
once per block and in block order, so they may read the ledger; they should not block for long.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path

import coincurve

from node.chain import Chain
from node.config import NodeConfig, load_config
from node.devclock import BlockClock
from node.extradata import decode_extra_data, encode_extra_data
from node.genesis import (
    CHAIN_DIR,
    CONFIG_FILE,
    GENESIS_FILE,
    Genesis,
    load_genesis,
    load_node_key,
    node_address,
)
from node.header import QbftHeader, commit_seal_hash
from node.ports import Address, BlockView, LedgerError
from node.seals import commit_seal
from node.storage import KeyValueStore
from node.storage.leveldb import LevelDBStore
from node.txpool import TxPool

log = logging.getLogger(__name__)


class NotAValidator(LedgerError):
    """This node's key is not among the validators, so it cannot seal blocks."""


def seal_header(header: QbftHeader, key: coincurve.PrivateKey) -> QbftHeader:
    """Return `header` with this key's commit seal appended to its extraData seals."""
    extra = decode_extra_data(header.extra_data)
    seal = commit_seal(key, commit_seal_hash(header))
    sealed_extra = encode_extra_data(replace(extra, seals=(*extra.seals, seal)))
    sealed: QbftHeader = header.copy(extra_data=sealed_extra)  # type: ignore[assignment]
    return sealed


@dataclass
class Ledger:
    """Chain, txpool, config and the node key, behind one lock."""

    chain: Chain
    txpool: TxPool
    config: NodeConfig
    validator_address: Address
    node_key: coincurve.PrivateKey
    store: KeyValueStore
    lock: threading.RLock
    clock: BlockClock = field(default_factory=BlockClock)

    def produce_block(self, now: float | None = None, *, force: bool = False) -> BlockView | None:
        """Build a block from the pool, seal it, import and persist it; return it.

        Returns None when the pool has nothing ready and `chain.empty_blocks` is false, or when
        it is too early: the block timestamp must be at least the parent's plus the genesis
        block period and at most `now` + 1 s (QBFT.md section 3). Transactions that cannot be
        applied are dropped from the pool with their reason (`txpool.drop_reason`).
        Raises NotAValidator when this node's key is not a validator.

        `now` defaults to `self.clock.now()` (the block clock, with the dev offset if any); a
        timestamp pinned by `evm_setNextBlockTimestamp` is used and then cleared. `force=True`
        (`evm_mine`) seals a block even with nothing to include, moving the dev clock forward
        when the block period makes the next valid timestamp later than now + 1 s.
        """
        try:
            return self._produce_block(self.clock.now() if now is None else now, force)
        finally:
            self.chain.deliver_new_heads()  # outside the lock: listeners may call back in

    def _produce_block(self, now: float, force: bool) -> BlockView | None:
        with self.lock:
            parent = self.chain.head_header
            validators = self.chain.validators_at(parent.block_number)
            if self.validator_address not in validators:
                raise NotAValidator(
                    f"node key address 0x{self.validator_address.hex()} is not a validator; "
                    "blocks are sealed only by validators listed in genesis extraData"
                )
            gap = self.chain.genesis.qbft.minimum_timestamp_gap
            pinned = self.clock.pinned_timestamp()
            earliest = parent.timestamp + gap
            timestamp = max(round(now) if pinned is None else pinned, earliest)
            if timestamp > now + 1:
                if not force:
                    return None
                self.clock.advance_to(timestamp)
                now = self.clock.now()
            make_empty = force or self.config.chain.empty_blocks
            candidates = self.txpool.select(parent.gas_limit)
            if not candidates and not make_empty:
                return None
            built = self.chain.build_block(candidates, self.validator_address, timestamp)
            rejected = built.execution.rejected
            if not built.transactions and not make_empty:
                if rejected:
                    keys = self.txpool.removal_writes([], rejected)
                    with self.store.batch() as batch:
                        self.txpool.write_removals(batch, keys)
                    self.txpool.settle([], rejected)
                return None
            sealed = seal_header(built.header, self.node_key)
            keys = self.txpool.removal_writes(built.transactions, rejected)
            block = self.chain.import_built(
                built, sealed, now, lambda batch: self.txpool.write_removals(batch, keys)
            )
            self.txpool.settle(built.transactions, rejected)
            self.clock.consume_pinned(timestamp)
            return block

    def close(self) -> None:
        """Close the store; the ledger is unusable afterwards."""
        with self.lock:
            self.store.close()


def open_ledger(datadir: Path) -> Ledger:
    """Open the node in `datadir` (made by `init_datadir`).

    Raises GenesisError, ConfigError, NodeKeyError, StorageError or ChainNotInitialised with a
    message naming the file at fault.
    """
    genesis = load_genesis(datadir / GENESIS_FILE)
    config = load_config(datadir / CONFIG_FILE, genesis.qbft.block_period)
    key = load_node_key(datadir)
    store = LevelDBStore(datadir / CHAIN_DIR)
    try:
        return build_ledger(store, genesis, config, key)
    except BaseException:
        store.close()
        raise


def build_ledger(
    store: KeyValueStore, genesis: Genesis, config: NodeConfig, key: coincurve.PrivateKey
) -> Ledger:
    """Assemble a Ledger on an initialised store (memory stores in tests, LevelDB in the node)."""
    lock = threading.RLock()
    chain = Chain(store, genesis, lock=lock)
    txpool = TxPool(chain, config.txpool, store, lock)
    return Ledger(
        chain=chain,
        txpool=txpool,
        config=config,
        validator_address=Address(node_address(key)),
        node_key=key,
        store=store,
        lock=lock,
    )
