"""The virtual card on its own: it answers what the bridge will never ask, and masks PINs."""

from __future__ import annotations

from card_bridge import apdu
from card_bridge.virtual_card.card import ATR, VirtualMyNumberCard
from tests.card.conftest import TEST_PIN

NUMBER_AP = bytes.fromhex("D3921000310001010408")


def send(card: VirtualMyNumberCard, command: apdu.CommandApdu) -> apdu.ResponseApdu:
    return apdu.ResponseApdu.parse(card.process(command.to_bytes()))


def test_atr_is_the_my_number_card_contact_atr() -> None:
    assert bytes.fromhex("3BE000FF8131FE4514") == ATR


def test_the_emulator_would_accept_a_select_of_the_forbidden_applications(
    card: VirtualMyNumberCard,
) -> None:
    # So a real-stack test can prove that only the bridge's allow-list stands in the way.
    assert send(card, apdu.select_application(NUMBER_AP)).ok
    assert send(card, apdu.select_file(0x0001)).ok
    # It holds no number: reading answers "security status not satisfied".
    assert send(card, apdu.read_binary(0, 16)).status_word == 0x6982
    assert card.apdu_log[0].command == "00A4040C0A" + NUMBER_AP.hex().upper()


def test_pin_status_ends_with_a_reset(card: VirtualMyNumberCard) -> None:
    send(card, apdu.select_application(apdu.JPKI_AP_AID))
    send(card, apdu.select_file(apdu.EF_AUTH_PIN))
    assert send(card, apdu.verify_pin(TEST_PIN.encode())).ok
    card.power_on()
    send(card, apdu.select_application(apdu.JPKI_AP_AID))
    send(card, apdu.select_file(apdu.EF_AUTH_PRIVATE_KEY))
    signing = apdu.compute_digital_signature(apdu.sha256_digest_info(b"x"))
    assert send(card, signing).status_word == 0x6982


def test_unknown_instructions_and_classes_are_answered_like_iso_7816(
    card: VirtualMyNumberCard,
) -> None:
    assert send(card, apdu.CommandApdu(0x00, 0xCA, 0, 0, le=1)).status_word == 0x6D00
    assert send(card, apdu.CommandApdu(0xA0, 0xA4, 0, 0)).status_word == 0x6E00
    assert card.process(b"\x00") == b"\x67\x00"
