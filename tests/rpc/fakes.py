"""An in-memory ledger implementing the node's ports, for unit tests of the RPC layer.

It does not execute the EVM: a submitted raw transaction is accepted as-is (hash = keccak of the
bytes) from a fixed sender, a produced block gives each transaction one log, and `call` echoes
its input or reverts on a marker. That is all the RPC layer needs to be tested on its own; the
real-process tests run the real chain.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from eth_hash.auto import keccak

from node.ports import (
    Address,
    BlockView,
    CallRequest,
    ExecutionReverted,
    Hash32,
    HeadListener,
    LogEntry,
    LogQuery,
    ReceiptView,
    StateOverrides,
    TransactionView,
    TxRejected,
    UnknownBlock,
)
from node.rpc.filters import log_matches

SENDER = Address(bytes.fromhex("f39fd6e51aad88f6f4ce6ab8827279cfffb92266"))
TARGET = Address(b"\x11" * 20)
VALIDATOR = Address(b"\x22" * 20)
EVENT_TOPIC = Hash32(keccak(b"Event(bytes)"))
REVERT_MARKER = b"\xde\xad"
CHAIN_ID = 1337
GAS_LIMIT = 30_000_000


def error_string(text: str) -> bytes:
    """Return ABI-encoded Error(string) revert data."""
    body = text.encode()
    padded = body + b"\x00" * (-len(body) % 32)
    return (
        bytes.fromhex("08c379a0")
        + (32).to_bytes(32, "big")
        + len(body).to_bytes(32, "big")
        + padded
    )


@dataclass
class Account:
    balance: int = 0
    nonce: int = 0
    code: bytes = b""
    storage: dict[int, int] = field(default_factory=dict)


class FakeLedger:
    """LedgerReader + HeadEvents + TxSubmitter over dictionaries."""

    def __init__(self) -> None:
        self.listeners: list[HeadListener] = []
        self.pending: list[TransactionView] = []
        self.blocks: list[BlockView] = []
        self.receipts: dict[bytes, ReceiptView] = {}
        self.states: list[dict[bytes, Account]] = []
        self.reject_next: TxRejected | None = None
        genesis_state: dict[bytes, Account] = {
            SENDER: Account(balance=10**22),
            TARGET: Account(code=b"\x60\x00"),
        }
        genesis_state[TARGET].storage[1] = 42
        self._seal([], [], genesis_state, timestamp=0)

    # --- HeadEvents ---
    def subscribe(self, listener: HeadListener) -> Callable[[], None]:
        self.listeners.append(listener)
        return lambda: self.listeners.remove(listener)

    # --- TxSubmitter ---
    def submit(self, raw_transaction: bytes) -> Hash32:
        if self.reject_next is not None:
            error, self.reject_next = self.reject_next, None
            raise error
        tx_hash = Hash32(keccak(raw_transaction))
        if any(tx.hash == tx_hash for tx in self.pending):
            raise TxRejected("already-known", "already known")
        self.pending.append(
            TransactionView(
                hash=tx_hash,
                type=2,
                chain_id=CHAIN_ID,
                nonce=self.pending_nonce(SENDER),
                sender=SENDER,
                to=TARGET,
                value=0,
                gas=50_000,
                gas_price=None,
                max_fee_per_gas=0,
                max_priority_fee_per_gas=0,
                input=raw_transaction,
                access_list=(),
                v=1,
                r=2,
                s=3,
            )
        )
        return tx_hash

    def pending_nonce(self, address: Address) -> int:
        mined = self.states[-1].get(address, Account()).nonce
        return mined + sum(1 for tx in self.pending if tx.sender == address)

    def pending_transaction(self, tx_hash: Hash32) -> TransactionView | None:
        return next((tx for tx in self.pending if tx.hash == tx_hash), None)

    def pending_count(self) -> int:
        return len(self.pending)

    # --- block production ---
    def produce_block(self, now: float) -> BlockView | None:
        if not self.pending:
            return None
        state = {address: replace(account) for address, account in self.states[-1].items()}
        txs, self.pending = self.pending, []
        for tx in txs:
            state[tx.sender].nonce += 1
        self._seal(txs, [], state, timestamp=int(now))
        return self.blocks[-1]

    def _seal(
        self,
        txs: Sequence[TransactionView],
        _unused: list[LogEntry],
        state: dict[bytes, Account],
        timestamp: int,
    ) -> None:
        number = len(self.blocks)
        parent = self.blocks[-1].hash if self.blocks else Hash32(b"\x00" * 32)
        block_hash = Hash32(keccak(b"block" + number.to_bytes(8, "big") + parent))
        placed = tuple(
            replace(tx, block_hash=block_hash, block_number=number, transaction_index=index)
            for index, tx in enumerate(txs)
        )
        logs: list[LogEntry] = []
        for index, tx in enumerate(placed):
            log = LogEntry(
                address=TARGET,
                topics=(EVENT_TOPIC, Hash32(tx.nonce.to_bytes(32, "big"))),
                data=tx.input,
                block_number=number,
                block_hash=block_hash,
                transaction_hash=tx.hash,
                transaction_index=index,
                log_index=index,
            )
            logs.append(log)
            self.receipts[tx.hash] = ReceiptView(
                transaction_hash=tx.hash,
                transaction_index=index,
                block_hash=block_hash,
                block_number=number,
                sender=tx.sender,
                to=tx.to,
                contract_address=None,
                cumulative_gas_used=30_000 * (index + 1),
                gas_used=30_000,
                effective_gas_price=0,
                status=1,
                type=tx.type,
                logs=(log,),
                logs_bloom=b"\x00" * 256,
            )
        block = BlockView(
            number=number,
            hash=block_hash,
            parent_hash=parent,
            ommers_hash=Hash32(keccak(b"\xc0")),
            coinbase=VALIDATOR,
            state_root=Hash32(b"\x01" * 32),
            transactions_root=Hash32(b"\x02" * 32),
            receipts_root=Hash32(b"\x03" * 32),
            logs_bloom=b"\x00" * 256,
            difficulty=1,
            gas_limit=GAS_LIMIT,
            gas_used=30_000 * len(placed),
            timestamp=timestamp,
            extra_data=b"\xc0",
            mix_hash=Hash32(b"\x04" * 32),
            nonce=b"\x00" * 8,
            size=600,
            transactions=placed,
            base_fee_per_gas=0,
        )
        self.blocks.append(block)
        self.states.append(state)
        self.block_logs = logs
        for listener in list(self.listeners):
            listener(block, logs)

    # --- LedgerReader ---
    @property
    def chain_id(self) -> int:
        return CHAIN_ID

    def head(self) -> BlockView:
        return self.blocks[-1]

    def block_by_number(self, number: int) -> BlockView | None:
        return self.blocks[number] if 0 <= number < len(self.blocks) else None

    def block_by_hash(self, block_hash: Hash32) -> BlockView | None:
        return next((block for block in self.blocks if block.hash == block_hash), None)

    def transaction(self, tx_hash: Hash32) -> TransactionView | None:
        for block in self.blocks:
            for tx in block.transactions:
                if tx.hash == tx_hash:
                    return tx
        return None

    def receipt(self, tx_hash: Hash32) -> ReceiptView | None:
        return self.receipts.get(tx_hash)

    def _state(self, block_number: int) -> dict[bytes, Account]:
        if not 0 <= block_number < len(self.states):
            raise UnknownBlock(f"block {block_number} is not on this chain")
        return self.states[block_number]

    def balance(self, address: Address, block_number: int) -> int:
        return self._state(block_number).get(address, Account()).balance

    def nonce(self, address: Address, block_number: int) -> int:
        return self._state(block_number).get(address, Account()).nonce

    def code(self, address: Address, block_number: int) -> bytes:
        return self._state(block_number).get(address, Account()).code

    def storage_at(self, address: Address, slot: int, block_number: int) -> int:
        return self._state(block_number).get(address, Account()).storage.get(slot, 0)

    def call(
        self, request: CallRequest, block_number: int, overrides: StateOverrides | None = None
    ) -> bytes:
        self._state(block_number)
        if request.data.startswith(REVERT_MARKER):
            raise ExecutionReverted("execution reverted", error_string("not allowed"))
        if overrides and request.to in overrides and overrides[request.to].code is not None:
            return overrides[request.to].code or b""
        return request.data

    def estimate_gas(
        self, request: CallRequest, block_number: int, overrides: StateOverrides | None = None
    ) -> int:
        self.call(request, block_number, overrides)
        return 21_000 + 16 * len(request.data)

    def logs(self, query: LogQuery) -> list[LogEntry]:
        found: list[LogEntry] = []
        for block in self.blocks:
            if query.block_hash is not None:
                if block.hash != query.block_hash:
                    continue
            elif not query.from_block <= block.number <= query.to_block:
                continue
            for receipt in (self.receipts[tx.hash] for tx in block.transactions):
                found.extend(
                    log for log in receipt.logs if log_matches(log, query.addresses, query.topics)
                )
        if query.block_hash is not None and self.block_by_hash(query.block_hash) is None:
            raise UnknownBlock("unknown block hash")
        return found

    def validators_at(self, block_number: int) -> list[Address]:
        self._state(block_number)
        return [VALIDATOR]

    # --- Ledger facade bits the service uses ---
    @property
    def chain(self) -> FakeLedger:
        return self

    @property
    def txpool(self) -> FakeLedger:
        return self

    def close(self) -> None:
        self.closed = True
