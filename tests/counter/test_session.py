"""CounterSession end to end: the virtual card on pcscd + vpcd, the fake API over real HTTP.

Each delivery mode and each refusal of the counter, with the words staff see. After every test
the card is taken out; the PIN is checked to be absent from everything the API received.
"""

from __future__ import annotations

import io
import re

import pytest
import zxingcpp
from PIL import Image

from card_bridge import apdu
from card_bridge.counter.config import DeliveryMode
from card_bridge.counter.ports import ActionKind
from card_bridge.counter.session import (
    CounterSession,
    LookupDone,
    RedemptionDone,
    Refused,
    VoucherDone,
)
from card_bridge.virtual_card.card import VirtualMyNumberCard
from card_bridge.virtual_card.vpcd import VpcdLink
from tests.card.conftest import TEST_PIN, wait_for_presence
from tests.counter.conftest import SERVICE_ID, RecordingKeyboard
from tests.counter.fake_api import FakePlatform, FakeResident, FakeServiceLink

pytestmark = pytest.mark.realstack


def assert_pin_never_sent(platform: FakePlatform, *pins: str) -> None:
    """No request carries a PIN as a value of its own.

    A PIN is a token by itself (a JSON value, a header, a path segment); the same digits inside
    random hex or base64 (nonces, signatures) are chance, not a leak, so only a standalone
    occurrence counts.
    """
    for request in platform.requests:
        blob = request.body + repr(request.headers).encode() + request.path.encode()
        for pin in pins:
            token = re.escape(pin.encode())
            standalone = re.compile(rb"(?<![0-9A-Za-z])" + token + rb"(?![0-9A-Za-z])")
            assert standalone.search(blob) is None, request.path


def signed_anything(card: VirtualMyNumberCard) -> bool:
    return any(entry.command.startswith("802A0080") for entry in card.apdu_log)


# ---- service-ID lookup: the four deliveries ---------------------------------------------------


def test_lookup_on_screen_gives_the_number_and_the_staff_notes(
    inserted_card: VpcdLink, session: CounterSession, platform: FakePlatform
) -> None:
    outcome = session.look_up_service_id(TEST_PIN)
    assert isinstance(outcome, LookupDone), outcome
    assert outcome.result.service_id == SERVICE_ID
    assert outcome.delivery is DeliveryMode.SCREEN
    assert [note.code for note in outcome.staff_notes] == ["valid-today-only"]
    assert_pin_never_sent(platform, TEST_PIN)
    paths = [request.path for request in platform.requests]
    assert paths == ["/terminal/v1/lookups/challenges", "/terminal/v1/lookups"]


def test_lookup_shows_the_address_change_flag_to_staff(
    inserted_card: VpcdLink, session: CounterSession, resident: FakeResident
) -> None:
    resident.links["kawasaki-library"].address_changed_on = "2027-03-30"
    outcome = session.look_up_service_id(TEST_PIN)
    assert isinstance(outcome, LookupDone)
    notes = {note.code: note for note in outcome.staff_notes}
    assert "【住所変更あり】" in notes["address-changed"].japanese
    assert "2027-03-30" in notes["address-changed"].japanese
    assert "ADDRESS CHANGED" in notes["address-changed"].english


def test_lookup_as_barcode_encodes_the_number(
    inserted_card: VpcdLink, session: CounterSession
) -> None:
    outcome = session.look_up_service_id(TEST_PIN, delivery=DeliveryMode.BARCODE)
    assert isinstance(outcome, LookupDone)
    assert outcome.delivery is DeliveryMode.BARCODE
    assert outcome.barcode.text == SERVICE_ID


def test_lookup_typed_as_a_keyboard(
    inserted_card: VpcdLink, session: CounterSession, keyboard: RecordingKeyboard
) -> None:
    outcome = session.look_up_service_id(TEST_PIN, delivery=DeliveryMode.KEYBOARD)
    assert isinstance(outcome, LookupDone)
    assert outcome.typed and outcome.delivery is DeliveryMode.KEYBOARD
    assert keyboard.typed == [(SERVICE_ID, True)]


