"""The JSON-RPC method handlers: `eth_`, `net_`, `web3_` and `qbft_`, on the ledger's ports.

Each handler takes the positional `params` list and returns plain JSON values; it raises
`RpcError` for bad input and lets `LedgerError`s through for `ledger_error_to_rpc` to map in
geth's words. Handlers are synchronous (the ledger is thread-safe behind one lock); the server
runs them off the event loop. Subscriptions are session state and arrive through `Session`.
"""

from __future__ import annotations

import platform
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from eth_hash.auto import keccak

from node.ports import (
    Address,
    BlockView,
    ExecutionFailed,
    ExecutionReverted,
    Hash32,
    LedgerError,
    LedgerReader,
    LogEntry,
    LogQuery,
    ReceiptView,
    TxRejected,
    TxSubmitter,
    UnknownBlock,
)
from node.rpc.codec import (
    block_json,
    data,
    effective_gas_price,
    log_json,
    parse_address,
    parse_bool,
    parse_data,
    parse_hash,
    parse_quantity,
    quantity,
    receipt_json,
    transaction_json,
)
from node.rpc.errors import (
    EXECUTION_REVERTED,
    METHOD_NOT_FOUND,
    SERVER_ERROR,
    RpcError,
    invalid_params,
    limit_exceeded,
)
from node.rpc.filters import FilterTable, LogCriteria, UnknownFilter
from node.rpc.params import (
    BlockSelector,
    FilterObject,
    parse_block_selector,
    parse_call_request,
    parse_filter_object,
    parse_state_overrides,
)

CLIENT_NAME = "mykey-ledger"
CLIENT_VERSION = "0.1.0"

MAX_FEE_HISTORY_BLOCKS = 1024
"""geth's cap on eth_feeHistory's blockCount."""

ERROR_STRING_SELECTOR = bytes.fromhex("08c379a0")
"""Selector of Solidity's Error(string), whose text geth appends to "execution reverted"."""

TX_REJECTION_MESSAGES: dict[str, str] = {
    "invalid-rlp": "rlp: invalid transaction encoding",
    "invalid-signature": "invalid sender",
    "wrong-chain-id": "invalid chain id for signer",
    "nonce-too-low": "nonce too low",
    "nonce-too-high": "nonce too high",
    "already-known": "already known",
    "replacement-underpriced": "replacement transaction underpriced",
    "gas-limit-exceeded": "exceeds block gas limit",
    "intrinsic-gas-too-low": "intrinsic gas too low",
    "insufficient-funds": "insufficient funds for gas * price + value",
    "pool-full": "txpool is full",
    "sender-limit": "account limit exceeded",
    "oversized": "oversized data",
    "fee-too-low": "transaction underpriced",
    "unsupported-type": "transaction type not supported",
}
"""geth's error text per txpool rejection reason; clients (ethers.js) match on these prefixes."""


@dataclass(frozen=True)
class RpcLimits:
    """Limits the RPC layer enforces (from config.toml's [rpc] table)."""

    max_request_bytes: int = 5 * 1024 * 1024
    max_batch: int = 1000
    max_logs_block_range: int = 10_000
    max_ws_frame_bytes: int = 5 * 1024 * 1024


class Session(Protocol):
    """A WebSocket connection's subscriptions (eth_subscribe works only where one exists)."""

    def subscribe(self, kind: str, criteria: LogCriteria | None) -> str:
        """Start a subscription of `kind` ("newHeads", "logs", ...); return its id."""
        ...

    def unsubscribe(self, subscription_id: str) -> bool:
        """Stop a subscription; return whether it existed on this connection."""
        ...


Handler = Callable[[list[Any], "Session | None"], Any]


@runtime_checkable
class BlockReceiptsReader(Protocol):
    """A ledger that can return a whole block's receipts at once (node.chain.Chain can)."""

    def block_receipts(self, number: int) -> list[ReceiptView]:
        """Return every receipt of block `number`."""
        ...


