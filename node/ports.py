"""The node's inner boundary: what JSON-RPC (and later consensus and sync) may ask of the ledger.

The chain (py-evm on LevelDB) implements `LedgerReader` and `HeadEvents`; the txpool implements
`TxSubmitter`. The RPC layer depends on these Protocols and the plain views below, never on py-evm
objects, so an RPC test can run against a fake and the execution engine can change underneath.

Views are immutable snapshots with bytes and ints only; turning them into JSON (hex quantities,
0x-data) is the RPC layer's job. Every number is a block-level fact, never a float.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NewType, Protocol

Address = NewType("Address", bytes)
"""A 20-byte account address."""

Hash32 = NewType("Hash32", bytes)
"""A 32-byte keccak-256 hash (block, transaction, topic, storage slot value)."""


class LedgerError(Exception):
    """Base of every error the ledger reports to the RPC layer; the message is for a person."""


class UnknownBlock(LedgerError):
    """The requested block (number or hash) is not on this node's chain."""


class ExecutionReverted(LedgerError):
    """A call reverted. `data` is the revert data (an ABI-encoded Error(string) or custom error)."""

    def __init__(self, message: str, data: bytes) -> None:
        super().__init__(message)
        self.data = data


class ExecutionFailed(LedgerError):
    """A call failed without revert data: out of gas, invalid opcode, bad input."""


class TxRejected(LedgerError):
    """The txpool refused a raw transaction. `reason` is a stable machine-readable word.

    Reasons: invalid-rlp, invalid-signature, wrong-chain-id, nonce-too-low, nonce-too-high,
    already-known, replacement-underpriced, gas-limit-exceeded, intrinsic-gas-too-low,
    insufficient-funds, pool-full, sender-limit, oversized, fee-too-low, unsupported-type.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class AccessListEntry:
    """One EIP-2930 access-list entry."""

    address: Address
    storage_keys: tuple[Hash32, ...]


@dataclass(frozen=True)
class TransactionView:
    """A signed transaction, with its place in a block when mined (None while pending)."""

    hash: Hash32
    type: int  # 0 legacy, 1 EIP-2930, 2 EIP-1559, 4 EIP-7702
    chain_id: int | None
    nonce: int
    sender: Address
    to: Address | None
    value: int
    gas: int
    gas_price: int | None  # legacy and 2930; for 1559 the RPC shows the effective price
    max_fee_per_gas: int | None
    max_priority_fee_per_gas: int | None
    input: bytes
    access_list: tuple[AccessListEntry, ...]
    v: int
    r: int
    s: int
    block_hash: Hash32 | None = None
    block_number: int | None = None
    transaction_index: int | None = None


@dataclass(frozen=True)
class LogEntry:
    """One event log, placed in its block."""

    address: Address
    topics: tuple[Hash32, ...]
    data: bytes
    block_number: int
    block_hash: Hash32
    transaction_hash: Hash32
    transaction_index: int
    log_index: int  # position within the block
    removed: bool = False


@dataclass(frozen=True)
class ReceiptView:
    """A transaction's receipt."""

    transaction_hash: Hash32
    transaction_index: int
    block_hash: Hash32
    block_number: int
    sender: Address
    to: Address | None
    contract_address: Address | None
    cumulative_gas_used: int
    gas_used: int
    effective_gas_price: int
    status: int  # 1 success, 0 failure
    type: int
    logs: tuple[LogEntry, ...]
    logs_bloom: bytes


@dataclass(frozen=True)
class BlockView:
    """A block header and its transactions.

    `hash` is the QBFT block hash: keccak of the header with seals and round taken out of extraData.
    """

    number: int
    hash: Hash32
    parent_hash: Hash32
    ommers_hash: Hash32
    coinbase: Address
    state_root: Hash32
    transactions_root: Hash32
    receipts_root: Hash32
    logs_bloom: bytes
    difficulty: int
    gas_limit: int
    gas_used: int
    timestamp: int
    extra_data: bytes
    mix_hash: Hash32
    nonce: bytes  # 8 bytes
    size: int
    transactions: tuple[TransactionView, ...]
    base_fee_per_gas: int | None = None
    withdrawals_root: Hash32 | None = None
    blob_gas_used: int | None = None
    excess_blob_gas: int | None = None
    parent_beacon_block_root: Hash32 | None = None
    requests_hash: Hash32 | None = None


