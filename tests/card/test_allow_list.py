"""The allow-list: what may reach a card, and proof that anything else raises before sending."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from card_bridge import apdu
from card_bridge.allow_list import NOTHING_SELECTED, Selection, admit
from card_bridge.channel import GuardedChannel
from card_bridge.errors import ApduNotAllowed

JPKI = Selection(application=apdu.JPKI_AP_AID)
NUMBER_AP = bytes.fromhex("D3921000310001010408")
CARD_FACE_AP = bytes.fromhex("D3921000310001010402")


def in_file(file_id: int) -> Selection:
    return Selection(apdu.JPKI_AP_AID, file_id)


def test_the_jpki_sequence_is_admitted_and_tracked() -> None:
    selection = admit(apdu.select_application(apdu.JPKI_AP_AID), NOTHING_SELECTED)
    assert selection == JPKI
    for file_id in (0x0006, 0x000A, 0x000B, 0x0017, 0x0018):
        assert admit(apdu.select_file(file_id), selection) == in_file(file_id)
    assert admit(apdu.read_binary(0, 256), in_file(0x000A)) == in_file(0x000A)
    assert admit(apdu.verify_pin(b"1234"), in_file(0x0018)) == in_file(0x0018)
    assert admit(apdu.pin_tries_left_query(), in_file(0x0018)) == in_file(0x0018)
    signing = apdu.compute_digital_signature(apdu.sha256_digest_info(b"c"))
    assert admit(signing, in_file(0x0017)) == in_file(0x0017)


@pytest.mark.parametrize("aid", [NUMBER_AP, CARD_FACE_AP])
def test_the_applications_holding_the_individual_number_are_refused_by_name(aid: bytes) -> None:
    with pytest.raises(ApduNotAllowed, match="Individual Number"):
        admit(apdu.select_application(aid), NOTHING_SELECTED)
    with pytest.raises(ApduNotAllowed):
        admit(apdu.select_application(aid), JPKI)


@pytest.mark.parametrize(
    ("command", "selection", "why"),
    [
        (apdu.select_application(bytes.fromhex("A0000000031010")), NOTHING_SELECTED, "only"),
        (apdu.select_file(0x0001), JPKI, "only EFs"),
        (apdu.select_file(0x0005), JPKI, "only EFs"),
        (apdu.select_file(0x000A), NOTHING_SELECTED, "JPKI application first"),
        (apdu.CommandApdu(0x00, 0xA4, 0x00, 0x0C, b"\x3f\x00"), JPKI, "only SELECT"),
        (apdu.CommandApdu(0x00, 0xA4, 0x08, 0x0C, b"\x00\x01"), JPKI, "only SELECT"),
        (apdu.read_binary(0, 16), JPKI, "token and certificate"),
        (apdu.read_binary(0, 16), in_file(0x0017), "token and certificate"),
        (apdu.read_binary(0, 16), in_file(0x0018), "token and certificate"),
        (apdu.read_binary(0, 16), NOTHING_SELECTED, "JPKI application first"),
        # P1 bit 8 set = a short EF identifier: reads a file without selecting it.
        (apdu.CommandApdu(0x00, 0xB0, 0x81, 0x00, le=16), in_file(0x000A), "short EF"),
        (apdu.verify_pin(b"1234"), in_file(0x000A), "0018"),
        (apdu.CommandApdu(0x00, 0x20, 0x00, 0x81, b"1234"), in_file(0x0018), "parameters"),
        (apdu.compute_digital_signature(bytes(0x33)), in_file(0x0017), "DigestInfo"),
        (apdu.compute_digital_signature(bytes(200)), in_file(0x0017), "DigestInfo"),
        (
            apdu.compute_digital_signature(apdu.sha256_digest_info(b"c")),
            in_file(0x0018),
            "0017",
        ),
        (apdu.CommandApdu(0x00, 0xC0, 0x00, 0x00, le=256), JPKI, "instruction C0"),
        (apdu.CommandApdu(0x00, 0xB2, 0x01, 0x04, le=256), JPKI, "instruction B2"),
        (apdu.CommandApdu(0x00, 0x84, 0x00, 0x00, le=8), JPKI, "instruction 84"),
        (apdu.CommandApdu(0x00, 0x88, 0x00, 0x00, bytes(8)), JPKI, "instruction 88"),
        (apdu.CommandApdu(0x0C, 0xA4, 0x04, 0x0C, apdu.JPKI_AP_AID), JPKI, "class"),
    ],
)
def test_everything_else_is_refused(
    command: apdu.CommandApdu, selection: Selection, why: str
) -> None:
    with pytest.raises(ApduNotAllowed, match=why):
        admit(command, selection)


selections = st.sampled_from(
    [NOTHING_SELECTED, JPKI, *(in_file(f) for f in (0x0006, 0x000A, 0x000B, 0x0017, 0x0018))]
)
raw_commands = st.builds(
    apdu.CommandApdu,
    cla=st.sampled_from([0x00, 0x80, 0x0C, 0x84]),
    ins=st.sampled_from([0xA4, 0xB0, 0x20, 0x2A, 0xB1, 0xC0, 0xCA, 0x22]),
    p1=st.integers(0, 255),
    p2=st.integers(0, 255),
    data=st.binary(max_size=60) | st.sampled_from([NUMBER_AP, CARD_FACE_AP, apdu.JPKI_AP_AID]),
    le=st.none() | st.integers(1, 256),
)


@given(raw_commands, selections)
def test_whatever_is_admitted_stays_inside_the_jpki_policy(
    command: apdu.CommandApdu, selection: Selection
) -> None:
    try:
        after = admit(command, selection)
    except ApduNotAllowed:
        return
    assert command.ins in {0xA4, 0xB0, 0x20, 0x2A}
    assert after.application == apdu.JPKI_AP_AID
    assert after.file_id in {None, 0x0006, 0x000A, 0x000B, 0x0017, 0x0018}
    if command.ins == 0xA4 and command.p1 == 0x04:
        assert command.data == apdu.JPKI_AP_AID
    if command.ins == 0xB0:
        assert after.file_id in {0x0006, 0x000A, 0x000B} and not command.p1 & 0x80


class RecordingTransport:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def transmit(self, command: bytes) -> bytes:
        self.sent.append(command)
        return b"\x90\x00"


def test_a_refused_command_never_reaches_the_transport() -> None:
    transport = RecordingTransport()
    channel = GuardedChannel(transport)
    with pytest.raises(ApduNotAllowed):
        channel.transmit(apdu.select_application(NUMBER_AP))
    with pytest.raises(ApduNotAllowed):
        channel.transmit(apdu.select_file(0x000A))
    assert transport.sent == []
    channel.transmit(apdu.select_application(apdu.JPKI_AP_AID))
    assert transport.sent == [apdu.select_application(apdu.JPKI_AP_AID).to_bytes()]


class RefusingTransport:
    def transmit(self, command: bytes) -> bytes:
        return b"\x6a\x82"


def test_a_refused_select_forgets_the_selection() -> None:
    channel = GuardedChannel(RefusingTransport())
    response = channel.transmit(apdu.select_application(apdu.JPKI_AP_AID))
    assert response.status_word == 0x6A82
    assert channel.selection == NOTHING_SELECTED
    with pytest.raises(ApduNotAllowed):
        channel.transmit(apdu.select_file(0x000A))
