"""The transaction pool (TxSubmitter): accepted, not yet mined transactions, persisted.

Rules:
- Per sender, transactions are kept by nonce. A transaction is *ready* when its nonce continues the
  sender's account nonce without a gap; the others wait in the future queue, at most
  `max_future_gap` nonces beyond the next expected nonce (account nonce plus the sender's gap-free
  pooled run; else `nonce-too-high`), so a burst of consecutive nonces is never refused.
- Blocks take ready transactions in arrival order across senders, nonce order within one sender.
- Replacement: a transaction with the same sender and nonce replaces the pooled one only if both
  its fee cap and tip cap are at least 110% of the old ones (else `replacement-underpriced`). With
  a zero fee, 110% of 0 is 0, so a zero-fee transaction may be replaced by another zero-fee one:
  on this zero-gas-price ledger accounts usually hold no ether, and refusing would leave a stuck
  transaction unreplaceable forever. The per-sender limit bounds the churn this allows.
- Limits: `max_per_sender` (`sender-limit`) and `max_total` (`pool-full`); a replacement never
  counts against them.
- Every rejection is a TxRejected with one reason from node/ports.py.
- Persistence: an accepted transaction is written to the store (schema `p`, one slot per sender and
  nonce) before `submit` returns its hash, and deleted in the same atomic batch as the block that
  mines it. After `kill -9`, `open` reloads the pool; a reloaded transaction that can no longer be
  mined is not silently forgotten: it is listed in `lost_on_restart` with its reason.
- Balance checks use the head state and do not subtract the cost of the sender's other pooled
  transactions; a transaction that cannot pay when its block is built is dropped then, with its
  reason kept in `dropped`.
"""

from __future__ import annotations

import heapq
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from eth_hash.auto import keccak

from node.chain import Chain
from node.config import TxPoolConfig
from node.ports import Address, Hash32, TransactionView, TxRejected
from node.storage import KeyValueStore, WriteBatch, schema
from node.transactions import (
    SignedTransaction,
    decode_transaction,
    pin_sender,
    required_gas,
    transaction_view,
)

log = logging.getLogger(__name__)

PRICE_BUMP_PERCENT = 10
MAX_DROPPED_REMEMBERED = 10000


@dataclass(frozen=True)
class PoolEntry:
    """A pooled transaction and its arrival sequence number (for fair ordering)."""

    signed: SignedTransaction
    arrival: int


