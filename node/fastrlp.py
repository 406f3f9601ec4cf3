"""Specialised codecs for raw RLP items and trie-key nibbles, and their use inside py-trie/pyrlp.

py-trie encodes and decodes every trie node it touches through pyrlp's generic codec, which
checks `Atomic`/`Sequence` ABCs per item and, when decoding, also builds the RLP of every
sub-item (`per_item_rlp`) only to throw it away; it splits keys into nibbles with a Python
generator per byte. On a block of contract calls that is about a fifth of execution time.
`encode_raw`, `decode_raw` and `bytes_to_nibbles` here do the same jobs for the shapes that
occur (exactly `bytes`, `list`, `tuple`) with plain type checks and C string methods.

Invariants:
- Identical results to the libraries: `encode_raw(x) == rlp.codec.encode_raw(x)`,
  `decode_raw(b) == rlp.decode(b)` and `bytes_to_nibbles(b) == trie's bytes_to_nibbles(b)` for
  every input. Anything outside the fast shapes (other types, non-canonical or truncated
  encodings, bytes subclasses) is handed to pyrlp itself, so errors and edge cases are pyrlp's
  own. tests/node/test_fastrlp.py checks all three with Hypothesis.
- The monkey-patch is contained here and reversible. `install()` replaces module globals only:
  `trie.hexary.encode_raw`, `trie.hexary.decode_node`, `trie.hexary.bytes_to_nibbles`,
  `trie.utils.nibbles.bytes_to_nibbles` (how HexaryTrie encodes, decodes and walks nodes) and
  `rlp.codec.encode_raw` (the last step of every `rlp.encode`, e.g. accounts, receipts and
  transaction hashes in py-evm). `uninstall()` puts the originals back, so the differential
  test in tests/node/test_execution.py re-executes blocks on the unmodified libraries.
  Importing this module installs the patch once (node.execution imports it).
"""

from __future__ import annotations

from typing import Any

import rlp
import rlp.codec
import trie.hexary
import trie.utils.nibbles
from rlp.codec import encode_raw as pyrlp_encode_raw
from trie.constants import BLANK_NODE
from trie.utils.nodes import decode_node as pytrie_decode_node

_HEX_DIGIT_VALUES = bytes.maketrans(b"0123456789abcdef", bytes(range(16)))
pytrie_bytes_to_nibbles = trie.utils.nibbles.bytes_to_nibbles

_SHORT_STRING_PREFIX = [bytes([0x80 + length]) for length in range(56)]
_SHORT_LIST_PREFIX = [bytes([0xC0 + length]) for length in range(56)]


class _Irregular(Exception):
    """Raised inside the fast decoder when pyrlp must judge the input (errors, edge cases)."""


def _long_prefix(length: int, offset: int) -> bytes:
    length_bytes = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([offset + 55 + len(length_bytes)]) + length_bytes


def encode_raw(item: Any) -> Any:
    """RLP-encode bytes or (nested) lists/tuples of bytes, exactly as `rlp.codec.encode_raw`."""
    kind = type(item)
    if kind is bytes:
        length = len(item)
        if length == 1 and item[0] < 0x80:
            return item
        if length < 56:
            return _SHORT_STRING_PREFIX[length] + item
        return _long_prefix(length, 0x80) + item
    if kind is list or kind is tuple:
        payload = b"".join([encode_raw(element) for element in item])
        length = len(payload)
        if length < 56:
            return _SHORT_LIST_PREFIX[length] + payload
        return _long_prefix(length, 0xC0) + payload
    return pyrlp_encode_raw(item)


def _long_length(data: bytes, start: int, limit: int) -> tuple[int, int]:
    """Read a long-form length after the prefix byte at `start`; return (payload start, length)."""
    size = (data[start] - 0xB7) if data[start] < 0xC0 else (data[start] - 0xF7)
    begin = start + 1 + size
    if data[start + 1] == 0 or begin > limit:
        raise _Irregular  # leading zero byte, or the length runs past the enclosing item
    length = int.from_bytes(data[start + 1 : begin], "big")
    if length < 56:
        raise _Irregular  # long form used where the short form fits
    return begin, length


