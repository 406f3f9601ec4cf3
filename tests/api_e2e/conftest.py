"""Fixtures for the resident journey: its own dev node, a clock that moves with it, the real stack.

Moving block time changes the whole chain for every test sharing a node, and a municipality's
reserve deadlines never decrease, so this module starts its OWN dev node (LevelDB in its own tmp
dir, sub-second blocks) with the demo consortium instead of the session node of tests/api_chain.

Invariants the fixtures keep:
- The API's clock is wall time plus exactly the seconds the test added to the node's block clock
  (`JourneyClock.advance` is called only by `Journey.move_block_time`, right after the node's
  `evm_increaseTime` + `evm_mine`), so attestations the API signs after the move carry deadlines
  in the chain's time, and terminal requests are signed on the API's time.
- The test authority's revocation list is valid for longer than the journey moves the clock, so
  the card is still accepted 14 days later.
- Every card step goes through pcscd to the virtual card in the vpcd reader, with the PIN.
- Mail goes to a real SMTP server on a free loopback port; nothing listens beyond 127.0.0.1.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from fastapi.testclient import TestClient
from httpx import Response

from api.app import create_app
from api.cards import JpkiCardVerifier
from api.chain.side import ChainSide, build_chain_side
from api.notices.sender import OutboxSender, SmtpTarget
from api.settings import ApiSettings
from api.store.database import Store, open_store
from card_bridge.jpki import JpkiCard
from card_bridge.pcsc import PcscReaders
from card_bridge.virtual_card.card import VirtualMyNumberCard
from card_bridge.virtual_card.issuance import issue_card
from card_bridge.virtual_card.vpcd import VPCD_READER, VpcdLink
from tests.api.smtp_server import SmtpServer
from tests.api_chain.conftest import FAST_HASHING, ChainWorld, running_world, signed
from tests.card.conftest import wait_for_presence

BLOCK_PERIOD_SECONDS = 0.1
"""Sub-second blocks: a transaction waits ~0.1 s for its block instead of a whole second."""

CARD_PIN = "4321"
"""The virtual card's test PIN."""

CRL_VALIDITY = timedelta(days=30)
"""Longer than the journey moves the clock (14 days), so the card's CRL check still passes."""

MAIL_DOMAIN = "mykey.test"


class DevClockRefused(RuntimeError):
    """The node refused an evm_ request (is it a dev node with clock control?)."""


class JourneyClock:
    """The API's clock: wall time plus the seconds the node's block clock was moved forward."""

    def __init__(self) -> None:
        self.offset = 0

    def now(self) -> int:
        return int(time.time()) + self.offset

    def advance(self, seconds: int) -> None:
        self.offset += seconds


class PcscCard:
    """The virtual My Number Card in the vpcd reader, reached only through pcscd (as a counter)."""

    def __init__(self, certificate_der: bytes) -> None:
        self.certificate_der = certificate_der

    def sign(self, data: bytes, pin: str = CARD_PIN) -> bytes:
        """Verify the PIN on the card and have it sign `data` (JPKI authentication key)."""
        connection = PcscReaders().connect(VPCD_READER, timeout=5.0)
        try:
            jpki = JpkiCard.open(connection)
            certificate = jpki.read_auth_certificate()
            assert certificate == self.certificate_der, "a different card is in the reader"
            jpki.verify_pin(pin)
            return jpki.sign(data)
        finally:
            connection.close()

    def answer(self, data: bytes) -> dict[str, str]:
        """The JSON fields of a card answer: certificate and signature, standard base64."""
        return {
            "certificate": base64.b64encode(self.certificate_der).decode(),
            "signature": base64.b64encode(self.sign(data)).decode(),
        }


@dataclass
class Journey:
    """Everything the journey drives: node, API, clock, card, mail server, store."""

    world: ChainWorld
    side: ChainSide
    api: TestClient
    clock: JourneyClock
    card: PcscCard
    smtp: SmtpServer
    store: Store
    settings: ApiSettings
    senders: list[str] = field(default_factory=list)

    def dev(self, method: str, *params: Any) -> Any:
        """Call a dev clock method on the node; raise DevClockRefused with its error."""
        answer = self.world.w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
        if "error" in answer:
            raise DevClockRefused(f"{method} failed: {answer['error']}")
        return answer["result"]

    def block_time(self) -> int:
        return int(self.world.w3.eth.get_block("latest")["timestamp"])

    def move_block_time(self, seconds: int) -> int:
        """Move block time and the API clock forward by `seconds`; return the new head time."""
        self.dev("evm_increaseTime", seconds)
        self.dev("evm_mine")
        self.clock.advance(seconds)
        return self.block_time()

    def terminal_call(
        self, key: str, method: str, path: str, body: object | None = None
    ) -> Response:
        """A request signed by the terminal with `key`, timestamped on the API's clock."""
        headers, raw = signed(self.api, key, method, path, body, timestamp=self.clock.now())
        response: Response = self.api.request(method, path, content=raw, headers=headers)
        return response

    def sender(self) -> OutboxSender:
        """A fresh notice sender (as a restarted process would be) on the API's clock."""
        owner = f"journey-sender-{len(self.senders) + 1}"
        self.senders.append(owner)
        return OutboxSender(
            sessions=self.store.sessions,
            target=SmtpTarget(
                host="127.0.0.1", port=self.smtp.port, mail_from=self.settings.mail_from
            ),
            clock=self.clock,
            owner=owner,
        )


@pytest.fixture(scope="module")
def journey_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainWorld]:
    """A dev node of this module's own, with the demo consortium deployed on it."""
    with running_world(
        tmp_path_factory, block_period=BLOCK_PERIOD_SECONDS, crl_validity=CRL_VALIDITY
    ) as own:
        yield own


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def pcsc_card(vpcd_reader: str, journey_world: ChainWorld) -> Iterator[PcscCard]:
    """A fresh virtual card in the vpcd reader for this module; taken out (and seen gone) after."""
    issue = issue_card(journey_world.authority, datetime.now(UTC))
    wait_for_presence(False)
    link = VpcdLink(VirtualMyNumberCard(issue, pin=CARD_PIN))
    link.connect()
    try:
        wait_for_presence(True)
        yield PcscCard(issue.auth_certificate.public_bytes(serialization.Encoding.DER))
    finally:
        link.disconnect()
        wait_for_presence(False)


@pytest.fixture(scope="module")
def journey(
    journey_world: ChainWorld,
    pcsc_card: PcscCard,
    smtp: SmtpServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Journey]:
    """The API (with the chain side, on the journey's clock) over its own SQLite store."""
    settings = ApiSettings.for_data_dir(
        tmp_path_factory.mktemp("journey-api") / "data",
        password_hashing=FAST_HASHING,
        mail_from=f"noreply@{MAIL_DOMAIN}",
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        follow_chain=False,
    )
    clock = JourneyClock()
    side = build_chain_side(journey_world.config, journey_world.keys, clock)
    app = create_app(settings, cards=JpkiCardVerifier(journey_world.trust), clock=clock, chain=side)
    with TestClient(app, raise_server_exceptions=False) as api:
        store = open_store(settings.database_url)
        try:
            yield Journey(journey_world, side, api, clock, pcsc_card, smtp, store, settings)
        finally:
            store.close()
