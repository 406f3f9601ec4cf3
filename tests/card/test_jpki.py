"""JPKI operations against the fake transport (the virtual card in memory): milliseconds each."""

from __future__ import annotations

import logging

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from card_bridge import apdu
from card_bridge.errors import (
    CardCommandFailed,
    CardRemoved,
    InvalidPinFormat,
    NotMyNumberCard,
    PinLocked,
    PinRequired,
    WrongPin,
)
from card_bridge.jpki import JpkiCard
from card_bridge.virtual_card.card import VirtualMyNumberCard
from tests.card.conftest import TEST_PIN, MemoryTransport, Pki

DER = serialization.Encoding.DER


def test_open_checks_the_token_and_reads_both_certificates(
    transport: MemoryTransport, pki: Pki
) -> None:
    card = JpkiCard.open(transport)
    assert card.token == b"JPKIAPICCTOKEN2"
    assert card.read_auth_certificate() == pki.card.auth_certificate.public_bytes(DER)
    assert card.read_auth_ca_certificate() == pki.card.ca_certificate.public_bytes(DER)


def test_certificate_is_read_in_chunks_of_at_most_256_bytes(transport: MemoryTransport) -> None:
    JpkiCard.open(transport).read_auth_certificate()
    reads = [apdu.CommandApdu.parse(raw) for raw in transport.sent if raw[1] == 0xB0]
    assert all(command.le is not None and command.le <= 256 for command in reads)
    # The EF is padded to 2 KiB; only the DER is read, not the padding.
    assert sum(command.le or 0 for command in reads[1:]) < 0x0800


def test_a_juki_card_is_not_a_my_number_card(pki: Pki) -> None:
    juki = VirtualMyNumberCard(pki.card, pin=TEST_PIN, token=b"JPKIAPICCTOKEN")
    with pytest.raises(NotMyNumberCard, match="Juki"):
        JpkiCard.open(MemoryTransport(juki))


class NoJpkiCard:
    """A card (a bank card, say) that has no JPKI application."""

    def transmit(self, command: bytes) -> bytes:
        return b"\x6a\x82"


def test_a_card_without_the_jpki_application_is_refused() -> None:
    with pytest.raises(NotMyNumberCard, match="no JPKI application"):
        JpkiCard.open(NoJpkiCard())


def test_pin_tries_left_uses_no_try(transport: MemoryTransport, card: VirtualMyNumberCard) -> None:
    jpki = JpkiCard.open(transport)
    assert jpki.pin_tries_left() == 3
    assert jpki.pin_tries_left() == 3
    assert card.tries_left == 3


def test_sign_after_verify_gives_a_pkcs1_v15_sha256_signature(
    transport: MemoryTransport, pki: Pki
) -> None:
    jpki = JpkiCard.open(transport)
    jpki.verify_pin(TEST_PIN)
    signature = jpki.sign(b"platform challenge")
    assert len(signature) == 256
    key = pki.card.auth_certificate.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    key.verify(signature, b"platform challenge", padding.PKCS1v15(), hashes.SHA256())


def test_signing_before_verify_is_refused_by_the_card(transport: MemoryTransport) -> None:
    with pytest.raises(PinRequired):
        JpkiCard.open(transport).sign(b"challenge")


def test_wrong_pin_twice_then_right_resets_the_counter(
    transport: MemoryTransport, card: VirtualMyNumberCard
) -> None:
    jpki = JpkiCard.open(transport)
    with pytest.raises(WrongPin) as first:
        jpki.verify_pin("0000")
    assert first.value.tries_left == 2
    with pytest.raises(WrongPin) as second:
        jpki.verify_pin("0001")
    assert second.value.tries_left == 1
    assert jpki.pin_tries_left() == 1
    jpki.verify_pin(TEST_PIN)
    assert jpki.pin_tries_left() == 3
    assert card.tries_left == 3


def test_three_wrong_pins_lock_the_card_and_signing_is_refused(
    transport: MemoryTransport,
) -> None:
    jpki = JpkiCard.open(transport)
    for _ in range(2):
        with pytest.raises(WrongPin):
            jpki.verify_pin("9999")
    with pytest.raises(PinLocked):
        jpki.verify_pin("9999")  # 63C0: this try locked it
    with pytest.raises(PinLocked):
        jpki.pin_tries_left()
    with pytest.raises(PinLocked):
        jpki.verify_pin(TEST_PIN)  # 6984: the right PIN no longer helps
    with pytest.raises(PinLocked):
        jpki.sign(b"challenge")


@pytest.mark.parametrize("pin", ["123", "12345", "abcd", "１２３４", "12 4", ""])
def test_a_malformed_pin_is_never_sent(transport: MemoryTransport, pin: str) -> None:
    jpki = JpkiCard.open(transport)
    sent = len(transport.sent)
    with pytest.raises(InvalidPinFormat):
        jpki.verify_pin(pin)
    assert len(transport.sent) == sent


class ScriptedCard:
    """Answers SELECT and READ like a JPKI card, and VERIFY with a fixed status word."""

    def __init__(self, card: VirtualMyNumberCard, verify_status: bytes) -> None:
        self.inner = MemoryTransport(card)
        self.verify_status = verify_status

    def transmit(self, command: bytes) -> bytes:
        if command[1] == 0x20:
            return self.verify_status
        return self.inner.transmit(command)


@pytest.mark.parametrize("status", ["63C0", "6983", "6984"])
def test_every_locked_status_word_means_locked(card: VirtualMyNumberCard, status: str) -> None:
    jpki = JpkiCard.open(ScriptedCard(card, bytes.fromhex(status)))
    with pytest.raises(PinLocked):
        jpki.verify_pin(TEST_PIN)
    with pytest.raises(PinLocked):
        jpki.pin_tries_left()


def test_an_unexpected_verify_status_is_reported_with_its_word(
    card: VirtualMyNumberCard,
) -> None:
    jpki = JpkiCard.open(ScriptedCard(card, bytes.fromhex("6A88")))
    with pytest.raises(CardCommandFailed) as failure:
        jpki.verify_pin(TEST_PIN)
    assert failure.value.status_word == 0x6A88


def test_card_removed_mid_signing_surfaces_as_card_removed(
    transport: MemoryTransport, card: VirtualMyNumberCard
) -> None:
    jpki = JpkiCard.open(transport)
    jpki.verify_pin(TEST_PIN)
    card.withdraw_at_instruction = apdu.INS_COMPUTE_DIGITAL_SIGNATURE
    with pytest.raises(CardRemoved):
        jpki.sign(b"challenge")


def test_no_pin_bytes_in_logs_or_in_the_card_log(
    transport: MemoryTransport, card: VirtualMyNumberCard, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    jpki = JpkiCard.open(transport)
    with pytest.raises(WrongPin):
        jpki.verify_pin("8642")
    jpki.verify_pin(TEST_PIN)
    jpki.sign(b"challenge")
    assert any("00 20 00 80 Lc=04 (masked)" in record.getMessage() for record in caplog.records)
    for pin in ("8642", TEST_PIN):
        forms = (pin, pin.encode().hex(), pin.encode().hex().upper())
        for record in caplog.records:
            assert not any(form in record.getMessage() for form in forms)
        for entry in card.apdu_log:
            assert not any(form in entry.command for form in forms)
    verifies = [entry for entry in card.apdu_log if entry.header == bytes.fromhex("00200080")]
    assert [entry.command for entry in verifies] == ["0020008004********"] * 2
