"""The root of an ordered Merkle-Patricia trie (transactions, receipts) built in one pass.

py-evm's `make_trie_root_and_nodes` inserts items one by one into a HexaryTrie backed by a dict,
hashing intermediate nodes again at every insert. Block bodies and receipts are stored whole by
block hash, so their trie nodes are never needed: only the root. This computes it directly from all
keys at once, as execution-specs' `patricialize` does (Yellow Paper appendix D), hashing each node
exactly once. tests/node/test_triehash.py checks it against py-trie's HexaryTrie.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import rlp
from eth_hash.auto import keccak

from node.fastrlp import encode_raw

BLANK_ROOT = keccak(rlp.encode(b""))


_HEX_DIGIT_VALUES = bytes.maketrans(b"0123456789abcdef", bytes(range(16)))


def _nibbles(key: bytes) -> bytes:
    return key.hex().encode("ascii").translate(_HEX_DIGIT_VALUES)


def _hex_prefix(nibbles: bytes, is_leaf: bool) -> bytes:
    flag = 2 if is_leaf else 0
    if len(nibbles) % 2:
        first = bytes([((flag + 1) << 4) | nibbles[0]])
        rest = nibbles[1:]
    else:
        first = bytes([flag << 4])
        rest = nibbles
    return first + bytes((rest[i] << 4) | rest[i + 1] for i in range(0, len(rest), 2))


def _reference(node: Any) -> Any:
    """How a parent refers to a child: inline when its RLP is under 32 bytes, else its hash."""
    if node == b"":
        return b""
    encoded = encode_raw(node)
    return node if len(encoded) < 32 else keccak(encoded)


def _common_prefix_length(left: bytes, right: bytes) -> int:
    length = min(len(left), len(right))
    for index in range(length):
        if left[index] != right[index]:
            return index
    return length


def _patricialize(items: dict[bytes, bytes], level: int) -> Any:
    if not items:
        return b""
    some_key = next(iter(items))
    if len(items) == 1:
        return [_hex_prefix(some_key[level:], True), items[some_key]]
    suffix = some_key[level:]
    prefix_length = len(suffix)
    for key in items:
        prefix_length = min(prefix_length, _common_prefix_length(suffix, key[level:]))
        if prefix_length == 0:
            break
    if prefix_length > 0:
        child = _patricialize(items, level + prefix_length)
        return [_hex_prefix(suffix[:prefix_length], False), _reference(child)]
    branches: list[dict[bytes, bytes]] = [{} for _ in range(16)]
    value = b""
    for key, item in items.items():
        if len(key) == level:
            value = item
        else:
            branches[key[level]][key] = item
    return [_reference(_patricialize(branch, level + 1)) for branch in branches] + [value]


def ordered_trie_root(values: Sequence[bytes]) -> bytes:
    """Return the trie root of {rlp(index): value} for the encoded `values` (EIP-2718 bytes)."""
    if not values:
        return BLANK_ROOT
    items = {_nibbles(rlp.encode(index)): value for index, value in enumerate(values)}
    return keccak(encode_raw(_patricialize(items, 0)))
