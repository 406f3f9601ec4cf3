"""The whole path on a real PC/SC stack: pcscd, the vpcd driver, and the virtual card over TCP.

Each test puts a fresh virtual card into `Virtual PCD 00 00` (see conftest) and talks to it only
through pyscard and pcscd, exactly as the counter terminal does with a real reader.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from card_bridge import apdu
from card_bridge.errors import (
    ApduNotAllowed,
    CardInUse,
    CardRemoved,
    NoCardPresent,
    PinLocked,
    PinRequired,
    ReaderNotFound,
    WrongPin,
)
from card_bridge.jpki import JpkiCard
from card_bridge.pcsc import PcscConnection, PcscReaders
from card_bridge.platform_checks.authentication import CardAuthenticator
from card_bridge.platform_checks.certificates import TrustConfiguration
from card_bridge.platform_checks.challenges import ChallengeStore
from card_bridge.virtual_card.card import VirtualMyNumberCard
from card_bridge.virtual_card.issuance import TestAuthority, generate_key, issue_card
from card_bridge.virtual_card.vpcd import VPCD_READER, VpcdLink
from tests.card.conftest import TEST_PIN, Pki

pytestmark = pytest.mark.realstack

FORBIDDEN_SELECT_PREFIXES = tuple(
    "00A4040C0A" + aid.hex().upper() for aid in apdu.FORBIDDEN_APPLICATIONS
)


@pytest.fixture(scope="module")
def live_pki() -> Pki:
    """A PKI around the real clock: pcscd-side tests verify with the wall clock's now."""
    now = datetime.now(UTC)
    authority = TestAuthority.create(now)
    key = generate_key()
    return Pki(authority, authority, (key,), issue_card(authority, now, key=key))


@pytest.fixture
def card(live_pki: Pki) -> VirtualMyNumberCard:
    return VirtualMyNumberCard(live_pki.card, pin=TEST_PIN)


@pytest.fixture
def connection(inserted_card: VpcdLink) -> Iterator[PcscConnection]:
    opened = PcscReaders().connect(VPCD_READER, timeout=5.0)
    yield opened
    opened.close()


def clock() -> datetime:
    return datetime.now(UTC)


def assert_log_is_clean(card: VirtualMyNumberCard, *texts: str) -> None:
    """No forbidden application ever arrived, and no PIN bytes are in the card's log."""
    assert not any(entry.command.startswith(FORBIDDEN_SELECT_PREFIXES) for entry in card.apdu_log)
    for text in texts:
        forms = (text, text.encode().hex().upper())
        assert not any(form in entry.command for entry in card.apdu_log for form in forms)


def test_list_readers_sees_both_vpcd_readers_and_the_card(inserted_card: VpcdLink) -> None:
    from tests.card.conftest import wait_for_presence

    wait_for_presence(True)
    readers = {reader.name: reader.card_present for reader in PcscReaders().list_readers()}
    assert readers[VPCD_READER] is True
    assert readers["Virtual PCD 00 01"] is False


