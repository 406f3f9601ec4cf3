"""Hex codec between JSON-RPC and the ledger's views, formatted exactly as geth formats them.

Rules kept here (the Ethereum execution-apis spec, which web3.py, ethers.js and viem rely on):
quantities are 0x-prefixed hex with no leading zeros ("0x0" for zero); data is 0x-prefixed,
two hex digits per byte, lower case; addresses are lower case (clients checksum them); the block
nonce is always 8 bytes. Parsers raise `RpcError` -32602 naming the parameter and the fault.
"""

from __future__ import annotations

from typing import Any

from node.ports import (
    AccessListEntry,
    Address,
    BlockView,
    Hash32,
    LogEntry,
    ReceiptView,
    TransactionView,
)
from node.rpc.errors import invalid_params

MAX_QUANTITY = 2**256 - 1


def quantity(value: int) -> str:
    """Return `value` as a JSON-RPC quantity ("0x0", "0x1a")."""
    return hex(value)


def data(value: bytes) -> str:
    """Return `value` as JSON-RPC data ("0x" + lower-case hex)."""
    return "0x" + value.hex()


def optional_address(value: bytes | None) -> str | None:
    """Return an address as data, or None (JSON null)."""
    return None if value is None else "0x" + value.hex()


# --- parsing ---------------------------------------------------------------------------------


def parse_quantity(value: Any, index: int, name: str) -> int:
    """Parse a hex quantity ("0x1a"); plain JSON integers are accepted too, as geth does."""
    if isinstance(value, bool):
        raise invalid_params(index, name, "expected a hex quantity, got a boolean")
    if isinstance(value, int):
        if value < 0 or value > MAX_QUANTITY:
            raise invalid_params(index, name, f"quantity {value} out of range")
        return value
    if not isinstance(value, str):
        raise invalid_params(index, name, f"expected a hex quantity, got {type(value).__name__}")
    if not value.startswith(("0x", "0X")):
        raise invalid_params(index, name, f"hex string without 0x prefix: {value[:20]!r}")
    digits = value[2:]
    if not digits:
        raise invalid_params(index, name, 'hex string "0x" has no digits')
    if len(digits) > 64:
        raise invalid_params(index, name, "hex number larger than 256 bits")
    try:
        return int(digits, 16)
    except ValueError:
        raise invalid_params(index, name, f"invalid hex quantity {value[:20]!r}") from None


def parse_data(value: Any, index: int, name: str, length: int | None = None) -> bytes:
    """Parse 0x-prefixed hex data, optionally of an exact byte `length`."""
    if not isinstance(value, str):
        raise invalid_params(
            index, name, f"expected 0x-prefixed hex data, got {type(value).__name__}"
        )
    if not value.startswith(("0x", "0X")):
        raise invalid_params(index, name, f"hex string without 0x prefix: {value[:20]!r}")
    digits = value[2:]
    if len(digits) % 2:
        raise invalid_params(index, name, "hex string of odd length")
    try:
        raw = bytes.fromhex(digits)
    except ValueError:
        raise invalid_params(index, name, f"invalid hex data {value[:20]!r}") from None
    if length is not None and len(raw) != length:
        raise invalid_params(index, name, f"expected {length} bytes, got {len(raw)}")
    return raw


def parse_address(value: Any, index: int, name: str) -> Address:
    """Parse a 20-byte address (checksum case is not enforced, as geth does not)."""
    return Address(parse_data(value, index, name, 20))


def parse_hash(value: Any, index: int, name: str) -> Hash32:
    """Parse a 32-byte hash."""
    return Hash32(parse_data(value, index, name, 32))


def parse_bool(value: Any, index: int, name: str) -> bool:
    """Parse a JSON boolean."""
    if not isinstance(value, bool):
        raise invalid_params(index, name, f"expected a boolean, got {type(value).__name__}")
    return value


# --- views to JSON ---------------------------------------------------------------------------


def access_list_json(entries: tuple[AccessListEntry, ...]) -> list[dict[str, Any]]:
    """Return an EIP-2930 access list as JSON."""
    return [
        {"address": data(entry.address), "storageKeys": [data(key) for key in entry.storage_keys]}
        for entry in entries
    ]


def effective_gas_price(tx: TransactionView, base_fee: int | None) -> int:
    """Return the price per gas the sender pays in a block with `base_fee` (EIP-1559)."""
    if tx.max_fee_per_gas is None or tx.max_priority_fee_per_gas is None:
        return tx.gas_price or 0
    if base_fee is None:
        return tx.max_fee_per_gas
    return min(tx.max_fee_per_gas, base_fee + tx.max_priority_fee_per_gas)


