"""The strict RLP codec: published vectors, canonical-form rejections, Hypothesis round trips."""

from __future__ import annotations

import contextlib

import pytest
import rlp as reference_rlp
from hypothesis import given
from hypothesis import strategies as st

from node.consensus import rlp_codec as rlp

# Vectors from the Ethereum RLP specification (ethereum.org, "Recursive-length prefix").
VECTORS = [
    (rlp.encode_bytes(b"dog"), "83646f67"),
    (rlp.encode_list([rlp.encode_bytes(b"cat"), rlp.encode_bytes(b"dog")]), "c88363617483646f67"),
    (rlp.encode_bytes(b""), "80"),
    (rlp.encode_list([]), "c0"),
    (rlp.encode_scalar(0), "80"),
    (rlp.encode_bytes(b"\x00"), "00"),
    (rlp.encode_scalar(15), "0f"),
    (rlp.encode_scalar(1024), "820400"),
    (
        rlp.encode_bytes(b"Lorem ipsum dolor sit amet, consectetur adipisicing elit"),
        "b8384c6f72656d20697073756d20646f6c6f722073697420616d65742c20636f6e7365637465747572206164697069736963696e6720656c6974",
    ),
]


@pytest.mark.parametrize(("encoded", "expected"), VECTORS)
def test_published_vectors(encoded: bytes, expected: str) -> None:
    assert encoded.hex() == expected


@pytest.mark.parametrize(
    ("data", "complaint"),
    [
        (bytes.fromhex("8100"), "non-canonical"),  # single byte below 0x80 wrapped
        (bytes.fromhex("b80100"), "long form"),
        (bytes.fromhex("83646f"), "claims 3 bytes"),
        (bytes.fromhex("83646f6700"), "trailing"),
        (bytes.fromhex("b90001"), "leading zero"),
        (b"", "input ended"),
    ],
)
def test_non_canonical_strings_are_refused(data: bytes, complaint: str) -> None:
    with pytest.raises(rlp.RlpDecodingError, match=complaint):
        rlp.decode_bytes(data)


def test_scalar_with_leading_zero_is_refused() -> None:
    with pytest.raises(rlp.RlpDecodingError, match="leading zero"):
        rlp.decode_scalar(bytes.fromhex("820001"))


def test_split_list_refuses_a_string_and_trailing_bytes() -> None:
    with pytest.raises(rlp.RlpDecodingError, match="list expected"):
        rlp.split_list(rlp.encode_bytes(b"abc"))
    with pytest.raises(rlp.RlpDecodingError, match="trailing"):
        rlp.split_list(rlp.encode_list([]) + b"\x00")


Item = st.recursive(
    st.binary(max_size=80), lambda children: st.lists(children, max_size=6), max_leaves=20
)


def encode_item(item: bytes | list[object]) -> bytes:
    if isinstance(item, bytes):
        return rlp.encode_bytes(item)
    return rlp.encode_list([encode_item(child) for child in item])  # type: ignore[arg-type]


def decode_item(data: bytes) -> bytes | list[object]:
    if rlp.is_list(data):
        return [decode_item(child) for child in rlp.split_list(data)]
    return rlp.decode_bytes(data)


@given(Item)
def test_round_trip_agrees_with_the_rlp_package(item: bytes | list[object]) -> None:
    encoded = encode_item(item)
    assert encoded == reference_rlp.encode(item)
    assert decode_item(encoded) == item


@given(st.integers(min_value=0, max_value=2**256))
def test_scalar_round_trip(value: int) -> None:
    assert rlp.decode_scalar(rlp.encode_scalar(value)) == value


@given(st.binary(max_size=200))
def test_garbage_raises_only_the_codec_error(data: bytes) -> None:
    with contextlib.suppress(rlp.RlpDecodingError):
        decode_item(data)
