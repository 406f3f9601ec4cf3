"""A strict, minimal RLP codec for consensus messages, working on raw item slices.

Why not the `rlp` package: a QBFT signature covers `keccak256(RLP([code, payloadList]))`, so the
decoder must hand back the payload's exact bytes, and a block travels inside messages as its raw
RLP. Working on slices keeps both byte-exact without re-encoding.

Invariants: `decode_*` accept only canonical encodings (shortest length prefix, single bytes below
0x80 not wrapped, scalars without leading zeros) and raise `RlpDecodingError`, never anything else.
"""

from __future__ import annotations

from collections.abc import Sequence


class RlpDecodingError(ValueError):
    """The bytes are not one canonical RLP item of the expected shape."""


def _length_prefix(length: int, short_base: int) -> bytes:
    if length < 56:
        return bytes([short_base + length])
    length_bytes = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([short_base + 55 + len(length_bytes)]) + length_bytes


def encode_bytes(value: bytes) -> bytes:
    """Return the RLP string item for `value`."""
    if len(value) == 1 and value[0] < 0x80:
        return value
    return _length_prefix(len(value), 0x80) + value


def encode_scalar(value: int) -> bytes:
    """Return the RLP scalar for a non-negative integer (minimal big-endian; 0 is 0x80)."""
    if value < 0:
        raise ValueError(f"RLP scalars are non-negative, got {value}")
    return encode_bytes(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def encode_list(items: Sequence[bytes]) -> bytes:
    """Return the RLP list of already-encoded `items`."""
    body = b"".join(items)
    return _length_prefix(len(body), 0xC0) + body


def _header(data: bytes, offset: int) -> tuple[bool, int, int]:
    """Parse the item at `offset`: (is_list, body start, body end)."""
    if offset >= len(data):
        raise RlpDecodingError("RLP item expected but the input ended")
    first = data[offset]
    if first < 0x80:
        return False, offset, offset + 1
    if first < 0xB8:
        length = first - 0x80
        start = offset + 1
        if length == 1 and start < len(data) and data[start] < 0x80:
            raise RlpDecodingError("non-canonical RLP: single byte below 0x80 wrapped in a string")
        is_list = False
    elif first < 0xC0:
        start, length = _long_length(data, offset, first - 0xB7)
        is_list = False
    elif first < 0xF8:
        length = first - 0xC0
        start = offset + 1
        is_list = True
    else:
        start, length = _long_length(data, offset, first - 0xF7)
        is_list = True
    end = start + length
    if end > len(data):
        raise RlpDecodingError(
            f"RLP item claims {length} bytes but only {len(data) - start} remain"
        )
    return is_list, start, end


def _long_length(data: bytes, offset: int, size: int) -> tuple[int, int]:
    start = offset + 1 + size
    if start > len(data):
        raise RlpDecodingError("RLP length prefix runs past the end of the input")
    length_bytes = data[offset + 1 : start]
    if length_bytes[0] == 0:
        raise RlpDecodingError("non-canonical RLP: length with a leading zero")
    length = int.from_bytes(length_bytes, "big")
    if length < 56:
        raise RlpDecodingError("non-canonical RLP: long form used for a short item")
    return start, length


def split_list(data: bytes) -> list[bytes]:
    """Return the raw encodings of the elements of the single RLP list `data`."""
    is_list, start, end = _header(data, 0)
    if not is_list:
        raise RlpDecodingError("RLP list expected, found a string")
    if end != len(data):
        raise RlpDecodingError(f"{len(data) - end} trailing bytes after the RLP list")
    items: list[bytes] = []
    offset = start
    while offset < end:
        _, _, item_end = _header(data, offset)
        if item_end > end:
            raise RlpDecodingError("RLP element runs past the end of its list")
        items.append(data[offset:item_end])
        offset = item_end
    return items


def is_list(item: bytes) -> bool:
    """Return whether the raw item is an RLP list (its first byte is 0xc0 or more)."""
    return bool(item) and item[0] >= 0xC0


def decode_bytes(item: bytes) -> bytes:
    """Return the payload of the single RLP string `item`."""
    listed, start, end = _header(item, 0)
    if listed:
        raise RlpDecodingError("RLP string expected, found a list")
    if end != len(item):
        raise RlpDecodingError(f"{len(item) - end} trailing bytes after the RLP string")
    return item[start:end]


def decode_fixed(item: bytes, length: int, what: str) -> bytes:
    """Return the payload of `item`, which must be exactly `length` bytes long."""
    value = decode_bytes(item)
    if len(value) != length:
        raise RlpDecodingError(f"{what} must be {length} bytes, got {len(value)}")
    return value


def decode_scalar(item: bytes, what: str = "scalar") -> int:
    """Return the integer of a minimal big-endian RLP scalar."""
    value = decode_bytes(item)
    if value[:1] == b"\x00":
        raise RlpDecodingError(f"{what} has a leading zero byte")
    return int.from_bytes(value, "big")