def test_lookup_on_a_label_that_decodes_back_to_the_number(
    inserted_card: VpcdLink, session: CounterSession
) -> None:
    outcome = session.look_up_service_id(TEST_PIN, delivery=DeliveryMode.LABEL)
    assert isinstance(outcome, LookupDone) and outcome.label is not None
    image = Image.open(io.BytesIO(outcome.label.png.read_bytes()))
    assert [found.text for found in zxingcpp.read_barcodes(image.convert("L"))] == [SERVICE_ID]
    assert outcome.label.pdf.read_bytes().startswith(b"%PDF")
    assert SERVICE_ID not in outcome.label.png.name


# ---- lookup refusals ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ("revoke", "mykey-id-revoked"),
        ("unlink", "service-link-missing"),
        ("expire", "service-link-expired"),
        ("forget-card", "mykey-id-not-registered"),
    ],
)
def test_lookup_refusals_from_the_platform(
    inserted_card: VpcdLink,
    *,
    session: CounterSession,
    platform: FakePlatform,
    resident: FakeResident,
    change: str,
    code: str,
) -> None:
    if change == "revoke":
        resident.revoked = True
    elif change == "unlink":
        resident.links.clear()
    elif change == "expire":
        resident.links["kawasaki-library"] = FakeServiceLink(SERVICE_ID, expired=True)
    else:
        platform.residents.clear()
    outcome = session.look_up_service_id(TEST_PIN)
    assert isinstance(outcome, Refused)
    assert outcome.message.code == code
    assert outcome.message.japanese and outcome.message.english


def test_wrong_pin_says_how_many_tries_are_left(
    inserted_card: VpcdLink, session: CounterSession, platform: FakePlatform
) -> None:
    outcome = session.look_up_service_id("1111")
    assert isinstance(outcome, Refused)
    assert outcome.message.code == "wrong-pin"
    assert "あと 2 回" in outcome.message.japanese
    assert "2 tries left" in outcome.message.english
    assert_pin_never_sent(platform, "1111", TEST_PIN)
    again = session.look_up_service_id(TEST_PIN)
    assert isinstance(again, LookupDone)


def test_a_locked_card_is_refused_before_a_challenge_is_spent(
    inserted_card: VpcdLink,
    card: VirtualMyNumberCard,
    session: CounterSession,
    platform: FakePlatform,
) -> None:
    card.tries_left = 0
    outcome = session.redeem(100, TEST_PIN)
    assert isinstance(outcome, Refused)
    assert outcome.message.code == "card-locked"
    assert "窓口" in outcome.message.japanese
    assert platform.requests == []


def test_a_pin_that_is_not_four_digits_is_not_sent_to_the_card(
    inserted_card: VpcdLink, card: VirtualMyNumberCard, session: CounterSession
) -> None:
    outcome = session.look_up_service_id("12a4")
    assert isinstance(outcome, Refused) and outcome.message.code == "pin-format"
    assert card.tries_left == 3


def test_card_pulled_out_mid_way_then_the_next_card_works(
    inserted_card: VpcdLink,
    card: VirtualMyNumberCard,
    session: CounterSession,
    resident: FakeResident,
) -> None:
    card.withdraw_at_instruction = apdu.INS_COMPUTE_DIGITAL_SIGNATURE
    outcome = session.redeem(300, TEST_PIN)
    assert isinstance(outcome, Refused)
    assert outcome.message.code == "card-removed"
    assert resident.balance == 4000
    inserted_card.disconnect()
    wait_for_presence(False)
    card.withdraw_at_instruction = None
    inserted_card.connect()
    again = session.redeem(300, TEST_PIN)
    assert isinstance(again, RedemptionDone), again
    assert again.result.remaining_balance == 3700


