"""extraData codec: QBFT.md self-check vectors, Besu's test vector, round trips, bad input."""

from __future__ import annotations

import contextlib

import pytest
import rlp
from hypothesis import given
from hypothesis import strategies as st

from node.extradata import (
    ExtraData,
    ExtraDataError,
    Vote,
    VoteType,
    decode_extra_data,
    encode_extra_data,
    without_seals,
    without_seals_and_round,
)

BESU_DOCS_VALIDATORS = [
    "64a702e6263b7297a96638cac6ae65e6541f4169",
    "3923390ad55e90c237593b3b0e401f3b08a03185",
    "aefdb9a738c9f433e5b6b212a6d62f6370c2f692",
    "c7eeb9a4e00ce683cf93039b212648e01c6c6b78",
]
BESU_DOCS_GENESIS = (
    "f87aa0" + "00" * 32 + "f854" + "".join("94" + item for item in BESU_DOCS_VALIDATORS) + "c080c0"
)
CONTRACT_MODE_GENESIS = "e5a0" + "00" * 32 + "c0c080c0"
# The QBFT extraData inside Besu's PkiQbftExtraDataCodecTest EMPTY_CMS_RAW_HEX_ENCODING_STRING
# (the outer list only adds the CMS item): vanity 0x01..0x20, validators 0x..01 and 0x..02,
# vote ADD 0x..01, round 0xfedcba, two seals.
BESU_CODEC_VECTOR = (
    "f8f0a00102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20"
    "ea94" + "00" * 19 + "0194" + "00" * 19 + "02"
    "d794" + "00" * 19 + "0181ff"
    "83fedcba"
    "f886b841" + "00" * 31 + "01" + "00" * 31 + "0a00"
    "b841" + "00" * 31 + "0a" + "00" * 31 + "0100"
)


def test_besu_docs_genesis_vector() -> None:
    extra = decode_extra_data(bytes.fromhex(BESU_DOCS_GENESIS))
    assert extra.vanity == b"\x00" * 32
    assert [item.hex() for item in extra.validators] == BESU_DOCS_VALIDATORS  # order kept
    assert extra.vote is None
    assert extra.round == 0
    assert extra.seals == ()
    assert encode_extra_data(extra).hex() == BESU_DOCS_GENESIS


def test_contract_mode_genesis_vector() -> None:
    extra = decode_extra_data(bytes.fromhex(CONTRACT_MODE_GENESIS))
    assert extra == ExtraData(b"\x00" * 32, ())
    assert encode_extra_data(extra).hex() == CONTRACT_MODE_GENESIS


def test_besu_codec_vector_with_vote_round_and_seals() -> None:
    extra = decode_extra_data(bytes.fromhex(BESU_CODEC_VECTOR))
    assert extra.vanity == bytes(range(1, 33))
    assert extra.validators == (b"\x00" * 19 + b"\x01", b"\x00" * 19 + b"\x02")
    assert extra.vote == Vote(b"\x00" * 19 + b"\x01", VoteType.ADD)
    assert extra.round == 0xFEDCBA
    assert len(extra.seals) == 2
    assert int.from_bytes(extra.seals[0][:32], "big") == 1
    assert int.from_bytes(extra.seals[0][32:64], "big") == 10
    assert encode_extra_data(extra).hex() == BESU_CODEC_VECTOR


def test_hashing_variants() -> None:
    extra = decode_extra_data(bytes.fromhex(BESU_CODEC_VECTOR))
    assert without_seals(extra).round == 0xFEDCBA
    assert without_seals(extra).seals == ()
    bare = without_seals_and_round(extra)
    assert (bare.round, bare.seals, bare.vote) == (0, (), extra.vote)
    assert encode_extra_data(bare).endswith(bytes.fromhex("80c0"))


def test_drop_vote_is_written_as_empty_and_read_from_zero() -> None:
    vote = Vote(b"\x05" * 20, VoteType.DROP)
    encoded = encode_extra_data(ExtraData(b"\x00" * 32, (), vote))
    assert bytes.fromhex("d694" + "05" * 20 + "80") in encoded
    zero = rlp.encode([b"\x00" * 32, [], [b"\x05" * 20, b"\x00"], 0, []])
    assert decode_extra_data(zero).vote == vote


def test_trailing_items_are_tolerated() -> None:
    data = rlp.encode([b"\x00" * 32, [], [], 0, [], b"extra"])
    assert decode_extra_data(data).validators == ()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xff\xff", "not valid RLP"),
        (rlp.encode(b"x"), "list of 5"),
        (rlp.encode([b"", [], [], 0]), "list of 5"),
        (rlp.encode([b"", [b"\x01"], [], 0, []]), r"validators\[0\]"),
        (rlp.encode([b"", [], [b"\x01" * 20, b"\x07"], 0, []]), "vote type"),
        (rlp.encode([b"", [], [b"\x01" * 20], 0, []]), "recipient, type"),
        (rlp.encode([b"", [], [], b"\x00\x01", []]), "leading zero"),
        (rlp.encode([b"", [], [], [], []]), "round must be a scalar"),
        (rlp.encode([b"", [], [], 0, [b"\x00" * 64]]), r"seals\[0\]"),
        (rlp.encode([b"", [], [], 0, [b"\x00" * 64 + b"\x1b"]]), "v=27"),
    ],
)
def test_bad_extra_data_is_refused_with_reason(data: bytes, message: str) -> None:
    with pytest.raises(ExtraDataError, match=message):
        decode_extra_data(data)


addresses = st.binary(min_size=20, max_size=20)
votes = st.one_of(st.none(), st.builds(Vote, addresses, st.sampled_from(list(VoteType))))
extras = st.builds(
    ExtraData,
    vanity=st.binary(max_size=40),
    validators=st.lists(addresses, max_size=8).map(tuple),
    vote=votes,
    round=st.integers(min_value=0, max_value=2**64),
    seals=st.lists(
        st.tuples(st.binary(min_size=64, max_size=64), st.sampled_from([0, 1])).map(
            lambda pair: pair[0] + bytes([pair[1]])
        ),
        max_size=5,
    ).map(tuple),
)


@given(extras)
def test_round_trip(extra: ExtraData) -> None:
    assert decode_extra_data(encode_extra_data(extra)) == extra


@given(st.binary(max_size=200))
def test_garbage_raises_only_extra_data_error(data: bytes) -> None:
    with contextlib.suppress(ExtraDataError):
        decode_extra_data(data)
