"""The wire codec: exact bytes, round trips, strictness, and fuzzing with Hypothesis."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from network.codec import (
    CODEC_VERSION,
    CodecError,
    Disconnect,
    DisconnectReason,
    FrameDecoder,
    FrameTooLarge,
    MalformedMessage,
    Message,
    MessageKind,
    Ping,
    Pong,
    Status,
    UnknownMessageKind,
    UnsupportedCodecVersion,
    decode_frame,
    decode_payload,
    encode_message,
)

from .support import messages


def test_ping_frame_has_the_documented_layout() -> None:
    # length 4 = version, kind, RLP([0x2a]) = 0xc1 0x2a
    assert encode_message(Ping(nonce=42)) == bytes.fromhex("00000004") + bytes(
        [CODEC_VERSION, MessageKind.PING, 0xC1, 0x2A]
    )


def test_zero_is_the_empty_string_as_in_rlp() -> None:
    assert encode_message(Pong(nonce=0))[-2:] == bytes([0xC1, 0x80])


@settings(deadline=None)
@given(messages)
def test_every_message_round_trips(message: Message) -> None:
    assert decode_frame(encode_message(message)) == message


@settings(deadline=None)
@given(st.lists(messages, max_size=6), st.data())
def test_a_stream_decodes_the_same_however_it_is_split(
    sequence: list[Message], data: st.DataObject
) -> None:
    stream = b"".join(encode_message(message) for message in sequence)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    decoder = FrameDecoder()
    received: list[Message] = []
    previous = 0
    for cut in [*cuts, len(stream)]:
        received += decoder.feed(stream[previous:cut])
        previous = cut
    assert received == sequence
    assert decoder.buffered == 0


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_random_payloads_decode_canonically_or_raise_a_codec_error(payload: bytes) -> None:
    try:
        message = decode_payload(payload)
    except CodecError:
        return
    # Anything accepted is canonical: encoding it gives back the very same bytes.
    assert encode_message(message)[4:] == payload


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(MessageKind), st.binary(max_size=200))
def test_random_bodies_for_every_kind_never_crash(kind: MessageKind, body: bytes) -> None:
    payload = bytes([CODEC_VERSION, kind]) + body
    try:
        message = decode_payload(payload)
    except CodecError:
        return
    assert encode_message(message)[4:] == payload


@settings(max_examples=300, deadline=None)
@given(messages, st.integers(min_value=0), st.integers(0, 255))
def test_a_flipped_byte_is_decoded_canonically_or_refused(
    message: Message, position: int, value: int
) -> None:
    frame = bytearray(encode_message(message))
    index = 4 + position % (len(frame) - 4)
    frame[index] = value
    frame_bytes = bytes(frame)
    try:
        decoded = decode_frame(frame_bytes)
    except CodecError:
        return
    assert encode_message(decoded) == frame_bytes


def test_an_oversized_frame_is_refused_from_its_header_alone() -> None:
    decoder = FrameDecoder(max_frame_size=1024)
    with pytest.raises(FrameTooLarge, match="1025 bytes exceeds the limit of 1024"):
        decoder.feed(struct.pack(">I", 1025))
    with pytest.raises(CodecError, match="stream already failed"):
        decoder.feed(encode_message(Ping(nonce=1)))


def test_another_codec_version_is_refused() -> None:
    with pytest.raises(UnsupportedCodecVersion, match="codec version 2"):
        decode_payload(bytes([2, MessageKind.PING, 0xC1, 0x01]))


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(UnknownMessageKind, match="0x7f"):
        decode_payload(bytes([CODEC_VERSION, 0x7F, 0xC0]))


def test_integers_with_a_leading_zero_are_refused() -> None:
    with pytest.raises(MalformedMessage, match="leading zero"):
        decode_payload(bytes([CODEC_VERSION, MessageKind.PING, 0xC3, 0x82, 0x00, 0x01]))


def test_integers_beyond_64_bits_are_refused() -> None:
    body = bytes([0xCA, 0x89]) + b"\x01" * 9
    with pytest.raises(MalformedMessage, match="at most 8"):
        decode_payload(bytes([CODEC_VERSION, MessageKind.PING]) + body)


def test_wrong_field_count_is_refused() -> None:
    with pytest.raises(MalformedMessage, match="PING has 2 fields, expected 1"):
        decode_payload(bytes([CODEC_VERSION, MessageKind.PING, 0xC2, 0x01, 0x02]))


def test_trailing_bytes_after_the_body_are_refused() -> None:
    with pytest.raises(MalformedMessage, match="not canonical RLP"):
        decode_payload(bytes([CODEC_VERSION, MessageKind.PING, 0xC1, 0x01, 0x00]))


def test_an_undefined_disconnect_reason_is_refused() -> None:
    with pytest.raises(MalformedMessage, match="reason 99 is not defined"):
        decode_payload(bytes([CODEC_VERSION, MessageKind.DISCONNECT, 0xC2, 99, 0x80]))


def test_encoding_refuses_what_decoding_would_refuse() -> None:
    with pytest.raises(MalformedMessage, match="head_hash must be 32 bytes"):
        encode_message(Status(head_number=1, head_hash=b"short"))
    with pytest.raises(MalformedMessage, match=r"outside 0\.\.2\^64-1"):
        encode_message(Ping(nonce=2**64))
    with pytest.raises(MalformedMessage, match="detail is 300 bytes"):
        encode_message(Disconnect(DisconnectReason.REQUESTED, "x" * 300))


def test_decode_frame_refuses_leftovers() -> None:
    with pytest.raises(MalformedMessage, match="left over"):
        decode_frame(encode_message(Ping(nonce=1)) + b"\x00")
