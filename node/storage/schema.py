"""Every storage key the node writes, built in one place.

Layout: a one-byte table prefix, then fixed-width big-endian numbers and raw hashes, so that a
prefix scan returns blocks in number order and pool entries in (sender, nonce) order.

| prefix | key                          | value                                         |
|--------|------------------------------|-----------------------------------------------|
| `c`    | number(8)                    | canonical block hash                          |
| `n`    | block hash                   | number(8)                                     |
| `h`    | block hash                   | header RLP (extraData with seals)             |
| `b`    | block hash                   | body: RLP([[raw tx...], [sender...]])         |
| `r`    | block hash                   | RLP([receipt encoding...])                    |
| `t`    | tx hash                      | number(8) ‖ index(4)                          |
| `m`    | name                         | metadata: head hash, genesis hash, chain id   |
| `p`    | sender(20) ‖ nonce(8)        | pooled raw transaction (accepted, not mined)  |
| `s`    | trie node or code hash       | py-evm state trie node or contract code       |
"""

from __future__ import annotations

NUMBER_WIDTH = 8
INDEX_WIDTH = 4

CANONICAL = b"c"
NUMBER_BY_HASH = b"n"
HEADER = b"h"
BODY = b"b"
RECEIPTS = b"r"
TX_LOCATION = b"t"
META = b"m"
POOL = b"p"
STATE = b"s"

HEAD_KEY = META + b"head"
GENESIS_KEY = META + b"genesis"
CHAIN_ID_KEY = META + b"chain_id"


def encode_number(number: int) -> bytes:
    """Return `number` as 8 big-endian bytes (so keys sort by number)."""
    return number.to_bytes(NUMBER_WIDTH, "big")


def decode_number(data: bytes) -> int:
    """Return the number stored by encode_number."""
    return int.from_bytes(data[:NUMBER_WIDTH], "big")


def canonical_hash_key(number: int) -> bytes:
    """Key of the canonical block hash at height `number`."""
    return CANONICAL + encode_number(number)


def number_key(block_hash: bytes) -> bytes:
    """Key of a block's number, by its hash."""
    return NUMBER_BY_HASH + block_hash


def header_key(block_hash: bytes) -> bytes:
    """Key of a block header, by block hash."""
    return HEADER + block_hash


def body_key(block_hash: bytes) -> bytes:
    """Key of a block body (transactions and their senders), by block hash."""
    return BODY + block_hash


def receipts_key(block_hash: bytes) -> bytes:
    """Key of a block's receipts, by block hash."""
    return RECEIPTS + block_hash


def tx_location_key(tx_hash: bytes) -> bytes:
    """Key of a mined transaction's (block number, index), by transaction hash."""
    return TX_LOCATION + tx_hash


def encode_tx_location(number: int, index: int) -> bytes:
    """Value of a tx location key."""
    return encode_number(number) + index.to_bytes(INDEX_WIDTH, "big")


def decode_tx_location(data: bytes) -> tuple[int, int]:
    """Return (block number, transaction index) from a tx location value."""
    return decode_number(data), int.from_bytes(data[NUMBER_WIDTH:], "big")


def pool_key(sender: bytes, nonce: int) -> bytes:
    """Key of a pooled transaction: one slot per (sender, nonce), so a replacement overwrites."""
    return POOL + sender + encode_number(nonce)


def state_key(node_key: bytes) -> bytes:
    """Key under which a py-evm state database key (trie node hash, code hash) is stored."""
    return STATE + node_key