def test_no_card_in_the_reader(vpcd_reader: str, session: CounterSession) -> None:
    wait_for_presence(False)
    outcome = session.look_up_service_id(TEST_PIN)
    assert isinstance(outcome, Refused) and outcome.message.code == "no-card"


def test_no_such_reader(
    inserted_card: VpcdLink, api: object, session: CounterSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(session, "_reader", "Virtual PCD 07 07")
    outcome = session.look_up_service_id(TEST_PIN)
    assert isinstance(outcome, Refused) and outcome.message.code == "no-reader"


# ---- redemption and vouchers ------------------------------------------------------------------


def test_redemption_returns_the_remaining_balance(
    inserted_card: VpcdLink, session: CounterSession, platform: FakePlatform
) -> None:
    outcome = session.redeem(500, TEST_PIN)
    assert isinstance(outcome, RedemptionDone), outcome
    assert outcome.result.amount == 500
    assert outcome.result.remaining_balance == 3500
    assert outcome.result.municipality_code == "14130"
    assert_pin_never_sent(platform, TEST_PIN)


def test_not_enough_points_names_the_balance(
    inserted_card: VpcdLink, session: CounterSession, resident: FakeResident
) -> None:
    outcome = session.redeem(5000, TEST_PIN)
    assert isinstance(outcome, Refused)
    assert outcome.message.code == "insufficient-points"
    assert "4,000" in outcome.message.japanese and "4,000" in outcome.message.english
    assert resident.balance == 4000


def test_wrong_business_is_refused(
    inserted_card: VpcdLink, session: CounterSession, platform: FakePlatform
) -> None:
    platform.businesses_taking_points.clear()
    outcome = session.redeem(100, TEST_PIN)
    assert isinstance(outcome, Refused) and outcome.message.code == "wrong-business"


def test_voucher_issue(inserted_card: VpcdLink, session: CounterSession) -> None:
    outcome = session.issue_voucher(1000, TEST_PIN)
    assert isinstance(outcome, VoucherDone), outcome
    assert outcome.result.face_value == 1000
    assert outcome.result.remaining_balance == 3000
    assert outcome.result.voucher_code.startswith("V-")


def test_a_terminal_of_the_wrong_kind_is_refused(
    inserted_card: VpcdLink, session: CounterSession, platform: FakePlatform
) -> None:
    for terminal in platform.terminals.values():
        terminal.kinds = ("service-id-lookup",)
    outcome = session.issue_voucher(1000, TEST_PIN)
    assert isinstance(outcome, Refused) and outcome.message.code == "terminal-wrong-kind"


def test_the_card_does_not_sign_a_statement_for_another_amount(
    inserted_card: VpcdLink,
    card: VirtualMyNumberCard,
    session: CounterSession,
    platform: FakePlatform,
) -> None:
    platform.statement_amount_override = 9000
    outcome = session.redeem(100, TEST_PIN)
    assert isinstance(outcome, Refused) and outcome.message.code == "statement-mismatch"
    assert not signed_anything(card)
    assert card.tries_left == 3  # the PIN was not even sent


def test_an_invalid_amount_is_refused_without_touching_the_card(
    inserted_card: VpcdLink, card: VirtualMyNumberCard, session: CounterSession
) -> None:
    outcome = session.redeem(0, TEST_PIN)
    assert isinstance(outcome, Refused) and outcome.message.code == "amount-invalid"
    assert card.apdu_log == []
    assert ActionKind.REDEMPTION.value == "redemption"


def test_a_second_operation_while_one_runs_is_told_to_wait(session: CounterSession) -> None:
    assert session._busy.acquire(blocking=False)
    try:
        for outcome in (
            session.look_up_service_id(TEST_PIN),
            session.redeem(1, TEST_PIN),
            session.issue_voucher(1, TEST_PIN),
        ):
            assert isinstance(outcome, Refused) and outcome.message.code == "busy"
    finally:
        session._busy.release()
