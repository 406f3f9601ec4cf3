"""QBFT wire messages: exact layout, signing hash, both proposal forms, round trips, garbage."""

from __future__ import annotations

import contextlib

import pytest
import rlp as reference_rlp
from eth_hash.auto import keccak
from hypothesis import given
from hypothesis import strategies as st

from node.consensus import messages as m
from node.consensus.crypto import KeySigner, recover_address
from node.ports import Hash32

DIGEST = Hash32(bytes(range(32)))
SIGNER = KeySigner(keccak(b"consensus message test key"))


def signed(payload: m.P, signature: bytes) -> m.SignedData[m.P]:
    return m.SignedData(payload, signature, m.encode_payload(payload))


def test_prepare_layout_is_signed_data_with_inline_seq_and_round() -> None:
    signature = bytes([7]) * 65
    message = m.Prepare(signed(m.PreparePayload(1, 0, DIGEST), signature))
    expected = reference_rlp.encode([[1, 0, DIGEST], signature])
    assert m.encode_message(message) == expected
    assert m.encode_message(message).hex().startswith("f867e301" + "80" + "a0")


def test_signing_hash_covers_code_and_payload() -> None:
    payload = m.CommitPayload(5, 2, DIGEST, bytes(65))
    message = m.sign(payload, SIGNER)
    assert message.signing_hash() == keccak(reference_rlp.encode([0x14, [5, 2, DIGEST, bytes(65)]]))
    assert message.author(recover_address) == SIGNER.address


def test_round_change_layout_with_and_without_a_prepared_block() -> None:
    empty = m.RoundChange(signed(m.RoundChangePayload(3, 1, None), bytes(65)), None, ())
    assert m.encode_message(empty) == reference_rlp.encode([[[3, 1, []], bytes(65)], [], b"", []])
    block = reference_rlp.encode([[b"header"], [], []])
    prepare = signed(m.PreparePayload(3, 0, DIGEST), bytes(65))
    full = m.RoundChange(
        signed(m.RoundChangePayload(3, 1, m.PreparedRound(0, DIGEST)), bytes(65)),
        block,
        (prepare,),
    )
    assert m.encode_message(full) == reference_rlp.encode(
        [
            [[3, 1, [0, DIGEST]], bytes(65)],
            [[b"header"], [], []],
            b"",
            [[[3, 0, DIGEST], bytes(65)]],
        ]
    )


def test_proposal_layout_and_the_pre_26_1_form() -> None:
    block = reference_rlp.encode([[b"header"], [], []])
    current = m.Proposal(signed(m.ProposalPayload(9, 0, block), bytes(65)))
    assert m.encode_message(current) == reference_rlp.encode(
        [[[9, 0, [[b"header"], [], []], b""], bytes(65)], [[], []]]
    )
    old_bytes = reference_rlp.encode([[[9, 0, [[b"header"], [], []]], bytes(65)], [[], []]])
    old = m.decode_message(m.PROPOSAL, old_bytes)
    assert isinstance(old, m.Proposal)
    assert old.signed.payload.access_list is None
    assert m.encode_message(old) == old_bytes
    assert old.signed.signing_hash() != current.signed.signing_hash()


def test_old_form_round_change_decodes() -> None:
    old_bytes = reference_rlp.encode([[[3, 1, []], bytes(65)], [], []])
    decoded = m.decode_message(m.ROUND_CHANGE, old_bytes)
    assert isinstance(decoded, m.RoundChange)
    assert decoded.access_list is None
    assert m.encode_message(decoded) == old_bytes


heights = st.integers(min_value=0, max_value=2**64)
rounds = st.integers(min_value=0, max_value=2**32)
digests = st.binary(min_size=32, max_size=32).map(Hash32)
signatures = st.binary(min_size=65, max_size=65)
blocks = st.lists(st.binary(max_size=40), min_size=1, max_size=4).map(reference_rlp.encode)
access_lists = st.sampled_from([None, m.EMPTY_ACCESS_LIST, reference_rlp.encode([b"x"])])

prepares = st.builds(
    lambda h, r, d, s: signed(m.PreparePayload(h, r, d), s), heights, rounds, digests, signatures
)
commits = st.builds(
    lambda h, r, d, seal, s: signed(m.CommitPayload(h, r, d, seal), s),
    heights,
    rounds,
    digests,
    signatures,
    signatures,
)
prepared_rounds = st.none() | st.builds(m.PreparedRound, rounds, digests)
round_change_payloads = st.builds(
    lambda h, r, p, s: signed(m.RoundChangePayload(h, r, p), s),
    heights,
    rounds,
    prepared_rounds,
    signatures,
)
messages = st.one_of(
    prepares.map(m.Prepare),
    commits.map(m.Commit),
    st.builds(
        m.RoundChange,
        round_change_payloads,
        st.none() | blocks,
        st.lists(prepares, max_size=3).map(tuple),
        access_lists,
    ),
    st.builds(
        m.Proposal,
        st.builds(
            lambda h, r, b, a, s: signed(m.ProposalPayload(h, r, b, a), s),
            heights,
            rounds,
            blocks,
            access_lists,
            signatures,
        ),
        st.lists(round_change_payloads, max_size=3).map(tuple),
        st.lists(prepares, max_size=3).map(tuple),
    ),
)


@given(messages)
def test_every_message_round_trips(message: m.Message) -> None:
    data = m.encode_message(message)
    assert m.decode_message(message.code, data) == message
    assert m.height_and_round(message) == (
        message.signed.payload.height,
        message.signed.payload.round,
    )


@given(st.sampled_from([*m.MESSAGE_CODES, 0x11, 0x16]), st.binary(max_size=300))
def test_garbage_raises_malformed_message_only(code: int, data: bytes) -> None:
    with contextlib.suppress(m.MalformedMessage):
        m.decode_message(code, data)


@given(messages, st.integers(min_value=0), st.integers(min_value=0, max_value=7))
def test_flipped_or_cut_messages_never_crash_the_decoder(
    message: m.Message, position: int, bit: int
) -> None:
    data = bytearray(m.encode_message(message))
    flipped = bytearray(data)
    flipped[position % len(data)] ^= 1 << bit
    for candidate in (bytes(flipped), bytes(data[: position % len(data)])):
        with contextlib.suppress(m.MalformedMessage):
            m.decode_message(message.code, candidate)


def test_a_message_of_the_wrong_shape_says_what_is_wrong() -> None:
    with pytest.raises(m.MalformedMessage, match="PREPARE payload has 2 items"):
        m.decode_message(m.PREPARE, reference_rlp.encode([[1, 0], bytes(65)]))
    with pytest.raises(m.MalformedMessage, match="signature must be 65 bytes"):
        m.decode_message(m.PREPARE, reference_rlp.encode([[1, 0, DIGEST], bytes(64)]))
    with pytest.raises(m.MalformedMessage, match="unknown QBFT message code"):
        m.decode_message(0x16, b"\xc0")
    with pytest.raises(m.MalformedMessage, match="leading zero"):
        m.decode_message(m.PREPARE, reference_rlp.encode([[b"\x00\x01", 0, DIGEST], bytes(65)]))