@dataclass(frozen=True)
class CallRequest:
    """The transaction-like object of eth_call and eth_estimateGas; omitted fields are None."""

    sender: Address | None = None
    to: Address | None = None
    gas: int | None = None
    gas_price: int | None = None
    max_fee_per_gas: int | None = None
    max_priority_fee_per_gas: int | None = None
    value: int = 0
    data: bytes = b""
    nonce: int | None = None


@dataclass(frozen=True)
class AccountOverride:
    """geth-style state override for one account in eth_call / eth_estimateGas.

    `state` replaces all storage; `state_diff` patches single slots. Both set is an error.
    """

    balance: int | None = None
    nonce: int | None = None
    code: bytes | None = None
    state: dict[int, int] | None = None
    state_diff: dict[int, int] | None = None


StateOverrides = dict[Address, AccountOverride]


@dataclass(frozen=True)
class LogQuery:
    """An eth_getLogs query with block numbers already resolved.

    `topics[i]` is None (any), or a tuple of alternatives for position i.
    Either a range (from_block..to_block, inclusive) or one block_hash.
    """

    from_block: int = 0
    to_block: int = 0
    block_hash: Hash32 | None = None
    addresses: tuple[Address, ...] = ()
    topics: tuple[tuple[Hash32, ...] | None, ...] = field(default_factory=tuple)


class LedgerReader(Protocol):
    """Read access to the finalized chain and its state. Block numbers are already resolved."""

    @property
    def chain_id(self) -> int:
        """The chain ID from genesis (EIP-155)."""
        ...

    def head(self) -> BlockView:
        """Return the latest finalized block."""
        ...

    def block_by_number(self, number: int) -> BlockView | None:
        """Return the block at `number`, or None when it is not on the chain."""
        ...

    def block_by_hash(self, block_hash: Hash32) -> BlockView | None:
        """Return the block with this hash, or None."""
        ...

    def transaction(self, tx_hash: Hash32) -> TransactionView | None:
        """Return a mined transaction, or None (the RPC layer asks the txpool for pending ones)."""
        ...

    def receipt(self, tx_hash: Hash32) -> ReceiptView | None:
        """Return the receipt of a mined transaction, or None."""
        ...

    def balance(self, address: Address, block_number: int) -> int:
        """Return the balance in wei after block `block_number`; raises UnknownBlock."""
        ...

    def nonce(self, address: Address, block_number: int) -> int:
        """Return the account nonce after block `block_number`; raises UnknownBlock."""
        ...

    def code(self, address: Address, block_number: int) -> bytes:
        """Return the account code after block `block_number`; raises UnknownBlock."""
        ...

    def storage_at(self, address: Address, slot: int, block_number: int) -> int:
        """Return one storage slot after block `block_number`; raises UnknownBlock."""
        ...

    def call(
        self, request: CallRequest, block_number: int, overrides: StateOverrides | None = None
    ) -> bytes:
        """Execute without committing on top of `block_number`; return the output.

        Raises ExecutionReverted (with revert data), ExecutionFailed, UnknownBlock.
        """
        ...

    def estimate_gas(
        self, request: CallRequest, block_number: int, overrides: StateOverrides | None = None
    ) -> int:
        """Return the least gas with which the call succeeds; raises as `call` does."""
        ...

    def logs(self, query: LogQuery) -> list[LogEntry]:
        """Return the logs matching `query`, in chain order; raises UnknownBlock for a bad hash."""
        ...

    def validators_at(self, block_number: int) -> list[Address]:
        """Return the validators in force after block `block_number`, sorted ascending."""
        ...


class TxSubmitter(Protocol):
    """The txpool as the RPC layer sees it."""

    def submit(self, raw_transaction: bytes) -> Hash32:
        """Accept a signed raw transaction (EIP-2718 bytes); return its hash; raises TxRejected."""
        ...

    def pending_nonce(self, address: Address) -> int:
        """Return the next nonce for `address`, counting pooled transactions."""
        ...

    def pending_transaction(self, tx_hash: Hash32) -> TransactionView | None:
        """Return a pooled (not yet mined) transaction, or None."""
        ...

    def pending_count(self) -> int:
        """Return how many transactions wait in the pool (ready and queued)."""
        ...


HeadListener = Callable[[BlockView, Sequence[LogEntry]], None]
"""Called once per newly finalized block, in order, with that block's logs."""


class HeadEvents(Protocol):
    """New-head notifications for filters and subscriptions."""

    def subscribe(self, listener: HeadListener) -> Callable[[], None]:
        """Register `listener`; return a function that removes it."""
        ...
