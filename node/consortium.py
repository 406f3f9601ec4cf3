"""Consortium mode: one node running QBFT with its peers (driver + network + ledger).

`ConsortiumNode` joins the committed parts: the QBFT driver (node.consensus.driver) decides
blocks through `QbftChain`; the TLS network (network.datadir.open_network) carries consensus
messages, gossiped transactions and block sync through `LedgerPeering`; the ledger stores what is
finalized. `consortium_ledger` wraps the ledger for the JSON-RPC service so that blocks come only
from consensus (its `produce_block` does nothing) and transactions sent over RPC are gossiped.

Invariants:
- every block is stored on the event loop's thread (by the driver's commit or by sync), so the
  two paths never race; RPC threads only read and submit to the pool, under the ledger lock;
- after each new head the network announces it, and a head that sync brought is handed to the
  driver, so a validator that was behind rejoins consensus at the right height;
- the driver's write-ahead log lives in `<datadir>/wal/qbft.wal`; a restart replays it, so the
  node never signs two different blocks for one height and round;
- a node certified as a validator runs the QBFT driver even while its key is not (or no longer)
  in the validator set: it only follows heads then, and starts sealing the block after a vote
  adds it; a member node runs no driver and follows by head announcements and sync.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from network.config import ChainIdentity, TransportConfig
from network.datadir import open_network
from network.pki import Role, read_certificate, read_node_binding
from network.settings import load_settings
from network.transport import ConsensusBroadcast, NetworkService
from node.consensus.crypto import KeySigner, recover_address
from node.consensus.driver import ConsensusDriver
from node.consensus.events import MessageReceived, NewChainHead
from node.consensus.state import Config, Context
from node.ledger import Ledger
from node.onchain_permissions import NODE_ALLOWED_EVENT, ContractNodePermissions
from node.peering import LedgerPeering
from node.ports import Address, BlockView, Hash32, LogEntry, TransactionView, TxSubmitter
from node.qbft_chain import DEFAULT_PROPOSAL_GAS_BUDGET, QbftChain
from node.votes import PendingVotes

log = logging.getLogger(__name__)

WAL_FILE = Path("wal") / "qbft.wal"
NETWORK_SETTINGS_FILE = "network.toml"

VALIDATOR_SYNC_LAG = 2
"""A validator imports each block through consensus; it syncs only when two or more behind."""


def is_consortium_datadir(datadir: Path) -> bool:
    """Return True when `datadir` was made by `mykey net init` (it has network.toml)."""
    return (datadir / NETWORK_SETTINGS_FILE).is_file()


@dataclass(frozen=True)
class ConsortiumOptions:
    """Timing overrides (None: as genesis says) and the network limits."""

    block_period_ms: int | None = None
    request_timeout_ms: int | None = None
    round_timeout_cap_ms: int | None = None
    """The operator's cap on the doubling round timer (None: no cap, as Besu)."""
    proposal_gas_budget: int = DEFAULT_PROPOSAL_GAS_BUDGET
    transport: TransportConfig = field(
        default_factory=lambda: TransportConfig(sync_lag=VALIDATOR_SYNC_LAG)
    )


@dataclass(frozen=True)
class ConsortiumStatus:
    """What `mykey net status` and the qbft status RPC show of one node."""

    head: int
    height: int
    round: int
    validators: tuple[Address, ...]
    is_validator: bool
    peers: int


