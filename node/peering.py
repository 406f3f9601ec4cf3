"""The ledger as the network sees it: BlockSource, TxSink, ConsensusSink and BlockImporter.

- `chain_head` answers from a cached head, refreshed by a new-head listener (cheap, lock-free);
- `encoded_blocks` serves finalized blocks as RLP `[header, txs, [], []]`, the sealed headers as
  stored, read on a worker thread so a long range does not stall the event loop;
- `accept_transactions` offers gossiped transactions to the txpool and returns the new, valid
  ones (only those are gossiped on);
- `receive_consensus` only queues the message for the consensus driver;
- `import_blocks` verifies commit seals against the validators after each parent, re-executes and
  stores each block (QbftChain.import_synced), skipping blocks we already hold, and tells the
  consensus driver about the new head so a validator that was behind rejoins at the right height.

Invariants: imports run on the event loop's thread, the same thread the consensus driver imports
on, so the two never race to extend the head; a block that fails validation raises
BlockImportRejected (the network then drops the peer that served it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from network.identity import NodeAddress
from network.ports import BlockImportRejected, ChainHead
from node.chain import InvalidBlock
from node.consensus.events import NewChainHead
from node.extradata import ExtraDataError
from node.ledger import Ledger
from node.ports import BlockView, LedgerError, LogEntry, TxRejected
from node.qbft_chain import BlockDecodeError, QbftChain, encode_block

log = logging.getLogger(__name__)


class LedgerPeering:
    """Implements BlockSource, TxSink, ConsensusSink and BlockImporter over one ledger."""

    def __init__(
        self,
        ledger: Ledger,
        qbft_chain: QbftChain,
        on_consensus: Callable[[int, bytes], None],
        on_new_head: Callable[[NewChainHead], None],
    ) -> None:
        self.ledger = ledger
        self.qbft_chain = qbft_chain
        self._on_consensus = on_consensus
        self._on_new_head = on_new_head
        head = ledger.chain.head_header
        self._head = ChainHead(head.block_number, bytes(head.hash))

    def on_block(self, block: BlockView, logs: Sequence[LogEntry]) -> None:
        """New-head listener: remember the head for `chain_head` (any thread)."""
        if block.number > self._head.number:
            self._head = ChainHead(block.number, bytes(block.hash))

    # -- BlockSource ----------------------------------------------------------------------

    def chain_head(self) -> ChainHead:
        """Return the cached finalized head."""
        return self._head

    def read_blocks(self, start: int, count: int) -> list[bytes]:
        """Return up to `count` encoded finalized blocks from `start` (no gaps)."""
        chain = self.ledger.chain
        blocks: list[bytes] = []
        with self.ledger.lock:
            for number in range(start, start + count):
                header = chain.header_by_number(number)
                if header is None:
                    break
                blocks.append(encode_block(header, chain.block_transactions(header.hash)))
        return blocks

    async def encoded_blocks(self, start: int, count: int) -> Sequence[bytes]:
        """Serve a range to a syncing peer, read on a worker thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self.read_blocks, start, count)

    # -- TxSink ---------------------------------------------------------------------------

    def offer_transactions(self, raw_transactions: Sequence[bytes]) -> list[bytes]:
        """Submit each raw transaction to the pool; return those newly accepted."""
        accepted: list[bytes] = []
        for raw in raw_transactions:
            try:
                self.ledger.txpool.submit(raw)
            except (TxRejected, ValueError) as error:
                log.debug("gossiped transaction refused: %s", error)
                continue
            accepted.append(raw)
        return accepted

    async def accept_transactions(
        self, raw_transactions: Sequence[bytes], sender: NodeAddress
    ) -> Sequence[bytes]:
        """Offer gossiped transactions to the pool on a worker thread (signature recovery)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self.offer_transactions, raw_transactions)

    # -- ConsensusSink --------------------------------------------------------------------

    def receive_consensus(self, code: int, data: bytes, sender: NodeAddress) -> None:
        """Queue a QBFT message for the driver (the author is recovered there)."""
        self._on_consensus(code, data)

    # -- BlockImporter --------------------------------------------------------------------

    async def import_blocks(self, blocks: Sequence[bytes], sender: NodeAddress) -> ChainHead:
        """Verify, re-execute and store consecutive blocks; skip ones we hold already."""
        imported = False
        for block in blocks:
            try:
                fresh = self.qbft_chain.import_synced(block)
            except (BlockDecodeError, ExtraDataError, InvalidBlock, LedgerError) as error:
                number = self._head.number + 1
                if imported:
                    self._on_new_head(self.qbft_chain.head_event())
                raise BlockImportRejected(number, str(error)) from error
            imported = imported or fresh
        if imported:
            self._on_new_head(self.qbft_chain.head_event())
            head = self.ledger.chain.head_header
            log.info("synced up to block %d", head.block_number)
        return self.chain_head()
