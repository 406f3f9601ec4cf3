"""Counter fixtures: the fake API on a free loopback port, a terminal key, the real card stack.

The pcscd and vpcd fixtures are the session-wide ones of tests/conftest.py, so the counter's
card tests take the same `reader_lock()` as tests/card and never overlap another run's. The
virtual card's certificate is made around the wall clock (pcscd-side tests run in real time).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from card_bridge.counter.config import DeliveryMode
from card_bridge.counter.http_api import HttpCounterApi
from card_bridge.counter.session import CounterSession
from card_bridge.pcsc import PcscReaders
from card_bridge.virtual_card.card import VirtualMyNumberCard
from card_bridge.virtual_card.issuance import TestAuthority, generate_key, issue_card
from card_bridge.virtual_card.vpcd import VPCD_READER, VpcdLink
from tests.card.conftest import TEST_PIN, Pki, wait_for_presence
from tests.counter.fake_api import (
    FakeApiServer,
    FakePlatform,
    FakeResident,
    FakeServiceLink,
    FakeTerminal,
)

BUSINESS = "kawasaki-books"
SERVICE = "kawasaki-library"
SERVICE_ID = "LIB-00012345"
ALL_KINDS = ("service-id-lookup", "point-use", "voucher-issue")


class RecordingKeyboard:
    """The keyboard port's fake: remembers what it was asked to type."""

    def __init__(self) -> None:
        self.typed: list[tuple[str, bool]] = []

    def type_text(self, text: str, *, press_enter: bool) -> None:
        self.typed.append((text, press_enter))


@pytest.fixture(scope="session")
def live_pki() -> Pki:
    now = datetime.now(UTC)
    authority = TestAuthority.create(now)
    keys = (generate_key(), generate_key())
    return Pki(authority, authority, keys, issue_card(authority, now, key=keys[0]))


@pytest.fixture(scope="session")
def terminal_account() -> LocalAccount:
    account: LocalAccount = Account.create()
    return account


@pytest.fixture
def resident() -> FakeResident:
    return FakeResident(
        "A01B2C3D", 4000, links={SERVICE: FakeServiceLink(SERVICE_ID, valid_today_only=True)}
    )


@pytest.fixture
def platform(live_pki: Pki, terminal_account: LocalAccount, resident: FakeResident) -> FakePlatform:
    state = FakePlatform()
    state.terminals[terminal_account.address.lower()] = FakeTerminal(BUSINESS, ALL_KINDS)
    state.services[SERVICE] = ("川崎市立図書館", BUSINESS)
    state.businesses_taking_points.add(BUSINESS)
    state.register_card(live_pki.card.auth_certificate, resident)
    return state


@pytest.fixture
def fake_api(platform: FakePlatform) -> Iterator[FakeApiServer]:
    server = FakeApiServer(platform)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def api(fake_api: FakeApiServer, terminal_account: LocalAccount) -> Iterator[HttpCounterApi]:
    client = HttpCounterApi(fake_api.url, terminal_account)
    yield client
    client.close()


@pytest.fixture
def keyboard() -> RecordingKeyboard:
    return RecordingKeyboard()


@pytest.fixture
def session(
    api: HttpCounterApi,
    terminal_account: LocalAccount,
    keyboard: RecordingKeyboard,
    tmp_path: Path,
) -> CounterSession:
    return CounterSession(
        api=api,
        readers=PcscReaders(),
        terminal_address=terminal_account.address,
        business=BUSINESS,
        service_code=SERVICE,
        delivery=DeliveryMode.SCREEN,
        reader=VPCD_READER,
        card_timeout_seconds=3.0,
        keyboard=keyboard,
        label_directory=tmp_path / "labels",
        clock=lambda: datetime.now(UTC),
    )


@pytest.fixture
def card(live_pki: Pki) -> VirtualMyNumberCard:
    return VirtualMyNumberCard(live_pki.card, pin=TEST_PIN)


@pytest.fixture
def inserted_card(vpcd_reader: str, card: VirtualMyNumberCard) -> Iterator[VpcdLink]:
    """The virtual card in the vpcd reader for this test; taken out (and seen gone) after it."""
    wait_for_presence(False)
    link = VpcdLink(card)
    link.connect()
    yield link
    link.disconnect()
    wait_for_presence(False)
