"""What the QBFT state machine needs from the outside: block operations and a signing key.

A block crosses this boundary as its RLP encoding (`[header, txs, ommers(, withdrawals)]`), the
exact bytes a PROPOSAL carries, so the real chain (py-evm headers, Besu extraData) and the
simulation's toy block plug in alike. Implementations must be deterministic: the write-ahead log
replays `step`, and a replay must sign the very same messages again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from node.ports import Address, Hash32

Block = bytes
"""A block's RLP; in consensus its extraData carries the round and no commit seals."""


class InvalidSignature(ValueError):
    """A 65-byte signature is malformed, has high s or a bad v, or does not recover."""


class BlockOps(Protocol):
    """Block facts the state machine asks for (QBFT.md sections 1–3).

    `digest`, `replace_round` and `proposer_of` are only called on blocks `validate` accepted.
    """

    def digest(self, block: Block, round: int) -> Hash32:
        """Return the commit-seal hash of `block` with `round` put into its extraData."""
        ...

    def replace_round(self, block: Block, round: int) -> Block:
        """Return `block` with its extraData round set to `round` (re-proposal at round > 0)."""
        ...

    def validate(self, block: Block, height: int) -> str | None:
        """Return None when `block` is a valid block at `height`, else the reason why not.

        Judge it against our block at `height - 1`, not against the current head: a replay of
        the log after the block was already imported must reach the same verdict.
        """
        ...

    def proposer_of(self, block: Block) -> Address:
        """Return the block's header coinbase (the proposer who built it)."""
        ...


class Signer(Protocol):
    """The validator's node key. `sign` is deterministic (RFC 6979) and returns r‖s‖v, v ∈ {0,1}."""

    @property
    def address(self) -> Address:
        """Return the validator address of this key."""
        ...

    def sign(self, message_hash: Hash32) -> bytes:
        """Return the 65-byte low-s recoverable signature of a 32-byte hash."""
        ...


Recover = Callable[[Hash32, bytes], Address]
"""Recover the signer's address from (hash, 65-byte signature); raises InvalidSignature."""