class ConsortiumNode:
    """A node in consortium mode around an open ledger; `start` and `stop` in one event loop."""

    def __init__(
        self, datadir: Path, ledger: Ledger, options: ConsortiumOptions | None = None
    ) -> None:
        options = options or ConsortiumOptions()
        self.datadir = datadir
        self.ledger = ledger
        qbft = ledger.chain.genesis.qbft
        self.votes = PendingVotes(ledger.validator_address, qbft.epoch_length)
        self.qbft_chain = QbftChain(
            ledger,
            choose_vote=self.votes.choose,
            proposal_gas_budget=options.proposal_gas_budget,
        )
        self.peering = LedgerPeering(
            ledger, self.qbft_chain, on_consensus=self._on_consensus, on_new_head=self._on_head
        )
        transport = options.transport
        head_number = ledger.chain.head_header.block_number
        if ledger.validator_address not in ledger.chain.validators_at(head_number):
            # A follower gets blocks only by sync: fetch as soon as a peer is one block ahead.
            transport = replace(transport, sync_lag=1)
        genesis_header = ledger.chain.header_by_number(0)
        if genesis_header is None:
            raise RuntimeError(f"{datadir}: the chain has no block 0; run `mykey node init`")
        contract = load_settings(datadir).permissions_contract
        self.on_chain_permissions = (
            None if contract is None else ContractNodePermissions(ledger.chain, Address(contract))
        )
        self.network: NetworkService = open_network(
            datadir,
            chain=ChainIdentity(ledger.chain.chain_id, bytes(genesis_header.hash)),
            block_source=self.peering,
            tx_sink=self.peering,
            consensus_sink=self.peering,
            block_importer=self.peering,
            on_chain=self.on_chain_permissions,
            config=transport,
        )
        # Only nodes certified as validators take part in QBFT (the network sends consensus
        # messages to no one else); a member follows by head announcements and sync.
        binding = read_node_binding(read_certificate(datadir / "keys" / "tls.crt"))
        self.runs_consensus = binding.role is Role.VALIDATOR
        block_period_ms = options.block_period_ms or round(qbft.block_period * 1000)
        timeout_ms = options.request_timeout_ms or qbft.request_timeout_seconds * 1000
        context = Context(
            config=Config(
                block_period_ms=block_period_ms,
                request_timeout_ms=timeout_ms,
                round_timeout_cap_ms=options.round_timeout_cap_ms,
            ),
            ops=self.qbft_chain,
            signer=KeySigner(ledger.node_key.secret),
            recover=recover_address,
        )
        wal_path = datadir / WAL_FILE
        wal_path.parent.mkdir(mode=0o700, exist_ok=True)
        self.driver: ConsensusDriver | None = None
        if self.runs_consensus:
            self.driver = ConsensusDriver(
                context, wal_path, self.qbft_chain, ConsensusBroadcast(self.network)
            )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe: Callable[[], None] | None = None

    async def start(self) -> None:
        """Listen and dial peers, replay or start consensus, then run the driver."""
        self._loop = asyncio.get_running_loop()
        self._unsubscribe = self.ledger.chain.subscribe(self._on_block)
        await self.network.start()
        if self.driver is not None:
            await self.driver.start(self.qbft_chain.start_event())
            self._task = asyncio.create_task(self._run_driver(self.driver), name="qbft-driver")
        log.info(
            "consortium node 0x%s (%s) started at block %d, p2p port %d",
            self.ledger.validator_address.hex(),
            "validator" if self.runs_consensus else "member: follows by sync",
            self.ledger.chain.head_header.block_number,
            self.network.port,
        )

    async def stop(self) -> None:
        """Stop consensus, close the links and the log (the ledger stays open)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.driver is not None:
            self.driver.close()
        await self.network.stop()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    @staticmethod
    async def _run_driver(driver: ConsensusDriver) -> None:
        while True:
            try:
                await driver.run()
            except asyncio.CancelledError:
                raise
            except Exception:  # one bad event must not end consensus for this node
                log.exception("consensus driver failed on an event; continuing")

    def _on_consensus(self, code: int, data: bytes) -> None:
        if self.driver is not None:
            self.driver.submit(MessageReceived(code, data))

    def _on_head(self, event: NewChainHead) -> None:
        if self.driver is not None:
            self.driver.submit(event)

    def _on_block(self, block: BlockView, logs: Sequence[LogEntry]) -> None:
        """New-head listener (any thread): cache the head, announce it on the loop."""
        self.peering.on_block(block, logs)
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.network.announce_head)
            if self._changes_node_permissions(logs):
                self._loop.call_soon_threadsafe(self.network.recheck_peers)

    def _changes_node_permissions(self, logs: Sequence[LogEntry]) -> bool:
        """Return True when the block's logs change the on-chain node list this node obeys."""
        permissions = self.on_chain_permissions
        return permissions is not None and any(
            entry.address == permissions.contract and entry.topics[:1] == (NODE_ALLOWED_EVENT,)
            for entry in logs
        )

    def gossip_transaction(self, raw_transaction: bytes) -> None:
        """Send a transaction accepted locally (JSON-RPC) to every peer; any thread."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(
                self.network.broadcast_transactions, [bytes(raw_transaction)]
            )

    def status(self) -> ConsortiumStatus:
        """Return head, consensus height and round, validators and peer count."""
        head = self.ledger.chain.head_header.block_number
        validators = tuple(self.ledger.chain.validators_at(head))
        height, round_number = head + 1, 0
        if self.driver is not None:
            height, round_number = self.driver.state.height, self.driver.state.round
        return ConsortiumStatus(
            head=head,
            height=height,
            round=round_number,
            validators=validators,
            is_validator=self.ledger.validator_address in validators,
            peers=len(self.network.peers()),
        )


class GossipingTxPool:
    """The txpool for JSON-RPC: a transaction it accepts is also gossiped to the peers."""

    def __init__(self, pool: TxSubmitter, gossip: Callable[[bytes], None]) -> None:
        self._pool = pool
        self._gossip = gossip

    def submit(self, raw_transaction: bytes) -> Hash32:
        """Pool the transaction (raises TxRejected), then gossip it; return its hash."""
        tx_hash = self._pool.submit(raw_transaction)
        self._gossip(raw_transaction)
        return tx_hash

    def pending_nonce(self, address: Address) -> int:
        """Return the next nonce for `address`, counting pooled transactions."""
        return self._pool.pending_nonce(address)

    def pending_transaction(self, tx_hash: Hash32) -> TransactionView | None:
        """Return a pooled transaction, or None."""
        return self._pool.pending_transaction(tx_hash)

    def pending_count(self) -> int:
        """Return how many transactions wait in the pool."""
        return self._pool.pending_count()


class ConsortiumLedger:
    """The ledger handle NodeService uses in consortium mode: blocks come from consensus."""

    def __init__(self, ledger: Ledger, node: ConsortiumNode) -> None:
        self._ledger = ledger
        self.chain = ledger.chain
        self.txpool = GossipingTxPool(ledger.txpool, node.gossip_transaction)

    def produce_block(self, now: float) -> BlockView | None:
        """Return None: in consortium mode QBFT decides every block, not the local timer."""
        return None

    def close(self) -> None:
        """Close the ledger's store."""
        self._ledger.close()