def test_a_full_tap_verifies_through_the_platform_checks(
    connection: PcscConnection,
    card: VirtualMyNumberCard,
    live_pki: Pki,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    assert connection.atr == bytes.fromhex("3BE000FF8131FE4514")
    trust = TrustConfiguration(
        (live_pki.authority.certificate,), (live_pki.authority.revocation_list(clock()),)
    )
    authenticator = CardAuthenticator(trust, ChallengeStore(clock), clock)
    challenge = authenticator.issue_challenge()

    jpki = JpkiCard.open(connection)
    certificate = jpki.read_auth_certificate()
    assert jpki.pin_tries_left() == 3
    jpki.verify_pin(TEST_PIN)
    signature = jpki.sign(challenge.value)

    result = authenticator.verify(
        challenge=challenge.value, certificate_der=certificate, signature=signature
    )
    assert result.certificate == live_pki.card.auth_certificate
    assert_log_is_clean(card, TEST_PIN)
    pin_forms = (TEST_PIN, TEST_PIN.encode().hex(), TEST_PIN.encode().hex(" ").upper())
    messages = [record.getMessage() for record in caplog.records]
    assert any("(masked)" in message for message in messages)
    assert not any(form in message for message in messages for form in pin_forms)
    assert any(entry.command.startswith("802A0080") for entry in card.apdu_log)


def test_wrong_pin_twice_then_right_resets_the_counter(
    connection: PcscConnection, card: VirtualMyNumberCard
) -> None:
    jpki = JpkiCard.open(connection)
    tries = []
    for wrong in ("1111", "2222"):
        with pytest.raises(WrongPin) as refused:
            jpki.verify_pin(wrong)
        tries.append(refused.value.tries_left)
    assert tries == [2, 1]
    jpki.verify_pin(TEST_PIN)
    assert jpki.pin_tries_left() == 3
    assert len(jpki.sign(b"after the reset")) == 256
    assert_log_is_clean(card, TEST_PIN, "1111", "2222")


def test_three_wrong_pins_lock_and_signing_is_refused(
    connection: PcscConnection, card: VirtualMyNumberCard
) -> None:
    jpki = JpkiCard.open(connection)
    for wrong in ("1111", "2222"):
        with pytest.raises(WrongPin):
            jpki.verify_pin(wrong)
    with pytest.raises(PinLocked):
        jpki.verify_pin("3333")
    with pytest.raises(PinLocked):
        jpki.verify_pin(TEST_PIN)
    with pytest.raises(PinLocked):
        jpki.sign(b"challenge")
    assert card.tries_left == 0
    assert_log_is_clean(card, TEST_PIN, "1111", "2222", "3333")


def test_card_removed_mid_signing(
    connection: PcscConnection, card: VirtualMyNumberCard, inserted_card: VpcdLink
) -> None:
    jpki = JpkiCard.open(connection)
    jpki.verify_pin(TEST_PIN)
    card.withdraw_at_instruction = apdu.INS_COMPUTE_DIGITAL_SIGNATURE
    with pytest.raises(CardRemoved, match="removed"):
        jpki.sign(b"challenge")
    assert inserted_card.withdrawn.is_set()
    assert card.apdu_log[-1].command.startswith("802A0080")  # it arrived, then the card left


def test_a_forbidden_select_is_stopped_before_it_reaches_the_card(
    connection: PcscConnection, card: VirtualMyNumberCard
) -> None:
    from card_bridge.channel import GuardedChannel

    channel = GuardedChannel(connection)
    for aid in apdu.FORBIDDEN_APPLICATIONS:
        with pytest.raises(ApduNotAllowed, match="Individual Number"):
            channel.transmit(apdu.select_application(aid))
    jpki = JpkiCard.open(connection)
    jpki.read_auth_certificate()
    assert card.apdu_log, "the card saw the JPKI commands"
    assert_log_is_clean(card)
    # test_virtual_card proves the emulator would answer 9000: only the allow-list stopped it.


def test_a_card_held_by_another_program_is_reported_as_in_use(
    connection: PcscConnection,
) -> None:
    # The bridge opens cards exclusively, so nothing can slip commands between VERIFY and sign.
    with pytest.raises(CardInUse, match="another program"):
        PcscReaders().connect(VPCD_READER, timeout=0.5)
    assert JpkiCard.open(connection).token == b"JPKIAPICCTOKEN2"


def test_closing_resets_the_card_so_the_next_tap_needs_the_pin_again(
    inserted_card: VpcdLink,
) -> None:
    first = PcscReaders().connect(VPCD_READER, timeout=5.0)
    JpkiCard.open(first).verify_pin(TEST_PIN)
    first.close()
    second = PcscReaders().connect(VPCD_READER, timeout=5.0)
    try:
        with pytest.raises(PinRequired):
            JpkiCard.open(second).sign(b"borrowed PIN status?")
    finally:
        second.close()


def test_no_reader_with_that_name(inserted_card: VpcdLink) -> None:
    with pytest.raises(ReaderNotFound, match="Virtual PCD 07 07"):
        PcscReaders().connect("Virtual PCD 07 07", timeout=1.0)


def test_no_card_in_the_reader_before_the_deadline(vpcd_reader: str) -> None:
    from tests.card.conftest import wait_for_presence

    wait_for_presence(False)
    with pytest.raises(NoCardPresent, match="deadline"):
        PcscReaders().connect(vpcd_reader, timeout=0.5)


def test_connect_waits_for_a_card_that_arrives_late(
    vpcd_reader: str, card: VirtualMyNumberCard
) -> None:
    import threading

    from tests.card.conftest import wait_for_presence

    wait_for_presence(False)
    link = VpcdLink(card)
    later = threading.Timer(0.3, link.connect)
    later.start()
    try:
        connection = PcscReaders().connect(None, timeout=5.0)
        try:
            assert connection.reader == vpcd_reader
            assert JpkiCard.open(connection).token == b"JPKIAPICCTOKEN2"
        finally:
            connection.close()
    finally:
        later.join()
        link.disconnect()
        wait_for_presence(False)


def test_no_pcscd_is_reported_as_such() -> None:
    # libpcsclite finds pcscd through this socket path; pointing it nowhere is "pcscd not running".
    environment = dict(os.environ, PCSCLITE_CSOCK_NAME="/nonexistent/pcscd.comm")
    probe = (
        "from card_bridge.pcsc import PcscReaders\n"
        "from card_bridge.errors import PcscUnavailable\n"
        "try:\n    PcscReaders().list_readers()\n"
        "except PcscUnavailable as error:\n    print('unavailable:', error)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        check=False,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.startswith("unavailable: the PC/SC service is not running"), result
