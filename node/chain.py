"""The finalized chain on a KeyValueStore: import, read, and notify (LedgerReader + HeadEvents).

Invariants:
- One atomic batch per block: header, body (transactions and their senders), receipts, tx
  locations, state trie nodes, canonical number -> hash, the head pointer, and whatever the caller
  adds (the txpool's deletions of mined transactions). After a crash the store holds the last whole
  block and the state that goes with it; the head pointer never names a block whose state is absent.
- Every block hash is the QBFT hash (node.header); block 0 is the genesis block.
- Import checks the QBFT header rules (QBFT.md section 3) in Besu's order, then commit seals
  against the validators after the parent, then re-executes and compares roots. Blocks built here
  (`build_block` then `import_built`) are executed once: the build result is what gets checked.
- Validator votes are tallied by node.votes (QBFT.md section 5): `validators_at(n)` is the set
  after block n, so block n+1's extraData must list it.
- Public methods take the lock shared with the txpool, so RPC threads and the block timer thread
  can call in at once.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import rlp
from eth.abc import ComputationAPI, ReceiptAPI
from eth.db.atomic import AtomicDB
from eth.exceptions import Revert
from eth.vm.execution_context import ExecutionContext
from eth.vm.forks.prague.receipts import PragueReceiptBuilder
from eth.vm.forks.prague.state import PragueState
from eth_bloom.bloom import BloomFilter
from eth_typing import Hash32 as EvmHash32

from node.execution import (
    EMPTY_REQUESTS_HASH,
    AccountState,
    BlockEnvironment,
    BlockExecution,
    ExecutionEngine,
    InvalidTransaction,
    PyEvmEngine,
    contract_address_of,
    next_base_fee,
)
from node.extradata import ExtraData, ExtraDataError, Vote, decode_extra_data, encode_extra_data
from node.header import (
    DIFFICULTY,
    EMPTY_OMMERS_HASH,
    MIX_HASH,
    NONCE,
    QbftHeader,
    decode_header,
    encode_header,
)
from node.ports import (
    Address,
    BlockView,
    CallRequest,
    ExecutionFailed,
    ExecutionReverted,
    Hash32,
    HeadListener,
    LedgerError,
    LogEntry,
    LogQuery,
    ReceiptView,
    StateOverrides,
    TransactionView,
    UnknownBlock,
)
from node.seals import InvalidSeals, verify_commit_seals
from node.storage import KeyValueStore, WriteBatch, schema
from node.storage.evmdb import StateOverlay
from node.transactions import LEGACY, SignedTransaction, pin_sender, transaction_view
from node.triehash import BLANK_ROOT
from node.votes import UnknownHeader, ValidatorTracker

if TYPE_CHECKING:
    from node.genesis import Genesis

log = logging.getLogger(__name__)

ZERO_HASH = b"\x00" * 32
GAS_LIMIT_BOUND_DIVISOR = 1024
FUTURE_TIMESTAMP_TOLERANCE = 1  # seconds (Besu TimestampBoundedByFutureParameter(1))
ERROR_SELECTOR = bytes.fromhex("08c379a0")  # Error(string)
CACHED_BLOCKS = 128  # recent block and receipt views kept decoded for RPC reads


class InvalidBlock(LedgerError):
    """A block failed an import rule; the message names the rule."""


class ChainNotInitialised(LedgerError):
    """The store holds no chain (run `mykey node init`), or a different genesis."""


@dataclass
class BuiltBlock:
    """A block built on the head but not yet sealed or stored."""

    header: QbftHeader
    transactions: list[SignedTransaction]
    execution: BlockExecution
    overlay: StateOverlay


def _rlp_length_prefix(length: int) -> int:
    """Return how many bytes RLP spends on the prefix of a string or list of `length` bytes."""
    if length < 56:
        return 1
    return 1 + (length.bit_length() + 7) // 8


def _block_size(header_rlp: bytes, raws: Sequence[bytes]) -> int:
    """Return len(RLP([header, txs, ommers, withdrawals])) without building it."""
    tx_payload = 0
    for raw in raws:
        if raw[0] >= 0xC0:
            tx_payload += len(raw)  # a legacy tx is already an RLP list
        else:
            tx_payload += _rlp_length_prefix(len(raw)) + len(raw)
    txs = _rlp_length_prefix(tx_payload) + tx_payload
    payload = len(header_rlp) + txs + 1 + 1
    return _rlp_length_prefix(payload) + payload


def _topic(value: int) -> Hash32:
    return Hash32(value.to_bytes(32, "big"))


def _revert_message(data: bytes) -> str:
    """Return 'execution reverted: <reason>' for Error(string) data, else the bare phrase."""
    if data[:4] == ERROR_SELECTOR and len(data) >= 68:
        try:
            length = int.from_bytes(data[36:68], "big")
            reason = data[68 : 68 + length].decode("utf-8")
            return f"execution reverted: {reason}"
        except (UnicodeDecodeError, ValueError):
            pass
    return "execution reverted"


class Chain:
    """The finalized chain: LedgerReader, HeadEvents, and block import."""

    def __init__(
        self,
        store: KeyValueStore,
        genesis: Genesis,
        engine: ExecutionEngine | None = None,
        lock: threading.RLock | None = None,
    ) -> None:
        self.store = store
        self.genesis = genesis
        self.engine: ExecutionEngine = engine or PyEvmEngine()
        self.lock = lock or threading.RLock()
        self._listeners: list[HeadListener] = []
        self._undelivered: list[tuple[BlockView, list[LogEntry]]] = []
        self._view_cache: OrderedDict[bytes, BlockView] = OrderedDict()
        self._receipt_cache: OrderedDict[bytes, list[ReceiptView]] = OrderedDict()
        self._delivery_lock = threading.Lock()
        self._head_state: AccountState | None = None
        head_hash = store.get(schema.HEAD_KEY)
        stored_genesis = store.get(schema.GENESIS_KEY)
        if head_hash is None or stored_genesis is None:
            raise ChainNotInitialised("the chain store is empty; run `mykey node init` first")
        expected = build_genesis_header(genesis, store_state=None).hash
        if stored_genesis != expected:
            raise ChainNotInitialised(
                f"the chain store holds genesis 0x{stored_genesis.hex()}, but genesis.json "
                f"gives 0x{expected.hex()}; use the genesis this datadir was initialised with"
            )
        stored_chain_id = store.get(schema.CHAIN_ID_KEY)
        if stored_chain_id is None or schema.decode_number(stored_chain_id) != genesis.chain_id:
            raise ChainNotInitialised(
                f"the chain store was initialised for another chain id, not {genesis.chain_id}; "
                "use the genesis this datadir was initialised with"
            )
        self._head = self._read_header(head_hash)
        self.validator_tracker = ValidatorTracker(self.header_by_number, genesis.qbft.epoch_length)

    # -- genesis --------------------------------------------------------------------------

    @classmethod
    def initialize(cls, store: KeyValueStore, genesis: Genesis) -> QbftHeader:
        """Write block 0 and its state into an empty store; return its header.

        Raises ChainNotInitialised when the store already holds a different chain.
        """
        existing = store.get(schema.GENESIS_KEY)
        overlay = StateOverlay(store)
        header = build_genesis_header(genesis, store_state=overlay)
        if existing is not None:
            if existing != header.hash:
                raise ChainNotInitialised("the store already holds a chain with another genesis")
            return header
        with store.batch() as batch:
            overlay.drain_into(batch)
            _write_block(batch, header, [], [])
            batch.put(schema.GENESIS_KEY, header.hash)
            batch.put(schema.CHAIN_ID_KEY, schema.encode_number(genesis.chain_id))
            batch.put(schema.HEAD_KEY, header.hash)
        return header

    # -- small reads ----------------------------------------------------------------------

    @property
    def chain_id(self) -> int:
        """The chain id from genesis."""
        return self.genesis.chain_id

    @property
    def head_header(self) -> QbftHeader:
        """The latest finalized header."""
        return self._head

    def _read_header(self, block_hash: bytes) -> QbftHeader:
        data = self.store.get(schema.header_key(block_hash))
        if data is None:
            raise UnknownBlock(f"no block with hash 0x{block_hash.hex()}")
        return decode_header(data)

    def header_by_number(self, number: int) -> QbftHeader | None:
        """Return the canonical header at `number`, or None."""
        with self.lock:
            block_hash = self.store.get(schema.canonical_hash_key(number))
            return None if block_hash is None else self._read_header(block_hash)

    def header_by_hash(self, block_hash: bytes) -> QbftHeader | None:
        """Return the header with this hash, or None."""
        with self.lock:
            data = self.store.get(schema.header_key(block_hash))
            return None if data is None else decode_header(data)

    def _require_header(self, number: int) -> QbftHeader:
        header = self.header_by_number(number)
        if header is None:
            raise UnknownBlock(
                f"block {number} is not on this chain (head is {self._head.block_number})"
            )
        return header

    def block_transactions(self, block_hash: bytes) -> list[SignedTransaction]:
        """Return the transactions of a stored block, senders pinned; [] when absent."""
        data = self.store.get(schema.body_key(block_hash))
        if data is None:
            return []
        raws, senders = rlp.decode(data)
        return [pin_sender(raw, sender) for raw, sender in zip(raws, senders, strict=True)]

    def _receipts(self, block_hash: bytes) -> list[ReceiptAPI]:
        data = self.store.get(schema.receipts_key(block_hash))
        if data is None:
            return []
        return [PragueReceiptBuilder.decode(item) for item in rlp.decode(data)]

    # -- LedgerReader: blocks and transactions ---------------------------------------------

    def _block_view(
        self, header: QbftHeader, transactions: Sequence[SignedTransaction] | None = None
    ) -> BlockView:
        """Return the view of a stored block, from the cache of recent blocks when there."""
        cached = self._view_cache.get(header.hash)
        if cached is not None:
            self._view_cache.move_to_end(header.hash)
            return cached
        view = self._build_block_view(header, transactions)
        _remember(self._view_cache, header.hash, view)
        return view

    def _build_block_view(
        self, header: QbftHeader, transactions: Sequence[SignedTransaction] | None
    ) -> BlockView:
        if transactions is None:
            transactions = self.block_transactions(header.hash)
        number = header.block_number
        views = tuple(
            transaction_view(item, header.hash, number, index)
            for index, item in enumerate(transactions)
        )
        header_rlp = encode_header(header)
        return BlockView(
            number=number,
            hash=Hash32(header.hash),
            parent_hash=Hash32(header.parent_hash),
            ommers_hash=Hash32(header.uncles_hash),
            coinbase=Address(header.coinbase),
            state_root=Hash32(header.state_root),
            transactions_root=Hash32(header.transaction_root),
            receipts_root=Hash32(header.receipt_root),
            logs_bloom=header.bloom.to_bytes(256, "big"),
            difficulty=header.difficulty,
            gas_limit=header.gas_limit,
            gas_used=header.gas_used,
            timestamp=header.timestamp,
            extra_data=header.extra_data,
            mix_hash=Hash32(header.mix_hash),
            nonce=header.nonce,
            size=_block_size(header_rlp, [item.raw for item in transactions]),
            transactions=views,
            base_fee_per_gas=header.base_fee_per_gas,
            withdrawals_root=Hash32(bytes(header.withdrawals_root or BLANK_ROOT)),
            blob_gas_used=header.blob_gas_used,
            excess_blob_gas=header.excess_blob_gas,
            parent_beacon_block_root=Hash32(bytes(header.parent_beacon_block_root or ZERO_HASH)),
            requests_hash=Hash32(header.requests_hash),
        )

    def head(self) -> BlockView:
        """Return the latest finalized block."""
        with self.lock:
            return self._block_view(self._head)

    def block_by_number(self, number: int) -> BlockView | None:
        """Return the block at `number`, or None."""
        with self.lock:
            header = self.header_by_number(number)
            return None if header is None else self._block_view(header)

    def block_by_hash(self, block_hash: Hash32) -> BlockView | None:
        """Return the block with this hash, or None."""
        with self.lock:
            header = self.header_by_hash(block_hash)
            if header is None:
                return None
            return self._block_view(header)

    def _locate(self, tx_hash: bytes) -> tuple[QbftHeader, int] | None:
        location = self.store.get(schema.tx_location_key(tx_hash))
        if location is None:
            return None
        number, index = schema.decode_tx_location(location)
        header = self.header_by_number(number)
        return None if header is None else (header, index)

    def transaction(self, tx_hash: Hash32) -> TransactionView | None:
        """Return a mined transaction, or None."""
        with self.lock:
            found = self._locate(tx_hash)
            if found is None:
                return None
            header, index = found
            return self._block_view(header).transactions[index]

    def _receipt_views(
        self,
        header: QbftHeader,
        transactions: Sequence[SignedTransaction] | None = None,
        receipts: Sequence[ReceiptAPI] | None = None,
    ) -> list[ReceiptView]:
        """Return a stored block's receipt views, from the cache of recent blocks when there.

        Finalized blocks never change, so caching is safe; it turns a client polling every
        receipt of a 1,000-transaction block from 1,000 block decodes into one.
        """
        cached = self._receipt_cache.get(header.hash)
        if cached is not None:
            self._receipt_cache.move_to_end(header.hash)
            return cached
        views = self._build_receipt_views(header, transactions, receipts)
        _remember(self._receipt_cache, header.hash, views)
        return views

    def _build_receipt_views(
        self,
        header: QbftHeader,
        transactions: Sequence[SignedTransaction] | None,
        receipts: Sequence[ReceiptAPI] | None,
    ) -> list[ReceiptView]:
        # A block just stored passes its in-memory lists, saving a decode of what it wrote.
        if transactions is None or receipts is None:
            transactions = self.block_transactions(header.hash)
            receipts = self._receipts(header.hash)
        views: list[ReceiptView] = []
        previous_cumulative = 0
        log_index = 0
        for index, (signed, receipt) in enumerate(zip(transactions, receipts, strict=True)):
            logs = []
            for entry in receipt.logs:
                logs.append(
                    LogEntry(
                        address=Address(bytes(entry.address)),
                        topics=tuple(_topic(topic) for topic in entry.topics),
                        data=bytes(entry.data),
                        block_number=header.block_number,
                        block_hash=Hash32(header.hash),
                        transaction_hash=signed.hash,
                        transaction_index=index,
                        log_index=log_index,
                    )
                )
                log_index += 1
            tx = signed.tx
            to = bytes(tx.to)
            if signed.type in (LEGACY, 1):
                price = int(tx.gas_price)
            else:
                price = min(
                    int(tx.max_fee_per_gas),
                    int(tx.max_priority_fee_per_gas) + (header.base_fee_per_gas or 0),
                )
            views.append(
                ReceiptView(
                    transaction_hash=signed.hash,
                    transaction_index=index,
                    block_hash=Hash32(header.hash),
                    block_number=header.block_number,
                    sender=signed.sender,
                    to=Address(to) if to else None,
                    contract_address=(
                        None if to else Address(contract_address_of(signed.sender, signed.nonce))
                    ),
                    cumulative_gas_used=receipt.gas_used,
                    gas_used=receipt.gas_used - previous_cumulative,
                    effective_gas_price=price,
                    status=1 if receipt.state_root == b"\x01" else 0,
                    type=signed.type,
                    logs=tuple(logs),
                    logs_bloom=receipt.bloom.to_bytes(256, "big"),
                )
            )
            previous_cumulative = receipt.gas_used
        return views

    def receipt(self, tx_hash: Hash32) -> ReceiptView | None:
        """Return the receipt of a mined transaction, or None."""
        with self.lock:
            found = self._locate(tx_hash)
            if found is None:
                return None
            header, index = found
            return self._receipt_views(header)[index]

    def block_receipts(self, number: int) -> list[ReceiptView]:
        """Return every receipt of block `number`; raises UnknownBlock."""
        with self.lock:
            return list(self._receipt_views(self._require_header(number)))

    # -- LedgerReader: state --------------------------------------------------------------

    def state_at(self, block_number: int) -> AccountState:
        """Return a read-only py-evm state after block `block_number`; raises UnknownBlock."""
        with self.lock:
            header = self._require_header(block_number)
            return self.engine.state(StateOverlay(self.store), header.state_root, self.chain_id)

    def head_state(self) -> AccountState:
        """Return a cached state at the head, for the txpool's nonce and balance checks."""
        with self.lock:
            if self._head_state is None:
                self._head_state = self.engine.state(
                    StateOverlay(self.store), self._head.state_root, self.chain_id
                )
            return self._head_state

    def balance(self, address: Address, block_number: int) -> int:
        """Return the balance after block `block_number`; raises UnknownBlock."""
        return self.state_at(block_number).balance(address)

    def nonce(self, address: Address, block_number: int) -> int:
        """Return the nonce after block `block_number`; raises UnknownBlock."""
        return self.state_at(block_number).nonce(address)

    def code(self, address: Address, block_number: int) -> bytes:
        """Return the code after block `block_number`; raises UnknownBlock."""
        return self.state_at(block_number).code(address)

    def storage_at(self, address: Address, slot: int, block_number: int) -> int:
        """Return a storage slot after block `block_number`; raises UnknownBlock."""
        return self.state_at(block_number).storage(address, slot)

    # -- LedgerReader: calls --------------------------------------------------------------

    def _environment_for(self, header: QbftHeader) -> BlockEnvironment:
        return BlockEnvironment(
            number=header.block_number,
            timestamp=header.timestamp,
            coinbase=header.coinbase,
            gas_limit=header.gas_limit,
            chain_id=self.chain_id,
            parent_hash=header.parent_hash,
            previous_hashes=self._previous_hashes(header.parent_hash, header.block_number),
        )

    def _previous_hashes(self, parent_hash: bytes, number: int) -> tuple[bytes, ...]:
        """Return up to 256 ancestor hashes, newest first (BLOCKHASH), from the canonical table."""
        if number == 0:
            return ()
        hashes = [parent_hash]
        for ancestor in range(number - 2, max(-1, number - 257), -1):
            value = self.store.get(schema.canonical_hash_key(ancestor))
            if value is None:
                break
            hashes.append(value)
        return tuple(hashes)

    def _run_call(
        self,
        request: CallRequest,
        block_number: int,
        overrides: StateOverrides | None,
        gas: int | None = None,
    ) -> ComputationAPI:
        header = self._require_header(block_number)
        if gas is not None:
            request = CallRequest(
                sender=request.sender,
                to=request.to,
                gas=gas,
                gas_price=request.gas_price,
                max_fee_per_gas=request.max_fee_per_gas,
                max_priority_fee_per_gas=request.max_priority_fee_per_gas,
                value=request.value,
                data=request.data,
                nonce=request.nonce,
            )
        try:
            return self.engine.call(
                StateOverlay(self.store),
                header.state_root,
                self._environment_for(header),
                request,
                overrides,
            )
        except InvalidTransaction as error:
            raise ExecutionFailed(f"call cannot run: {error}") from error

    @staticmethod
    def _raise_if_error(computation: ComputationAPI) -> None:
        if not computation.is_error:
            return
        error = computation.error
        if isinstance(error, Revert):
            data = bytes(computation.output)
            raise ExecutionReverted(_revert_message(data), data)
        raise ExecutionFailed(f"execution failed: {type(error).__name__} {error}".strip())

    def call(
        self, request: CallRequest, block_number: int, overrides: StateOverrides | None = None
    ) -> bytes:
        """Execute without committing; return the output. Raises as LedgerReader.call says."""
        with self.lock:
            computation = self._run_call(request, block_number, overrides)
            self._raise_if_error(computation)
            return bytes(computation.output)

    def estimate_gas(
        self, request: CallRequest, block_number: int, overrides: StateOverrides | None = None
    ) -> int:
        """Return the least gas with which the call succeeds, by binary search."""
        with self.lock:
            header = self._require_header(block_number)
            cap = request.gas if request.gas is not None else header.gas_limit
            computation = self._run_call(request, block_number, overrides, cap)
            self._raise_if_error(computation)
            consumed = cap - computation.get_gas_remaining()
            low, high = max(20999, consumed - 1), cap
            while low + 1 < high:
                middle = (low + high) // 2
                try:
                    attempt = self._run_call(request, block_number, overrides, middle)
                except ExecutionFailed:
                    low = middle
                    continue
                if attempt.is_error:
                    low = middle
                else:
                    high = middle
            return high

    # -- LedgerReader: logs and validators ------------------------------------------------

    @staticmethod
    def _bloom_may_match(bloom: BloomFilter, query: LogQuery) -> bool:
        if query.addresses and not any(address in bloom for address in query.addresses):
            return False
        for alternatives in query.topics:
            if alternatives and not any(topic in bloom for topic in alternatives):
                return False
        return True

    @staticmethod
    def _log_matches(entry: LogEntry, query: LogQuery) -> bool:
        if query.addresses and entry.address not in query.addresses:
            return False
        if len(query.topics) > len(entry.topics):
            return False
        for position, alternatives in enumerate(query.topics):
            if alternatives and entry.topics[position] not in alternatives:
                return False
        return True

    def _headers_for(self, query: LogQuery) -> Iterator[QbftHeader]:
        if query.block_hash is not None:
            header = self.header_by_hash(query.block_hash)
            if header is None:
                raise UnknownBlock(f"no block with hash 0x{query.block_hash.hex()}")
            yield header
            return
        last = min(query.to_block, self._head.block_number)
        for number in range(query.from_block, last + 1):
            header = self.header_by_number(number)
            if header is not None:
                yield header

    def logs(self, query: LogQuery) -> list[LogEntry]:
        """Return matching logs in chain order; blocks whose bloom cannot match are skipped."""
        with self.lock:
            found: list[LogEntry] = []
            for header in self._headers_for(query):
                if not self._bloom_may_match(BloomFilter(header.bloom), query):
                    continue
                for receipt in self._receipt_views(header):
                    found.extend(entry for entry in receipt.logs if self._log_matches(entry, query))
            return found

    def validators_at(self, block_number: int) -> list[Address]:
        """Return the validators in force after block `block_number`, sorted ascending."""
        with self.lock:
            self._require_header(block_number)
            try:
                return list(self.validator_tracker.tally_after(block_number).validators)
            except UnknownHeader as error:
                raise UnknownBlock(str(error)) from error

    # -- HeadEvents -----------------------------------------------------------------------

    def subscribe(self, listener: HeadListener) -> Callable[[], None]:
        """Register `listener` for new heads; return a function that removes it."""
        with self.lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self.lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def deliver_new_heads(self) -> None:
        """Call the listeners for every stored block not yet announced, in block order.

        Imports queue their announcements; the Ledger delivers them after releasing its lock, so
        a listener may call back into the chain from any thread without deadlocking. A listener
        that raises is logged and skipped; block production goes on.
        """
        with self._delivery_lock:
            while True:
                with self.lock:
                    if not self._undelivered:
                        return
                    block, logs = self._undelivered.pop(0)
                    listeners = list(self._listeners)
                for listener in listeners:
                    try:
                        listener(block, logs)
                    except Exception:  # a broken subscriber must not stop block production
                        log.exception("new-head listener failed for block %d", block.number)

    # -- building and importing -----------------------------------------------------------

    def _environment_child(
        self, parent: QbftHeader, coinbase: bytes, timestamp: int
    ) -> BlockEnvironment:
        return BlockEnvironment(
            number=parent.block_number + 1,
            timestamp=timestamp,
            coinbase=coinbase,
            gas_limit=parent.gas_limit,
            chain_id=self.chain_id,
            parent_hash=parent.hash,
            previous_hashes=self._previous_hashes(parent.hash, parent.block_number + 1),
            base_fee_per_gas=next_base_fee(
                parent.base_fee_per_gas or 0, parent.gas_used, parent.gas_limit
            ),
        )

    def build_block(
        self,
        transactions: Sequence[SignedTransaction],
        coinbase: bytes,
        timestamp: int,
        round_number: int = 0,
        vote: Vote | None = None,
    ) -> BuiltBlock:
        """Execute `transactions` on the head and return an unsealed block (nothing stored).

        Transactions that cannot apply are in `execution.rejected`, those that did not fit in
        `execution.deferred`; the block holds the rest.
        """
        with self.lock:
            parent = self._head
            environment = self._environment_child(parent, coinbase, timestamp)
            overlay = StateOverlay(self.store)
            execution = self.engine.execute_block(
                overlay, parent.state_root, environment, transactions, building=True
            )
            validators = self.validators_at(parent.block_number)
            extra = ExtraData(
                vanity=b"\x00" * 32, validators=tuple(validators), vote=vote, round=round_number
            )
            fields: dict[str, Any] = dict(
                parent_hash=parent.hash,
                uncles_hash=EMPTY_OMMERS_HASH,
                coinbase=coinbase,
                state_root=execution.state_root,
                transaction_root=execution.transactions_root,
                receipt_root=execution.receipts_root,
                bloom=execution.bloom,
                difficulty=DIFFICULTY,
                block_number=environment.number,
                gas_limit=environment.gas_limit,
                gas_used=execution.gas_used,
                timestamp=timestamp,
                extra_data=encode_extra_data(extra),
                mix_hash=MIX_HASH,
                nonce=NONCE,
                base_fee_per_gas=environment.base_fee_per_gas,
                withdrawals_root=BLANK_ROOT,
                blob_gas_used=0,
                excess_blob_gas=0,
                parent_beacon_block_root=ZERO_HASH,
                requests_hash=execution.requests_hash,
            )
            header = QbftHeader(**fields)
            included = [item.transaction for item in execution.executed]
            return BuiltBlock(header, included, execution, overlay)

    def validate_header(self, header: QbftHeader, now: float, *, check_seals: bool = True) -> None:
        """Check the QBFT header rules against the head, in Besu's order; raise InvalidBlock.

        `check_seals=False` judges a proposal (QBFT.md section 4), which carries no commit seals
        yet: every rule but BftCommitSealsValidationRule applies. `now` is the node's block clock
        (`node.devclock.BlockClock`): wall time, plus the dev offset on a dev node, so the
        future-timestamp rule (ts <= now + 1 s) judges with the same time the producer used.
        """
        parent = self._head
        self._validate_ancestry_and_gas(header, parent, now)
        self._validate_validators_and_seals(header, parent, check_seals=check_seals)
        # TimestampMoreRecentThanParent: gap = period for periods >= 1 s; a sub-second
        # xblockperiodmilliseconds gives gap 0 (same second allowed, never earlier).
        gap = self.genesis.qbft.minimum_timestamp_gap
        if header.timestamp < parent.timestamp + gap:
            raise InvalidBlock(
                f"timestamp {header.timestamp} is less than parent's {parent.timestamp} "
                f"+ {gap} s (the block period's minimum gap)"
            )
        if header.uncles_hash != EMPTY_OMMERS_HASH:
            raise InvalidBlock("ommers must be empty")
        if header.base_fee_per_gas != 0:
            raise InvalidBlock(f"base fee must be 0, got {header.base_fee_per_gas}")
        if header.requests_hash != EMPTY_REQUESTS_HASH or header.withdrawals_root != BLANK_ROOT:
            raise InvalidBlock("requests hash and withdrawals root must be empty")

    @staticmethod
    def _validate_ancestry_and_gas(header: QbftHeader, parent: QbftHeader, now: float) -> None:
        if header.parent_hash != parent.hash or header.block_number != parent.block_number + 1:
            raise InvalidBlock(
                f"block {header.block_number} does not extend the head "
                f"{parent.block_number} (0x{parent.hash.hex()})"
            )
        if header.gas_used > header.gas_limit:
            raise InvalidBlock(f"gas used {header.gas_used} exceeds gas limit {header.gas_limit}")
        bound = max(1, parent.gas_limit // GAS_LIMIT_BOUND_DIVISOR)
        if abs(header.gas_limit - parent.gas_limit) >= bound:
            raise InvalidBlock(
                f"gas limit {header.gas_limit} moved too far from {parent.gas_limit}"
            )
        if header.timestamp > now + FUTURE_TIMESTAMP_TOLERANCE:
            raise InvalidBlock(f"timestamp {header.timestamp} is in the future (now {now:.0f})")
        if header.mix_hash != MIX_HASH:
            raise InvalidBlock("mixHash is not the QBFT constant")
        if header.difficulty != DIFFICULTY:
            raise InvalidBlock(f"difficulty must be 1, got {header.difficulty}")

    def _validate_validators_and_seals(
        self, header: QbftHeader, parent: QbftHeader, *, check_seals: bool = True
    ) -> None:
        try:
            extra = decode_extra_data(header.extra_data)
        except ExtraDataError as error:
            raise InvalidBlock(str(error)) from error
        validators = self.validators_at(parent.block_number)
        if list(extra.validators) != validators:
            raise InvalidBlock("extraData validators differ from the validators after the parent")
        if Address(header.coinbase) not in validators:
            raise InvalidBlock(f"coinbase 0x{header.coinbase.hex()} is not a validator")
        if not check_seals:
            return
        try:
            verify_commit_seals(header, validators)
        except InvalidSeals as error:
            raise InvalidBlock(f"commit seals: {error}") from error

    def import_built(
        self,
        built: BuiltBlock,
        sealed_header: QbftHeader,
        now: float,
        extra_writes: Callable[[WriteBatch], None] | None = None,
    ) -> BlockView:
        """Validate a sealed header of a block built here and store it; return the new head.

        `sealed_header` must equal `built.header` except for extraData seals (and round).
        New-head listeners are queued: call `deliver_new_heads()` after releasing the lock.
        """
        with self.lock:
            unsealed, sealed = built.header, sealed_header
            if unsealed.hash != sealed.hash or unsealed.parent_hash != self._head.hash:
                raise InvalidBlock("the sealed header is not the block that was built on the head")
            self.validate_header(sealed, now)
            return self._store_block(
                sealed, built.transactions, built.execution, built.overlay, extra_writes
            )

    def import_block(
        self,
        header: QbftHeader,
        transactions: Sequence[SignedTransaction],
        now: float,
        extra_writes: Callable[[WriteBatch], None] | None = None,
    ) -> BlockView:
        """Validate, execute and store a block built elsewhere; raise InvalidBlock.

        New-head listeners are called before this returns (under the caller's lock, if any).
        """
        try:
            return self._import_block(header, transactions, now, extra_writes)
        finally:
            self.deliver_new_heads()

    def _import_block(
        self,
        header: QbftHeader,
        transactions: Sequence[SignedTransaction],
        now: float,
        extra_writes: Callable[[WriteBatch], None] | None,
    ) -> BlockView:
        with self.lock:
            built = self.execute_on_head(header, transactions, now, check_seals=True)
            return self._store_block(
                header, built.transactions, built.execution, built.overlay, extra_writes
            )

    def execute_on_head(
        self,
        header: QbftHeader,
        transactions: Sequence[SignedTransaction],
        now: float,
        *,
        check_seals: bool,
    ) -> BuiltBlock:
        """Validate a block built elsewhere against the head and re-execute it (nothing stored).

        With `check_seals=False` this judges a QBFT proposal; the result can later be stored
        with `import_built` once the commit seals are in. Raises InvalidBlock naming the rule.
        """
        with self.lock:
            self.validate_header(header, now, check_seals=check_seals)
            environment = self._environment_child(self._head, header.coinbase, header.timestamp)
            overlay = StateOverlay(self.store)
            try:
                execution = self.engine.execute_block(
                    overlay, self._head.state_root, environment, transactions, building=False
                )
            except InvalidTransaction as error:
                raise InvalidBlock(str(error)) from error
            checks = (
                ("state root", execution.state_root, header.state_root),
                ("transactions root", execution.transactions_root, header.transaction_root),
                ("receipts root", execution.receipts_root, header.receipt_root),
                ("gas used", execution.gas_used, header.gas_used),
                ("logs bloom", execution.bloom, header.bloom),
            )
            for name, computed, claimed in checks:
                if computed != claimed:
                    raise InvalidBlock(
                        f"{name} mismatch: computed {computed!r}, header {claimed!r}"
                    )
            return BuiltBlock(header, list(transactions), execution, overlay)

    def _store_block(
        self,
        header: QbftHeader,
        transactions: list[SignedTransaction],
        execution: BlockExecution,
        overlay: StateOverlay,
        extra_writes: Callable[[WriteBatch], None] | None,
    ) -> BlockView:
        receipts = [item.receipt for item in execution.executed]
        with self.store.batch() as batch:
            overlay.drain_into(batch)
            _write_block(
                batch, header, transactions, [item.encoded_receipt for item in execution.executed]
            )
            batch.put(schema.HEAD_KEY, header.hash)
            if extra_writes is not None:
                extra_writes(batch)
        self._head = header
        self._head_state = None
        view = self._block_view(header, transactions)
        logs = [
            entry
            for receipt in self._receipt_views(header, transactions, receipts)
            for entry in receipt.logs
        ]
        self._undelivered.append((view, logs))
        return view


def _remember(cache: OrderedDict[bytes, Any], key: bytes, value: Any) -> None:
    """Insert into a least-recently-used cache of CACHED_BLOCKS entries."""
    cache[key] = value
    if len(cache) > CACHED_BLOCKS:
        cache.popitem(last=False)


def _write_block(
    batch: WriteBatch,
    header: QbftHeader,
    transactions: Sequence[SignedTransaction],
    encoded_receipts: Sequence[bytes],
) -> None:
    block_hash = header.hash
    number = header.block_number
    batch.put(schema.header_key(block_hash), encode_header(header))
    batch.put(
        schema.body_key(block_hash),
        rlp.encode([[item.raw for item in transactions], [item.sender for item in transactions]]),
    )
    batch.put(schema.receipts_key(block_hash), rlp.encode(list(encoded_receipts)))
    batch.put(schema.number_key(block_hash), schema.encode_number(number))
    batch.put(schema.canonical_hash_key(number), block_hash)
    for index, item in enumerate(transactions):
        batch.put(schema.tx_location_key(item.hash), schema.encode_tx_location(number, index))


def build_genesis_header(genesis: Genesis, store_state: StateOverlay | None) -> QbftHeader:
    """Return block 0 for `genesis`; its state nodes go into `store_state` when given."""
    target: Any = store_state if store_state is not None else AtomicDB()
    context_fields: dict[str, Any] = dict(
        coinbase=genesis.coinbase,
        timestamp=genesis.timestamp,
        block_number=0,
        difficulty=genesis.difficulty,
        mix_hash=genesis.mix_hash,
        gas_limit=genesis.gas_limit,
        prev_hashes=(),
        chain_id=genesis.chain_id,
        base_fee_per_gas=0,
        excess_blob_gas=0,
    )
    context = ExecutionContext(**context_fields)
    state: Any = PragueState(target, context, cast(EvmHash32, BLANK_ROOT))
    for address, account in genesis.alloc.items():
        state.set_balance(address, account.balance)
        state.set_nonce(address, account.nonce)
        if account.code:
            state.set_code(address, account.code)
        for slot, value in account.storage.items():
            state.set_storage(address, slot, value)
    state.persist()
    fields: dict[str, Any] = dict(
        parent_hash=ZERO_HASH,
        uncles_hash=EMPTY_OMMERS_HASH,
        coinbase=genesis.coinbase,
        state_root=state.state_root,
        transaction_root=BLANK_ROOT,
        receipt_root=BLANK_ROOT,
        bloom=0,
        difficulty=genesis.difficulty,
        block_number=0,
        gas_limit=genesis.gas_limit,
        gas_used=0,
        timestamp=genesis.timestamp,
        extra_data=genesis.extra_data,
        mix_hash=genesis.mix_hash,
        nonce=genesis.nonce,
        base_fee_per_gas=genesis.base_fee_per_gas,
        withdrawals_root=BLANK_ROOT,
        blob_gas_used=0,
        excess_blob_gas=0,
        parent_beacon_block_root=ZERO_HASH,
        requests_hash=EMPTY_REQUESTS_HASH,
    )
    return QbftHeader(**fields)
