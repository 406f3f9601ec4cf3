"""The fast raw RLP codec agrees with pyrlp on every input, and its py-trie patch is reversible."""

from __future__ import annotations

from typing import Any

import pytest
import rlp
import trie.hexary
from hypothesis import given, settings
from hypothesis import strategies as st
from rlp.exceptions import DecodingError, EncodingError
from trie import HexaryTrie

from node import fastrlp

# The libraries' own functions, as captured before node.fastrlp patched them.
pyrlp_encode_raw = fastrlp.pyrlp_encode_raw

# Byte strings of every length class: single byte, short (< 56), long (>= 56).
payloads = st.one_of(
    st.binary(max_size=1), st.binary(min_size=2, max_size=60), st.binary(min_size=50, max_size=300)
)
items: st.SearchStrategy[Any] = st.recursive(
    payloads,
    lambda children: st.one_of(
        st.lists(children, max_size=18), st.lists(children, max_size=4).map(tuple)
    ),
    max_leaves=40,
)


def _pyrlp_decode(data: bytes) -> tuple[str, Any]:
    try:
        return "ok", rlp.decode(data)
    except DecodingError as error:
        return "error", type(error)


def _fast_decode(data: bytes) -> tuple[str, Any]:
    try:
        return "ok", fastrlp.decode_raw(data)
    except DecodingError as error:
        return "error", type(error)


@settings(max_examples=400, deadline=None)
@given(items)
def test_encode_matches_pyrlp(item: Any) -> None:
    assert pyrlp_encode_raw is not fastrlp.encode_raw
    assert fastrlp.encode_raw(item) == pyrlp_encode_raw(item)


@settings(max_examples=400, deadline=None)
@given(items)
def test_decode_of_valid_encodings_matches_pyrlp(item: Any) -> None:
    encoded = pyrlp_encode_raw(item)
    assert fastrlp.decode_raw(encoded) == rlp.decode(encoded)


@settings(max_examples=600, deadline=None)
@given(st.binary(max_size=80))
def test_decode_of_arbitrary_bytes_matches_pyrlp(data: bytes) -> None:
    assert _fast_decode(data) == _pyrlp_decode(data)


@settings(max_examples=300, deadline=None)
@given(items, st.integers(min_value=0, max_value=400), st.binary(min_size=1, max_size=3))
def test_decode_of_damaged_encodings_matches_pyrlp(item: Any, cut: int, junk: bytes) -> None:
    encoded = pyrlp_encode_raw(item)
    for damaged in (encoded[:cut], encoded + junk, encoded[:cut] + junk + encoded[cut:]):
        assert _fast_decode(damaged) == _pyrlp_decode(damaged)


@pytest.mark.parametrize(
    "data",
    [
        b"\x81\x05",  # single byte encoded as a short string
        b"\xb8\x05abcde",  # long-string prefix for a short string
        b"\xb9\x00\x38" + b"a" * 56,  # length with a leading zero byte
        b"\xf8\x02\x01\x02",  # long-list prefix for a short list
        b"\xc3\x01\x02",  # list shorter than announced
        b"\xc1\x01\x02",  # superfluous bytes
        b"",
    ],
)
def test_non_canonical_inputs_raise_pyrlp_errors(data: bytes) -> None:
    with pytest.raises(DecodingError):
        rlp.decode(data)
    with pytest.raises(DecodingError):
        fastrlp.decode_raw(data)


def test_unsupported_types_raise_pyrlp_errors() -> None:
    with pytest.raises(EncodingError):
        fastrlp.encode_raw(7)
    with pytest.raises(EncodingError):
        fastrlp.encode_raw([b"a", "text"])
    assert fastrlp.encode_raw(bytearray(b"abc")) == pyrlp_encode_raw(bytearray(b"abc"))


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(st.binary(min_size=1, max_size=8), st.binary(min_size=1, max_size=70)))
def test_patched_trie_builds_the_same_root_and_nodes(entries: dict[bytes, bytes]) -> None:
    def build() -> tuple[bytes, dict[bytes, bytes]]:
        db: dict[bytes, bytes] = {}
        hexary = HexaryTrie(db)
        for key, value in entries.items():
            hexary[key] = value
        for key in list(entries)[::3]:
            del hexary[key]
        return bytes(hexary.root_hash), db

    assert fastrlp.installed()
    patched = build()
    fastrlp.uninstall()
    try:
        assert not fastrlp.installed()
        assert trie.hexary.encode_raw is pyrlp_encode_raw
        reference = build()
    finally:
        fastrlp.install()
    assert patched == reference


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=70))
def test_nibbles_match_pytrie(value: bytes) -> None:
    assert fastrlp.bytes_to_nibbles(value) == fastrlp.pytrie_bytes_to_nibbles(value)


@settings(max_examples=100, deadline=None)
@given(
    st.integers(min_value=0, max_value=2**256 - 1),
    st.integers(min_value=0, max_value=2**64 - 1),
    st.binary(max_size=100),
)
def test_rlp_encode_with_sedes_is_unchanged(balance: int, nonce: int, data: bytes) -> None:
    from eth.rlp.accounts import Account
    from eth.vm.forks.prague.transactions import PragueTransactionBuilder

    def encodings() -> tuple[bytes, ...]:
        account = Account(nonce=nonce, balance=balance)
        unsigned = PragueTransactionBuilder.create_unsigned_transaction(
            nonce=nonce, gas_price=balance, gas=21000, to=b"\x01" * 20, value=balance, data=data
        )
        return (
            rlp.encode(account),
            rlp.encode(unsigned),
            rlp.encode([nonce, data, [balance, b""]]),
        )

    patched = encodings()
    fastrlp.uninstall()
    try:
        assert rlp.codec.encode_raw is pyrlp_encode_raw
        reference = encodings()
    finally:
        fastrlp.install()
    assert patched == reference


def test_decoded_nodes_are_fresh_lists_each_time() -> None:
    """py-trie edits decoded nodes in place; a cached decoding must never be shared."""
    branch = [b"\x11" * 32 for _ in range(16)] + [[b"\x20\x01", b"\x02"]]
    encoded = pyrlp_encode_raw(branch)
    first = fastrlp.decode_node(encoded)
    assert first == rlp.decode(encoded)
    first[0] = b"changed"
    first[16][1] = b"changed"
    second = fastrlp.decode_node(encoded)
    assert second == rlp.decode(encoded)
    assert second is not first and second[16] is not first[16]
    assert fastrlp.decode_node(b"") == b""
    assert fastrlp.decode_node(branch) is branch
