"""Fixtures for the card bridge: test PKI, a fake clock, an in-memory transport, the real stack.

The PKI is made once per session (RSA-2048 keys take tens of milliseconds each) and is
immutable; each test gets a fresh virtual card around it. Real-stack fixtures start pcscd when
it is not running and we are root, take the vpcd reader lock so card tests on one machine never
overlap, and put the virtual card into `Virtual PCD 00 00` for one test at a time.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from card_bridge.errors import CardRemoved
from card_bridge.virtual_card.card import CardWithdrawn, VirtualMyNumberCard
from card_bridge.virtual_card.issuance import CardIssue, TestAuthority, generate_key, issue_card
from card_bridge.virtual_card.vpcd import VPCD_READER, VpcdLink

NOW = datetime(2027, 4, 1, 9, 0, tzinfo=UTC)
"""The fixed 'now' of unit tests."""

TEST_PIN = "4321"
"""The virtual card's test PIN."""


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


class MemoryTransport:
    """The virtual card without a socket: the fake transport of the unit tests."""

    def __init__(self, card: VirtualMyNumberCard) -> None:
        self.card = card
        self.sent: list[bytes] = []

    def transmit(self, command: bytes) -> bytes:
        self.sent.append(command)
        try:
            return self.card.process(command)
        except CardWithdrawn:
            raise CardRemoved("the card was removed during the operation") from None


@dataclass(frozen=True)
class Pki:
    """The session's test JPKI: a CA, a second unrelated CA, spare keys and one card's contents."""

    authority: TestAuthority
    other_authority: TestAuthority
    keys: tuple[rsa.RSAPrivateKey, ...]
    card: CardIssue


@pytest.fixture(scope="session")
def pki() -> Pki:
    authority = TestAuthority.create(NOW - timedelta(days=30))
    other = TestAuthority.create(NOW - timedelta(days=30), name="Some other TEST CA")
    keys = tuple(generate_key() for _ in range(3))
    return Pki(authority, other, keys, issue_card(authority, NOW, key=keys[0]))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def card(pki: Pki) -> VirtualMyNumberCard:
    return VirtualMyNumberCard(pki.card, pin=TEST_PIN)


@pytest.fixture
def transport(card: VirtualMyNumberCard) -> MemoryTransport:
    return MemoryTransport(card)


# ---- the real stack: pcscd + vpcd + the emulator -------------------------------------------


def wait_for_presence(present: bool, timeout: float = 3.0) -> None:
    """Wait until pcscd's view of the vpcd reader matches `present` (it polls every 400 ms)."""
    from card_bridge.pcsc import PcscReaders

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = {reader.name: reader.card_present for reader in PcscReaders().list_readers()}
        if states.get(VPCD_READER) == present:
            return
        time.sleep(0.05)
    raise AssertionError(f"pcscd did not see the card {'arrive' if present else 'leave'}")


@pytest.fixture
def inserted_card(vpcd_reader: str, card: VirtualMyNumberCard) -> Iterator[VpcdLink]:
    """The virtual card, in the vpcd reader for this test; taken out (and seen gone) after it."""
    wait_for_presence(False)
    link = VpcdLink(card)
    link.connect()
    yield link
    link.disconnect()
    wait_for_presence(False)
