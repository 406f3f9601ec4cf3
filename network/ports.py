"""What the network needs from the node, as Protocols the node implements; nothing else crosses.

The network never imports `node`. It serves and fetches blocks as opaque RLP bytes, hands
transactions and consensus messages over as bytes with the authenticated sender's node address,
and leaves every judgement about their content to the node:

- `BlockSource`: our finalized head and blocks, to answer sync requests and fill Hello/Status;
- `TxSink`: where gossiped transactions go (the txpool); it says which ones were new and valid,
  and only those are gossiped on;
- `ConsensusSink`: where QBFT messages go (the consensus driver), with the peer that sent them;
- `BlockImporter`: sync's back half. The node verifies each block's commit seals against the
  validators after its parent, re-executes it and stores it; the network only fetches ranges.

Calls come from the event loop's thread. The cheap, lock-free ones are plain methods
(`chain_head`, which should read a cached head; `receive_consensus`, which should only queue);
the ones that touch the ledger are coroutines (`encoded_blocks`, `accept_transactions`,
`import_blocks`), so a node whose ledger sits behind a lock or a worker thread can await it there
(`loop.run_in_executor`) without stalling every other link.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from network.identity import NodeAddress


@dataclass(frozen=True)
class ChainHead:
    """A finalized block's number and hash (the QBFT block hash, as parentHash uses)."""

    number: int
    hash: bytes


class BlockImportRejected(Exception):
    """Raised by a BlockImporter when a fetched block fails validation; the peer is dropped.

    `number` is the first block that failed; the message says why (bad seal, wrong parent, state
    root mismatch after re-execution, ...).
    """

    def __init__(self, number: int, message: str) -> None:
        super().__init__(f"block {number}: {message}")
        self.number = number


class BlockSource(Protocol):
    """Read access to our finalized chain, for serving peers."""

    def chain_head(self) -> ChainHead:
        """Return the latest finalized block. Called often: keep it cheap (a cached value)."""
        ...

    async def encoded_blocks(self, start: int, count: int) -> Sequence[bytes]:
        """Return up to `count` RLP-encoded finalized blocks from `start`, ascending.

        Returns fewer (or none) where the chain ends; never a gap.
        """
        ...


class TxSink(Protocol):
    """The txpool as the network sees it."""

    async def accept_transactions(
        self, raw_transactions: Sequence[bytes], sender: NodeAddress
    ) -> Sequence[bytes]:
        """Offer gossiped raw transactions; return those newly accepted into the pool.

        Rejected or already-known ones are left out and are not gossiped further.
        """
        ...


class ConsensusSink(Protocol):
    """The consensus driver's inbox."""

    def receive_consensus(self, code: int, data: bytes, sender: NodeAddress) -> None:
        """Queue one QBFT message (Besu message code and RLP data) from the authenticated peer.

        `sender` is the peer that delivered it, not necessarily its author (messages are
        re-gossiped); the driver recovers the author from the signature.
        """
        ...


class BlockImporter(Protocol):
    """Sync's back half, implemented by the node: verify, re-execute and store fetched blocks."""

    async def import_blocks(self, blocks: Sequence[bytes], sender: NodeAddress) -> ChainHead:
        """Import consecutive RLP-encoded blocks following our head; return the new head.

        The range was requested from our head + 1, but consensus may have imported some of it
        meanwhile: blocks at or below the head that match ours are to be skipped, not refused.
        Raises BlockImportRejected at the first invalid block (blocks before it stay imported).
        """
        ...