RECEIPT_CACHE_SIZE = 50_000
"""Receipts kept in memory; clients poll receipts of recent blocks, many times each."""


class ReceiptCache:
    """A bounded LRU of mined receipts. Safe because QBFT blocks are final: never reorged."""

    def __init__(self, size: int = RECEIPT_CACHE_SIZE) -> None:
        self.size = size
        self._items: OrderedDict[bytes, ReceiptView] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, tx_hash: bytes) -> ReceiptView | None:
        """Return a cached receipt, or None."""
        with self._lock:
            found = self._items.get(tx_hash)
            if found is not None:
                self._items.move_to_end(tx_hash)
            return found

    def put_all(self, receipts: Sequence[ReceiptView]) -> None:
        """Cache receipts, dropping the least recently used beyond `size`."""
        with self._lock:
            for receipt in receipts:
                self._items[receipt.transaction_hash] = receipt
            while len(self._items) > self.size:
                self._items.popitem(last=False)


def revert_message(revert_data: bytes) -> str:
    """Return geth's message for a revert: with the Error(string) reason when there is one."""
    if revert_data[:4] == ERROR_STRING_SELECTOR and len(revert_data) >= 68:
        body = revert_data[4:]
        offset = int.from_bytes(body[:32])
        if offset + 32 <= len(body):
            length = int.from_bytes(body[offset : offset + 32])
            text = body[offset + 32 : offset + 32 + length]
            if len(text) == length:
                return "execution reverted: " + text.decode("utf-8", errors="replace")
    return "execution reverted"


def ledger_error_to_rpc(error: LedgerError) -> RpcError:
    """Map a ledger error to the JSON-RPC error geth would send."""
    if isinstance(error, ExecutionReverted):
        return RpcError(EXECUTION_REVERTED, revert_message(error.data), data(error.data))
    if isinstance(error, TxRejected):
        prefix = TX_REJECTION_MESSAGES.get(error.reason, error.reason.replace("-", " "))
        detail = str(error)
        message = detail if detail.lower().startswith(prefix) else f"{prefix}: {detail}"
        return RpcError(SERVER_ERROR, message)
    if isinstance(error, UnknownBlock):
        return RpcError(SERVER_ERROR, f"header not found: {error}")
    if isinstance(error, ExecutionFailed):
        return RpcError(SERVER_ERROR, geth_call_failure(str(error)))
    return RpcError(SERVER_ERROR, str(error))


NONCE_MISMATCH = re.compile(r"Expected (\d+), but got (\d+)")


def geth_call_failure(message: str) -> str:
    """Return geth's wording for a call that could not run, keeping the engine's detail.

    ethers.js and viem classify errors by geth's phrases ("nonce too low", "insufficient funds",
    "intrinsic gas too low"); py-evm words them differently.
    """
    nonce = NONCE_MISMATCH.search(message)
    if "nonce" in message.lower() and nonce is not None:
        expected, got = int(nonce.group(1)), int(nonce.group(2))
        kind = "nonce too low" if got < expected else "nonce too high"
        return f"{kind}: tx nonce {got}, state nonce {expected}"
    if "enough balance" in message:
        return f"insufficient funds for gas * price + value ({message})"
    if "gas cannot be negative" in message:
        return f"intrinsic gas too low ({message})"
    return message