def transaction_json(tx: TransactionView, base_fee: int | None = None) -> dict[str, Any]:
    """Return a transaction as geth's RPCTransaction (pending when `tx.block_hash` is None)."""
    mined = tx.block_hash is not None
    result: dict[str, Any] = {
        "blockHash": None if tx.block_hash is None else data(tx.block_hash),
        "blockNumber": None if tx.block_number is None else quantity(tx.block_number),
        "from": data(tx.sender),
        "gas": quantity(tx.gas),
        "gasPrice": quantity(
            effective_gas_price(tx, base_fee)
            if mined
            else (tx.gas_price or tx.max_fee_per_gas or 0)
        ),
        "hash": data(tx.hash),
        "input": data(tx.input),
        "nonce": quantity(tx.nonce),
        "to": optional_address(tx.to),
        "transactionIndex": (
            None if tx.transaction_index is None else quantity(tx.transaction_index)
        ),
        "value": quantity(tx.value),
        "type": quantity(tx.type),
    }
    if tx.type >= 2:
        result["maxFeePerGas"] = quantity(tx.max_fee_per_gas or 0)
        result["maxPriorityFeePerGas"] = quantity(tx.max_priority_fee_per_gas or 0)
    if tx.type >= 1:
        result["accessList"] = access_list_json(tx.access_list)
    if tx.chain_id is not None:
        result["chainId"] = quantity(tx.chain_id)
    result["v"] = quantity(tx.v)
    result["r"] = quantity(tx.r)
    result["s"] = quantity(tx.s)
    if tx.type >= 1:
        result["yParity"] = quantity(tx.v)
    return result


def block_json(block: BlockView, full_transactions: bool) -> dict[str, Any]:
    """Return a block as geth's RPC block, with transaction hashes or full transactions."""
    transactions: list[Any]
    if full_transactions:
        transactions = [transaction_json(tx, block.base_fee_per_gas) for tx in block.transactions]
    else:
        transactions = [data(tx.hash) for tx in block.transactions]
    result: dict[str, Any] = {
        "difficulty": quantity(block.difficulty),
        "extraData": data(block.extra_data),
        "gasLimit": quantity(block.gas_limit),
        "gasUsed": quantity(block.gas_used),
        "hash": data(block.hash),
        "logsBloom": data(block.logs_bloom),
        "miner": data(block.coinbase),
        "mixHash": data(block.mix_hash),
        "nonce": data(block.nonce),
        "number": quantity(block.number),
        "parentHash": data(block.parent_hash),
        "receiptsRoot": data(block.receipts_root),
        "sha3Uncles": data(block.ommers_hash),
        "size": quantity(block.size),
        "stateRoot": data(block.state_root),
        "timestamp": quantity(block.timestamp),
        "transactions": transactions,
        "transactionsRoot": data(block.transactions_root),
        "uncles": [],
    }
    if block.base_fee_per_gas is not None:
        result["baseFeePerGas"] = quantity(block.base_fee_per_gas)
    if block.withdrawals_root is not None:
        result["withdrawals"] = []
        result["withdrawalsRoot"] = data(block.withdrawals_root)
    if block.blob_gas_used is not None:
        result["blobGasUsed"] = quantity(block.blob_gas_used)
    if block.excess_blob_gas is not None:
        result["excessBlobGas"] = quantity(block.excess_blob_gas)
    if block.parent_beacon_block_root is not None:
        result["parentBeaconBlockRoot"] = data(block.parent_beacon_block_root)
    if block.requests_hash is not None:
        result["requestsHash"] = data(block.requests_hash)
    return result


def log_json(log: LogEntry) -> dict[str, Any]:
    """Return one log as geth formats it."""
    return {
        "address": data(log.address),
        "topics": [data(topic) for topic in log.topics],
        "data": data(log.data),
        "blockNumber": quantity(log.block_number),
        "transactionHash": data(log.transaction_hash),
        "transactionIndex": quantity(log.transaction_index),
        "blockHash": data(log.block_hash),
        "logIndex": quantity(log.log_index),
        "removed": log.removed,
    }


def receipt_json(receipt: ReceiptView) -> dict[str, Any]:
    """Return a receipt as geth formats it."""
    return {
        "blockHash": data(receipt.block_hash),
        "blockNumber": quantity(receipt.block_number),
        "contractAddress": optional_address(receipt.contract_address),
        "cumulativeGasUsed": quantity(receipt.cumulative_gas_used),
        "effectiveGasPrice": quantity(receipt.effective_gas_price),
        "from": data(receipt.sender),
        "gasUsed": quantity(receipt.gas_used),
        "logs": [log_json(log) for log in receipt.logs],
        "logsBloom": data(receipt.logs_bloom),
        "status": quantity(receipt.status),
        "to": optional_address(receipt.to),
        "transactionHash": data(receipt.transaction_hash),
        "transactionIndex": quantity(receipt.transaction_index),
        "type": quantity(receipt.type),
    }


def head_json(block: BlockView) -> dict[str, Any]:
    """Return a header as an eth_subscribe `newHeads` notification carries it (no transactions)."""
    result = block_json(block, full_transactions=False)
    del result["transactions"]
    del result["uncles"]
    result.pop("withdrawals", None)
    return result
