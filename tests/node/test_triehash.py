"""The one-pass ordered trie root agrees with py-trie's HexaryTrie."""

from __future__ import annotations

import rlp
from hypothesis import given, settings
from hypothesis import strategies as st
from trie import HexaryTrie

from node.triehash import BLANK_ROOT, ordered_trie_root


def reference_root(values: list[bytes]) -> bytes:
    trie = HexaryTrie({})
    for index, value in enumerate(values):
        trie[rlp.encode(index)] = value
    return bytes(trie.root_hash)


def test_empty_is_blank_root() -> None:
    assert ordered_trie_root([]) == BLANK_ROOT == reference_root([])


def test_sizes_around_branch_boundaries() -> None:
    for count in (1, 2, 15, 16, 17, 127, 128, 129, 300):
        values = [bytes([index % 251]) * (1 + index % 40) for index in range(count)]
        assert ordered_trie_root(values) == reference_root(values), count


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=80), max_size=140))
def test_matches_hexary_trie(values: list[bytes]) -> None:
    assert ordered_trie_root(values) == reference_root(values)