def next_base_fee(block: BlockView) -> int:
    """Return the base fee of the block after `block` (EIP-1559: elasticity 2, denominator 8)."""
    base = block.base_fee_per_gas or 0
    target = block.gas_limit // 2
    if target in {0, block.gas_used}:
        return base
    if block.gas_used > target:
        return base + max(base * (block.gas_used - target) // target // 8, 1)
    return base - base * (target - block.gas_used) // target // 8


def arity(params: list[Any], most: int, least: int = 0) -> None:
    """Reject too few or too many positional parameters, as geth does."""
    if len(params) > most:
        raise RpcError(-32602, f"too many arguments, want at most {most}")
    if len(params) < least:
        raise RpcError(-32602, f"missing value for required argument {len(params)}")


class EthApi:
    """The method table over one ledger. `clock` returns seconds (filters' idle expiry)."""

    def __init__(
        self,
        reader: LedgerReader,
        submitter: TxSubmitter,
        filters: FilterTable,
        clock: Callable[[], float],
        limits: RpcLimits | None = None,
    ) -> None:
        self.reader = reader
        self.submitter = submitter
        self.filters = filters
        self.clock = clock
        self.limits = limits or RpcLimits()
        self.pending_listeners: list[Callable[[Hash32], None]] = [filters.on_pending]
        self._head: BlockView | None = None
        self._head_lock = threading.Lock()
        self.receipts = ReceiptCache()
        self.client_version = (
            f"{CLIENT_NAME}/v{CLIENT_VERSION}/{platform.system().lower()}-"
            f"{platform.machine()}/python{platform.python_version()}"
        )
        self.methods: dict[str, Handler] = {
            "eth_chainId": self.eth_chain_id,
            "eth_blockNumber": self.eth_block_number,
            "eth_getBalance": self.eth_get_balance,
            "eth_getCode": self.eth_get_code,
            "eth_getStorageAt": self.eth_get_storage_at,
            "eth_getTransactionCount": self.eth_get_transaction_count,
            "eth_call": self.eth_call,
            "eth_estimateGas": self.eth_estimate_gas,
            "eth_gasPrice": self.eth_gas_price,
            "eth_maxPriorityFeePerGas": self.eth_max_priority_fee_per_gas,
            "eth_feeHistory": self.eth_fee_history,
            "eth_sendRawTransaction": self.eth_send_raw_transaction,
            "eth_getTransactionByHash": self.eth_get_transaction_by_hash,
            "eth_getTransactionReceipt": self.eth_get_transaction_receipt,
            "eth_getBlockByNumber": self.eth_get_block_by_number,
            "eth_getBlockByHash": self.eth_get_block_by_hash,
            "eth_getBlockTransactionCountByNumber": self.eth_get_block_tx_count_by_number,
            "eth_getBlockTransactionCountByHash": self.eth_get_block_tx_count_by_hash,
            "eth_getTransactionByBlockNumberAndIndex": self.eth_get_tx_by_number_and_index,
            "eth_getTransactionByBlockHashAndIndex": self.eth_get_tx_by_hash_and_index,
            "eth_getUncleCountByBlockNumber": self.eth_get_uncle_count,
            "eth_getUncleCountByBlockHash": self.eth_get_uncle_count,
            "eth_getBlockReceipts": self.eth_get_block_receipts,
            "eth_getLogs": self.eth_get_logs,
            "eth_newFilter": self.eth_new_filter,
            "eth_newBlockFilter": self.eth_new_block_filter,
            "eth_newPendingTransactionFilter": self.eth_new_pending_transaction_filter,
            "eth_getFilterChanges": self.eth_get_filter_changes,
            "eth_getFilterLogs": self.eth_get_filter_logs,
            "eth_uninstallFilter": self.eth_uninstall_filter,
            "eth_subscribe": self.eth_subscribe,
            "eth_unsubscribe": self.eth_unsubscribe,
            "eth_syncing": self.eth_syncing,
            "eth_accounts": self.eth_accounts,
            "eth_mining": self.eth_mining,
            "eth_hashrate": self.eth_hashrate,
            "net_version": self.net_version,
            "net_listening": self.net_listening,
            "net_peerCount": self.net_peer_count,
            "web3_clientVersion": self.web3_client_version,
            "web3_sha3": self.web3_sha3,
            "qbft_getValidatorsByBlockNumber": self.qbft_get_validators_by_block_number,
        }

    # --- head tracking -------------------------------------------------------------------

    def head(self) -> BlockView:
        """Return the head block: kept from head events, so a read never rebuilds it."""
        head = self._head
        if head is None:
            self._advance_head(self.reader.head())
            head = self._head
            assert head is not None
        return head

    def on_head(self, block: BlockView, logs: Sequence[LogEntry]) -> None:
        """HeadListener: remember the new head."""
        self._advance_head(block)

    def _advance_head(self, block: BlockView) -> None:
        # Blocks are final, so the head only moves forward; a slow first read of the head
        # racing a head event must never put an older block back.
        with self._head_lock:
            if self._head is None or block.number > self._head.number:
                self._head = block

    # --- block resolution ----------------------------------------------------------------

    def resolve(self, selector: BlockSelector) -> int:
        """Return the block number a selector names (may be beyond the head for numbers)."""
        if selector.block_hash is not None:
            block = self.reader.block_by_hash(selector.block_hash)
            if block is None:
                raise RpcError(
                    SERVER_ERROR, f"header for hash not found: {data(selector.block_hash)}"
                )
            return block.number
        if selector.number is not None:
            return selector.number
        if selector.tag == "earliest":
            return 0
        return self.head().number

    def resolve_state(self, params: list[Any], index: int) -> int:
        """Resolve the block parameter of a state read (default latest); it must exist."""
        selector = (
            parse_block_selector(params[index], index)
            if len(params) > index and params[index] is not None
            else BlockSelector(tag="latest")
        )
        number = self.resolve(selector)
        if selector.number is not None and number > self.head().number:
            raise RpcError(SERVER_ERROR, "header not found")
        return number

    # --- chain and state -----------------------------------------------------------------

    def eth_chain_id(self, params: list[Any], session: Session | None) -> Any:
        arity(params, 0)
        return quantity(self.reader.chain_id)

    def eth_block_number(self, params: list[Any], session: Session | None) -> Any:
        arity(params, 0)
        return quantity(self.head().number)

    def eth_get_balance(self, params: list[Any], session: Session | None) -> Any:
        arity(params, 2, 1)
        address = parse_address_param(params, 0)
        return quantity(self.reader.balance(address, self.resolve_state(params, 1)))

    def eth_get_code(self, params: list[Any], session: Session | None) -> Any:
        arity(params, 2, 1)
        address = parse_address_param(params, 0)
        return data(self.reader.code(address, self.resolve_state(params, 1)))

    def eth_get_storage_at(self, params: list[Any], session: Session | None) -> Any:
        arity(params, 3, 2)
        address = parse_address_param(params, 0)
        slot_param = params[1]
        if isinstance(slot_param, str) and len(slot_param) == 66:
            slot = int.from_bytes(parse_hash(slot_param, 1, "slot"))
        else:
            slot = parse_quantity(slot_param, 1, "slot")
        word = self.reader.storage_at(address, slot, self.resolve_state(params, 2))
        return data(word.to_bytes(32))

    def eth_get_transaction_count(self, params: list[Any], session: Session | None) -> Any:
        arity(params, 2, 1)
        address = parse_address_param(params, 0)
        if len(params) > 1 and params[1] == "pending":
            return quantity(self.submitter.pending_nonce(address))
        return quantity(self.reader.nonce(address, self.resolve_state(params, 1)))

    def eth_call(self, params: list[Any], session: Session | None) -> Any:
        arity(params, 3, 1)
        request = parse_call_request(params[0], 0)
        number = self.resolve_state(params, 1)
        overrides = parse_state_overrides(params[2] if len(params) > 2 else None, 2)
        return data(self.reader.call(request, number, overrides or None))

    def eth_estimate_gas(self, params: list[Any], session: Session | None) -> Any:
        arity(params, 3, 1)
        request = parse_call_request(params[0], 0)
        number = self.resolve_state(params, 1)
        overrides = parse_state_overrides(params[2] if len(params) > 2 else None, 2)
        return quantity(self.reader.estimate_gas(request, number, overrides or None))

    # --- fees ----------------------------------------------------------------------------

    def eth_gas_price(self, params: list[Any], session: Session | None) -> Any:
        arity(params, 0)
        return quantity(next_base_fee(self.head()))

    def eth_max_priority_fee_per_gas(self, params: list[Any], session: Session | None) -> Any:
        arity(params, 0)
        return quantity(0)

    def eth_fee_history(self, params: list[Any], session: Session | None) -> Any:
        arity(params, 3, 2)
        count = parse_quantity(params[0], 0, "blockCount")
        newest = self.resolve_state(params, 1)
        percentiles: list[float] = []
        if len(params) > 2 and params[2] is not None:
            raw = params[2]
            if not isinstance(raw, list) or not all(
                isinstance(p, int | float) and not isinstance(p, bool) for p in raw
            ):
                raise invalid_params(2, "rewardPercentiles", "expected an array of numbers")
            for position, value in enumerate(raw):
                if not 0 <= value <= 100:
                    raise invalid_params(2, "rewardPercentiles", f"{value} is outside 0..100")
                if position and value < raw[position - 1]:
                    raise invalid_params(2, "rewardPercentiles", "values must be ascending")
            percentiles = [float(p) for p in raw]
        count = min(count, MAX_FEE_HISTORY_BLOCKS, newest + 1)
        if count == 0:
            return {"oldestBlock": quantity(0), "baseFeePerGas": [], "gasUsedRatio": []}
        oldest = newest - count + 1
        base_fees: list[str] = []
        ratios: list[float] = []
        rewards: list[list[str]] = []
        last: BlockView | None = None
        for number in range(oldest, newest + 1):
            block = self.reader.block_by_number(number)
            if block is None:
                raise RpcError(SERVER_ERROR, f"header not found: block {number}")
            base_fees.append(quantity(block.base_fee_per_gas or 0))
            ratios.append(block.gas_used / block.gas_limit if block.gas_limit else 0.0)
            if percentiles:
                rewards.append([quantity(tip) for tip in self._rewards(block, percentiles)])
            last = block
        assert last is not None
        base_fees.append(quantity(next_base_fee(last)))
        result: dict[str, Any] = {
            "oldestBlock": quantity(oldest),
            "baseFeePerGas": base_fees,
            "gasUsedRatio": ratios,
        }
        if percentiles:
            result["reward"] = rewards
        return result

    def _rewards(self, block: BlockView, percentiles: list[float]) -> list[int]:
        """Return the effective tips at each gas-weighted percentile of a block (as geth does)."""
        if not block.transactions or block.gas_used == 0:
            return [0 for _ in percentiles]
        base = block.base_fee_per_gas or 0
        weighted: list[tuple[int, int]] = []
        for tx in block.transactions:
            receipt = self.reader.receipt(tx.hash)
            gas_used = receipt.gas_used if receipt is not None else tx.gas
            weighted.append((effective_gas_price(tx, base) - base, gas_used))
        weighted.sort()
        tips: list[int] = []
        index, cumulative = 0, weighted[0][1]
        for percentile in percentiles:
            threshold = block.gas_used * percentile / 100
            while cumulative < threshold and index < len(weighted) - 1:
                index += 1
                cumulative += weighted[index][1]
            tips.append(max(weighted[index][0], 0))
        return tips

    # --- transactions --------------------------------------------------------------------

    def eth_send_raw_transaction(self, params: list[Any], session: Session | None) -> Any:
        arity(params, 1, 1)
        raw = parse_data(params[0], 0, "rawTransaction")
        if not raw:
            raise RpcError(SERVER_ERROR, "typed transaction too short")
        tx_hash = self.submitter.submit(raw)
        for listener in self.pending_listeners:
            listener(tx_hash)
        return data(tx_hash)

    def eth_get_transaction_by_hash(self, params: list[Any], session: Session | None) -> Any:
        arity(params, 1, 1)
        tx_hash = parse_hash(params[0], 0, "transactionHash")
        tx = self.reader.transaction(tx_hash)
        if tx is None:
            pending = self.submitter.pending_transaction(tx_hash)
            return None if pending is None else transaction_json(pending)
        base_fee = None
        if tx.block_number is not None and tx.type >= 2:
            block = self.reader.block_by_number(tx.block_number)
            base_fee = None if block is None else block.base_fee_per_gas
        return transaction_json(tx, base_fee)

    def eth_get_transaction_receipt(self, params: list[Any], session: Session | None) -> Any:
        arity(params, 1, 1)
        tx_hash = parse_hash(params[0], 0, "transactionHash")
        receipt = self.receipts.get(tx_hash)
        if receipt is None:
            receipt = self.reader.receipt(tx_hash)
            if receipt is None:
                return None
            if isinstance(self.reader, BlockReceiptsReader):
                # One decode of the block serves every later receipt poll of its transactions.
                self.receipts.put_all(self.reader.block_receipts(receipt.block_number))
        return receipt_json(receipt)

    # --- blocks --------------------------------------------------------------------------

    def _block_by_number_param(self, params: list[Any]) -> BlockView | None:
        selector = parse_block_selector(params[0], 0)
        if selector.block_hash is not None:
            return self.reader.block_by_hash(selector.block_hash)
        number = self.resolve(selector)
        head = self.head()
        # Clients poll "latest" constantly; the head view is already built.
        return head if number == head.number else self.reader.block_by_number(number)

    def eth_get_block_by_number(self, params: list[Any], session: Session | None) -> Any:
        arity(params, 2, 1)
        full = parse_bool(params[1], 1, "fullTransactions") if len(params) > 1 else False
        block = self._block_by_number_param(params)
        return None if block is None else block_json(block, full)

    def eth_get_block_by_hash(self, params: list[Any], session: Session | None) -> Any:
        arity(params, 2, 1)
        block_hash = parse_hash(params[0], 0, "blockHash")
        full = parse_bool(params[1], 1, "fullTransactions") if len(params) > 1 else False
        block = self.reader.block_by_hash(block_hash)
        return None if block is None else block_json(block, full)

    def eth_get_block_tx_count_by_number(self, params: list[Any], session: Session | None) -> Any:
        arity(params, 1, 1)
        block = self._block_by_number_param(params)
        return None if block is None else quantity(len(block.transactions))

    def eth_get_block_tx_count_by_hash(self, params: list[Any], session: Session | None) -> Any:
        arity(params, 1, 1)
        block = self.reader.block_by_hash(parse_hash(params[0], 0, "blockHash"))
        return None if block is None else quantity(len(block.transactions))

    def _tx_at(self, block: BlockView | None, index: int) -> Any:
        if block is None or index >= len(block.transactions):
            return None
        return transaction_json(block.transactions[index], block.base_fee_per_gas)

    def eth_get_tx_by_number_and_index(self, params: list[Any], session: Session | None) -> Any:
        arity(params, 2, 2)
        index = parse_quantity(params[1], 1, "index")
        return self._tx_at(self._block_by_number_param(params), index)

    def eth_get_tx_by_hash_and_index(self, params: list[Any], session: Session | None) -> Any:
        arity(params, 2, 2)
        block = self.reader.block_by_hash(parse_hash(params[0], 0, "blockHash"))
        return self._tx_at(block, parse_quantity(params[1], 1, "index"))

    def eth_get_block_receipts(self, params: list[Any], session: Session | None) -> Any:
        arity(params, 1, 1)
        block = self._block_by_number_param(params)
        if block is None:
            return None
        if isinstance(self.reader, BlockReceiptsReader):
            receipts = self.reader.block_receipts(block.number)
            self.receipts.put_all(receipts)
        else:
            found = (self.reader.receipt(tx.hash) for tx in block.transactions)
            receipts = [receipt for receipt in found if receipt is not None]
        return [receipt_json(receipt) for receipt in receipts]

    def eth_get_uncle_count(self, params: list[Any], session: Session | None) -> Any:
        arity(params, 1, 1)
        return quantity(0)

    # --- logs and filters ----------------------------------------------------------------

    def log_query(self, spec: FilterObject) -> LogQuery | None:
        """Resolve a filter object to a LogQuery, enforcing the block range limit.

        Returns None when the range starts beyond the head (nothing can match yet).
        """
        if spec.block_hash is not None:
            return LogQuery(
                block_hash=spec.block_hash, addresses=spec.addresses, topics=spec.topics
            )
        head = self.head().number
        start = self.resolve(spec.from_block)
        end = self.resolve(spec.to_block)
        if start > end:
            raise invalid_params(0, "filter", f"fromBlock {start} is after toBlock {end}")
        if start > head:
            return None
        end = min(end, head)
        if start > end:
            raise invalid_params(0, "filter", f"fromBlock {start} is after toBlock {end}")
        if end - start + 1 > self.limits.max_logs_block_range:
            raise limit_exceeded(
                f"query spans {end - start + 1} blocks, more than the limit of "
                f"{self.limits.max_logs_block_range}; narrow fromBlock/toBlock"
            )
        return LogQuery(
            from_block=start, to_block=end, addresses=spec.addresses, topics=spec.topics
        )

    def eth_get_logs(self, params: list[Any], session: Session | None) -> Any:
        arity(params, 1, 1)
        query = self.log_query(parse_filter_object(params[0], 0))
        if query is None:
            return []
        return [log_json(log) for log in self.reader.logs(query)]

    def criteria_of(self, spec: FilterObject) -> LogCriteria:
        """Return the live-matching criteria of a filter object (tags stay open-ended)."""

        def bound(selector: BlockSelector) -> int | None:
            if selector.tag is not None and selector.tag != "earliest":
                return None
            return self.resolve(selector)

        return LogCriteria(
            addresses=spec.addresses,
            topics=spec.topics,
            from_block=bound(spec.from_block),
            to_block=bound(spec.to_block),
            block_hash=spec.block_hash,
        )

    def eth_new_filter(self, params: list[Any], session: Session | None) -> Any:
        arity(params, 1, 1)
        spec = parse_filter_object(params[0], 0)
        self.filters.expire(self.clock())
        return self.filters.install("logs", self.clock(), self.criteria_of(spec))

    def eth_new_block_filter(self, params: list[Any], session: Session | None) -> Any:
        arity(params, 0)
        self.filters.expire(self.clock())
        return self.filters.install("blocks", self.clock())

    def eth_new_pending_transaction_filter(self, params: list[Any], session: Session | None) -> Any:
        arity(params, 1)
        self.filters.expire(self.clock())
        return self.filters.install("pending", self.clock())

    def _filter_id(self, params: list[Any]) -> str:
        arity(params, 1, 1)
        if not isinstance(params[0], str):
            raise invalid_params(0, "filterId", "expected a hex string")
        return params[0]

    def eth_get_filter_changes(self, params: list[Any], session: Session | None) -> Any:
        filter_id = self._filter_id(params)
        self.filters.expire(self.clock())
        try:
            kind, changes = self.filters.take_changes(filter_id, self.clock())
        except UnknownFilter:
            raise RpcError(SERVER_ERROR, "filter not found") from None
        if kind == "logs":
            return [log_json(change) for change in changes if isinstance(change, LogEntry)]
        return [data(change) for change in changes if isinstance(change, bytes)]

    def eth_get_filter_logs(self, params: list[Any], session: Session | None) -> Any:
        filter_id = self._filter_id(params)
        self.filters.expire(self.clock())
        try:
            installed = self.filters.get(filter_id, self.clock())
        except UnknownFilter:
            raise RpcError(SERVER_ERROR, "filter not found") from None
        criteria = installed.criteria
        if installed.kind != "logs" or criteria is None:
            raise RpcError(SERVER_ERROR, "filter not found: not a logs filter")
        head = self.head().number
        if criteria.block_hash is not None:
            query = LogQuery(
                block_hash=criteria.block_hash,
                addresses=criteria.addresses,
                topics=criteria.topics,
            )
        else:
            start = head if criteria.from_block is None else criteria.from_block
            end = head if criteria.to_block is None else min(criteria.to_block, head)
            if end - start + 1 > self.limits.max_logs_block_range:
                raise limit_exceeded(
                    f"filter spans {end - start + 1} blocks, more than the limit of "
                    f"{self.limits.max_logs_block_range}"
                )
            if start > end:
                return []
            query = LogQuery(
                from_block=start,
                to_block=end,
                addresses=criteria.addresses,
                topics=criteria.topics,
            )
        return [log_json(log) for log in self.reader.logs(query)]

    def eth_uninstall_filter(self, params: list[Any], session: Session | None) -> Any:
        return self.filters.uninstall(self._filter_id(params))

    # --- subscriptions (WebSocket only) --------------------------------------------------

    def eth_subscribe(self, params: list[Any], session: Session | None) -> Any:
        if session is None:
            raise RpcError(METHOD_NOT_FOUND, "notifications not supported")
        arity(params, 2, 1)
        kind = params[0]
        if kind == "newHeads":
            arity(params, 1, 1)
            return session.subscribe(kind, None)
        if kind == "newPendingTransactions":
            return session.subscribe(kind, None)  # hashes only; geth's `true` (full) is ignored
        if kind == "logs":
            spec = parse_filter_object(params[1] if len(params) > 1 else None, 1)
            return session.subscribe(kind, self.criteria_of(spec))
        if kind == "syncing":
            raise RpcError(SERVER_ERROR, "syncing subscriptions are not offered: never syncing")
        raise invalid_params(0, "subscriptionName", f"no subscription {str(kind)[:40]!r}")

    def eth_unsubscribe(self, params: list[Any], session: Session | None) -> Any:
        if session is None:
            raise RpcError(METHOD_NOT_FOUND, "notifications not supported")
        arity(params, 1, 1)
        if not isinstance(params[0], str):
            raise invalid_params(0, "subscriptionId", "expected a hex string")
        return session.unsubscribe(params[0])

    # --- node ----------------------------------------------------------------------------

    def eth_syncing(self, params: list[Any], session: Session | None) -> Any:
        arity(params, 0)
        return False

    def eth_accounts(self, params: list[Any], session: Session | None) -> Any:
        arity(params, 0)
        return []

    def eth_mining(self, params: list[Any], session: Session | None) -> Any:
        arity(params, 0)
        return False

    def eth_hashrate(self, params: list[Any], session: Session | None) -> Any:
        arity(params, 0)
        return quantity(0)

    def net_version(self, params: list[Any], session: Session | None) -> Any:
        arity(params, 0)
        return str(self.reader.chain_id)

    def net_listening(self, params: list[Any], session: Session | None) -> Any:
        arity(params, 0)
        return True

    def net_peer_count(self, params: list[Any], session: Session | None) -> Any:
        arity(params, 0)
        return quantity(0)

    def web3_client_version(self, params: list[Any], session: Session | None) -> Any:
        arity(params, 0)
        return self.client_version

    def web3_sha3(self, params: list[Any], session: Session | None) -> Any:
        arity(params, 1, 1)
        return data(keccak(parse_data(params[0], 0, "data")))

    def qbft_get_validators_by_block_number(
        self, params: list[Any], session: Session | None
    ) -> Any:
        arity(params, 1, 1)
        number = self.resolve_state(params, 0)
        return [data(address) for address in self.reader.validators_at(number)]


def parse_address_param(params: list[Any], index: int) -> Address:
    """Parse the address at `index` (a small helper so handlers read top to bottom)."""
    return parse_address(params[index], index, "address")