class TxPool:
    """The pool of accepted transactions; implements ports.TxSubmitter."""

    def __init__(
        self,
        chain: Chain,
        config: TxPoolConfig,
        store: KeyValueStore,
        lock: threading.RLock | None = None,
    ) -> None:
        self.chain = chain
        self.config = config
        self.store = store
        self.lock = lock or chain.lock
        self._by_sender: dict[bytes, dict[int, PoolEntry]] = {}
        self._by_hash: dict[bytes, PoolEntry] = {}
        self._arrivals = 0
        self.dropped: OrderedDict[bytes, str] = OrderedDict()
        self.lost_on_restart: list[tuple[Hash32, str]] = []
        self._reload()

    # -- persistence ----------------------------------------------------------------------

    def _reload(self) -> None:
        """Load persisted entries in (sender, nonce) order; record the ones that cannot stay."""
        stale: list[bytes] = []
        state = self.chain.head_state()
        for key, raw in self.store.iterate_prefix(schema.POOL):
            sender = key[1:21]
            nonce = schema.decode_number(key[21:])
            try:
                signed = pin_sender(raw, sender)
            except TxRejected as error:
                self.lost_on_restart.append((Hash32(keccak(raw)), f"unreadable: {error}"))
                stale.append(key)
                continue
            if nonce < state.nonce(sender):
                reason = "nonce-too-low: another transaction with this nonce was mined"
                self.lost_on_restart.append((signed.hash, reason))
                stale.append(key)
                continue
            self._insert(signed)
        if stale:
            with self.store.batch() as batch:
                for key in stale:
                    batch.delete(key)
        for tx_hash, reason in self.lost_on_restart:
            self._remember_dropped(tx_hash, reason)
            log.warning("pooled transaction 0x%s dropped on restart: %s", tx_hash.hex(), reason)

    def _remember_dropped(self, tx_hash: bytes, reason: str) -> None:
        self.dropped[tx_hash] = reason
        while len(self.dropped) > MAX_DROPPED_REMEMBERED:
            self.dropped.popitem(last=False)

    def _insert(self, signed: SignedTransaction) -> None:
        self._arrivals += 1
        entry = PoolEntry(signed, self._arrivals)
        slots = self._by_sender.setdefault(signed.sender, {})
        old = slots.get(signed.nonce)
        if old is not None:
            self._by_hash.pop(old.signed.hash, None)
        slots[signed.nonce] = entry
        self._by_hash[signed.hash] = entry

    def _remove(self, sender: bytes, nonce: int) -> PoolEntry | None:
        slots = self._by_sender.get(sender)
        if slots is None:
            return None
        entry = slots.pop(nonce, None)
        if entry is not None:
            self._by_hash.pop(entry.signed.hash, None)
        if not slots:
            del self._by_sender[sender]
        return entry

    # -- TxSubmitter ----------------------------------------------------------------------

    def submit(self, raw_transaction: bytes) -> Hash32:
        """Validate, persist and pool a raw transaction; return its hash; raise TxRejected."""
        with self.lock:
            tx_hash = keccak(bytes(raw_transaction))
            if tx_hash in self._by_hash:
                raise TxRejected(
                    "already-known", f"transaction 0x{tx_hash.hex()} is already pooled"
                )
            signed = decode_transaction(raw_transaction, self.chain.chain_id)
            self._check(signed)
            self.store.put(schema.pool_key(signed.sender, signed.nonce), signed.raw)
            self._insert(signed)
            self.dropped.pop(signed.hash, None)
            return signed.hash

    def _check(self, signed: SignedTransaction) -> None:
        head = self.chain.head_header
        if signed.tip_cap > signed.fee_cap:
            raise TxRejected(
                "fee-too-low",
                f"maxPriorityFeePerGas {signed.tip_cap} exceeds maxFeePerGas {signed.fee_cap}",
            )
        if signed.fee_cap < (head.base_fee_per_gas or 0):
            raise TxRejected(
                "fee-too-low", f"fee cap is below the base fee {head.base_fee_per_gas}"
            )
        if signed.gas > head.gas_limit:
            raise TxRejected(
                "gas-limit-exceeded",
                f"gas {signed.gas} exceeds the block gas limit {head.gas_limit}",
            )
        needed = required_gas(signed)
        if signed.gas < needed:
            raise TxRejected(
                "intrinsic-gas-too-low", f"gas {signed.gas} is below the {needed} this needs"
            )
        state = self.chain.head_state()
        account_nonce = state.nonce(signed.sender)
        if signed.nonce < account_nonce:
            raise TxRejected(
                "nonce-too-low", f"nonce {signed.nonce} is below the account nonce {account_nonce}"
            )
        slots = self._by_sender.get(signed.sender, {})
        next_nonce = account_nonce
        while next_nonce in slots:
            next_nonce += 1
        if signed.nonce > next_nonce + self.config.max_future_gap:
            raise TxRejected(
                "nonce-too-high",
                f"nonce {signed.nonce} is more than {self.config.max_future_gap} ahead of the "
                f"next expected nonce {next_nonce} (account nonce plus pooled transactions)",
            )
        cost = int(signed.tx.value) + signed.gas * signed.fee_cap
        balance = state.balance(signed.sender)
        if balance < cost:
            raise TxRejected(
                "insufficient-funds",
                f"balance {balance} is below value + gas * price = {cost}",
            )
        old = slots.get(signed.nonce)
        if old is not None:
            bump = 100 + PRICE_BUMP_PERCENT
            if (
                signed.fee_cap * 100 < old.signed.fee_cap * bump
                or signed.tip_cap * 100 < old.signed.tip_cap * bump
            ):
                raise TxRejected(
                    "replacement-underpriced",
                    f"replacing nonce {signed.nonce} needs fees at least {bump}% of the pooled "
                    f"transaction's ({old.signed.fee_cap} / {old.signed.tip_cap})",
                )
            return
        if len(slots) >= self.config.max_per_sender:
            raise TxRejected(
                "sender-limit",
                f"sender already has {len(slots)} pooled transactions "
                f"(limit {self.config.max_per_sender})",
            )
        if len(self._by_hash) >= self.config.max_total:
            raise TxRejected("pool-full", f"the pool holds {self.config.max_total} transactions")

    def pending_nonce(self, address: Address) -> int:
        """Return the account nonce plus the sender's gap-free run of pooled transactions."""
        with self.lock:
            nonce = int(self.chain.head_state().nonce(address))
            slots = self._by_sender.get(bytes(address), {})
            while nonce in slots:
                nonce += 1
            return nonce

    def pending_transaction(self, tx_hash: Hash32) -> TransactionView | None:
        """Return a pooled transaction, or None."""
        with self.lock:
            entry = self._by_hash.get(bytes(tx_hash))
            return None if entry is None else transaction_view(entry.signed)

    def pending_count(self) -> int:
        """Return how many transactions are pooled (ready and future)."""
        with self.lock:
            return len(self._by_hash)

    def drop_reason(self, tx_hash: Hash32) -> str | None:
        """Return why a transaction left the pool without being mined, if it did."""
        with self.lock:
            return self.dropped.get(bytes(tx_hash))

    # -- block building -------------------------------------------------------------------

    def select(self, gas_limit: int) -> list[SignedTransaction]:
        """Return ready transactions for one block: arrival order across senders, nonce order
        within each sender, with total gas limits summing to at most `gas_limit`."""
        with self.lock:
            state = self.chain.head_state()
            heap: list[tuple[int, bytes, int]] = []
            for sender, slots in self._by_sender.items():
                nonce = int(state.nonce(sender))
                entry = slots.get(nonce)
                if entry is not None:
                    heap.append((entry.arrival, sender, nonce))
            heapq.heapify(heap)
            chosen: list[SignedTransaction] = []
            remaining = gas_limit
            while heap:
                _, sender, nonce = heapq.heappop(heap)
                entry = self._by_sender[sender][nonce]
                if entry.signed.gas > remaining:
                    continue  # this sender's later nonces wait for the next block
                chosen.append(entry.signed)
                remaining -= entry.signed.gas
                following = self._by_sender[sender].get(nonce + 1)
                if following is not None:
                    heapq.heappush(heap, (following.arrival, sender, nonce + 1))
            return chosen

    def removal_writes(
        self, mined: Sequence[SignedTransaction], rejected: Sequence[tuple[SignedTransaction, str]]
    ) -> list[bytes]:
        """Return the pool keys a block removes (to delete in the block's batch)."""
        keys = [schema.pool_key(item.sender, item.nonce) for item in mined]
        keys.extend(schema.pool_key(item.sender, item.nonce) for item, _ in rejected)
        return keys

    def write_removals(self, batch: WriteBatch, keys: Iterable[bytes]) -> None:
        """Delete pool keys inside a block's batch."""
        for key in keys:
            batch.delete(key)

    def settle(
        self, mined: Sequence[SignedTransaction], rejected: Sequence[tuple[SignedTransaction, str]]
    ) -> None:
        """Forget mined and rejected transactions after their block's batch was written."""
        with self.lock:
            for item in mined:
                entry = self._by_sender.get(item.sender, {}).get(item.nonce)
                if entry is not None and entry.signed.hash == item.hash:
                    self._remove(item.sender, item.nonce)
            for item, reason in rejected:
                entry = self._by_sender.get(item.sender, {}).get(item.nonce)
                if entry is not None and entry.signed.hash == item.hash:
                    self._remove(item.sender, item.nonce)
                self._remember_dropped(item.hash, reason)
                log.info("dropped transaction 0x%s: %s", item.hash.hex(), reason)