def _consume(data: bytes, start: int, limit: int) -> tuple[Any, int]:
    """Decode the item at `start`, which must end by `limit`; return (item, end)."""
    first = data[start]
    if first < 0x80:
        return data[start : start + 1], start + 1
    if first < 0xB8:
        begin, length = start + 1, first - 0x80
        if length == 1 and data[begin] < 0x80:
            raise _Irregular  # a single low byte must be encoded as itself
    elif first < 0xC0 or first >= 0xF8:
        begin, length = _long_length(data, start, limit)
    else:
        begin, length = start + 1, first - 0xC0
    end = begin + length
    if end > limit:
        raise _Irregular
    if first < 0xC0:
        return data[begin:end], end
    items = []
    position = begin
    while position < end:
        element, position = _consume(data, position, end)
        items.append(element)
    return items, end


def decode_raw(data: Any) -> Any:
    """Decode RLP without sedes, exactly as `rlp.decode(data)`: bytes and nested lists."""
    if type(data) is bytes and data:
        try:
            item, end = _consume(data, 0, len(data))
        except (_Irregular, IndexError):
            pass
        else:
            if end == len(data):
                return item
    return rlp.decode(data)


DECODED_NODES_KEPT = 8192
_decoded_nodes: dict[bytes, list[Any]] = {}


def _copy_node(node: list[Any]) -> list[Any]:
    # py-trie edits the node lists it is given in place, so every caller gets fresh lists.
    return [part if type(part) is bytes else _copy_node(part) for part in node]


def decode_node(encoded_node_or_hash: Any) -> Any:
    """py-trie's `decode_node` with the fast decoder (same blank and list cases).

    Nodes are content-addressed, so a node's decoding depends on its bytes alone: the top of a
    trie, read again by every lookup, is decoded once and copied afterwards.
    """
    if encoded_node_or_hash == BLANK_NODE:
        return BLANK_NODE
    if isinstance(encoded_node_or_hash, list):
        return encoded_node_or_hash
    if type(encoded_node_or_hash) is bytes:
        known = _decoded_nodes.get(encoded_node_or_hash)
        if known is not None:
            return _copy_node(known)
    node = decode_raw(encoded_node_or_hash)
    if type(node) is list and type(encoded_node_or_hash) is bytes:
        if len(_decoded_nodes) >= DECODED_NODES_KEPT:
            _decoded_nodes.clear()
        _decoded_nodes[encoded_node_or_hash] = _copy_node(node)
    return node


def bytes_to_nibbles(value: bytes) -> tuple[int, ...]:
    """Split bytes into nibbles, high first, exactly as py-trie's `bytes_to_nibbles` does."""
    return tuple(value.hex().encode("ascii").translate(_HEX_DIGIT_VALUES))


# The third-party modules are written through untyped names on purpose (module globals).
_HEXARY: Any = trie.hexary
_NIBBLES: Any = trie.utils.nibbles
_RLP_CODEC: Any = rlp.codec


def install() -> None:
    """Make py-trie and pyrlp's `rlp.encode` use this module's codecs."""
    _HEXARY.encode_raw = encode_raw
    _HEXARY.decode_node = decode_node
    _HEXARY.bytes_to_nibbles = bytes_to_nibbles
    _NIBBLES.bytes_to_nibbles = bytes_to_nibbles
    _RLP_CODEC.encode_raw = encode_raw


def uninstall() -> None:
    """Put the libraries' own functions back (for re-executing on the unmodified libraries)."""
    _HEXARY.encode_raw = pyrlp_encode_raw
    _HEXARY.decode_node = pytrie_decode_node
    _HEXARY.bytes_to_nibbles = pytrie_bytes_to_nibbles
    _NIBBLES.bytes_to_nibbles = pytrie_bytes_to_nibbles
    _RLP_CODEC.encode_raw = pyrlp_encode_raw


def installed() -> bool:
    """Return whether py-trie currently uses this module's codec."""
    return _HEXARY.encode_raw is encode_raw


install()
