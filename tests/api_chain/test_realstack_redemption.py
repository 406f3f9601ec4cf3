"""A redemption with the virtual card on the real PC/SC stack: pcscd, vpcd, PIN, JPKI signature.

The card sits in `Virtual PCD 00 00` and is reached only through pyscard and pcscd, as the
counter does with a real reader; it signs the API's statement after the PIN, and the API settles
the redemption on the real node.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import serialization
from fastapi.testclient import TestClient

from api.store.database import Store
from card_bridge.jpki import JpkiCard
from card_bridge.pcsc import PcscReaders
from card_bridge.virtual_card.card import VirtualMyNumberCard
from card_bridge.virtual_card.issuance import issue_card
from card_bridge.virtual_card.vpcd import VPCD_READER, VpcdLink
from contracts.domain import TerminalKind
from tests.api_chain.conftest import (
    ChainWorld,
    VirtualCard,
    b64url_decode,
    grant,
    register,
    staff_token,
    terminal_call,
    terminal_key,
)
from tests.card.conftest import wait_for_presence

pytestmark = [pytest.mark.realstack, pytest.mark.timeout(180)]
PIN = "4321"


@pytest.fixture
def card_in_reader(vpcd_reader: str, world: ChainWorld) -> Iterator[VirtualCard]:
    issue = issue_card(world.authority, datetime.now(UTC))
    wait_for_presence(False)
    link = VpcdLink(VirtualMyNumberCard(issue, pin=PIN))
    link.connect()
    try:
        wait_for_presence(True)
        yield VirtualCard(issue)
    finally:
        link.disconnect()
        wait_for_presence(False)


def test_redemption_signed_by_the_card_through_pcscd(
    world: ChainWorld, api: TestClient, store: Store, card_in_reader: VirtualCard
) -> None:
    mykey_id = register(api, card_in_reader)  # registration answered in memory by the same key
    grant(api, staff_token(store, api, role="municipal-staff", organisation="14130"), mykey_id, 500)
    key = terminal_key(world, "store", TerminalKind.POINT_USE)
    opened = terminal_call(api, key, "POST", "/terminal/v1/redemptions", {"amount": 120}).json()
    statement = b64url_decode(opened["statement"])

    connection = PcscReaders().connect(VPCD_READER, timeout=5.0)
    try:
        jpki = JpkiCard.open(connection)
        certificate = jpki.read_auth_certificate()
        jpki.verify_pin(PIN)
        signature = jpki.sign(statement)
    finally:
        connection.close()
    assert certificate == card_in_reader.issue.auth_certificate.public_bytes(
        serialization.Encoding.DER
    )
    answered = terminal_call(
        api,
        key,
        "POST",
        f"/terminal/v1/redemptions/{opened['action_id']}/card-answer",
        {
            "certificate": base64.b64encode(certificate).decode(),
            "signature": base64.b64encode(signature).decode(),
        },
    )

    assert answered.status_code == 200, answered.text
    assert answered.json()["remaining_balance"] == 380
