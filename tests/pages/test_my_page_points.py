"""My Page's points: balances and reserves from the ledger reader, history from the indexer."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.errors import LedgerUnavailable
from api.messages import Message
from api.pages import PagesSettings
from api.store.database import open_store
from api.store.models import ChainEvent
from card_bridge.virtual_card.issuance import TestAuthority
from tests.api.conftest import START
from tests.pages.conftest import RESIDENT_PASSWORD, build_app_parts, card_verifier, register


@dataclass(frozen=True)
class FakeReserve:
    reserve_id: int
    amount: int
    deadline: int
    home: int
    partner: int


@dataclass
class FakePointsReader:
    """Balances per (MyKey ID, municipality), reserves per MyKey ID, and who was asked."""

    balances: dict[tuple[str, int], int] = field(default_factory=dict)
    reserves: dict[str, list[FakeReserve]] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)
    down: bool = False

    def municipalities(self) -> list[int]:
        if self.down:
            raise LedgerUnavailable(Message("台帳に接続できません。", "ledger down"))
        return [13116, 14130]

    def balance_of(self, mykey_id: str, municipality: int) -> int:
        self.asked.append(mykey_id)
        return self.balances.get((mykey_id, municipality), 0)

    def pending_reserves(self, mykey_id: str) -> Sequence[FakeReserve]:
        self.asked.append(mykey_id)
        return self.reserves.get(mykey_id, [])


@pytest.fixture
def reader() -> FakePointsReader:
    return FakePointsReader(
        balances={("TANAKA01", 14130): 4000, ("TANAKA01", 13116): 5000, ("SUZUKI02", 14130): 7},
        reserves={"TANAKA01": [FakeReserve(7, 1000, START + 14 * 86400, 14130, 1)]},
    )


@pytest.fixture
def client(
    tmp_path: Path, authority: TestAuthority, reader: FakePointsReader
) -> Iterator[TestClient]:
    settings, ledger, points, clock, generator, desk, _ = build_app_parts(tmp_path, authority)
    pages = PagesSettings(virtual_card=desk, secure_cookies=False, points_reader=reader)
    app = create_app(
        settings,
        ledger=ledger,
        points=points,
        cards=card_verifier(authority),
        clock=clock,
        generate_candidate=generator,
        pages=pages,
    )
    with TestClient(app) as test_client:
        store = open_store(settings.database_url)
        with store.sessions() as db:
            db.add(
                ChainEvent(
                    block_number=5,
                    log_index=0,
                    block_timestamp=START,
                    transaction_hash="0x" + "ab" * 32,
                    contract="PointLedger",
                    name="PointsGranted",
                    mykey_id="TANAKA01",
                    municipality=14130,
                    counterparty=None,
                    amount=200,
                    period=None,
                    args_json=json.dumps(
                        {
                            "mykeyId": "TANAKA01",
                            "municipality": 14130,
                            "account": 0,
                            "amount": 200,
                            "activity": 1,
                            "referenceHash": "0x" + "00" * 32,
                            "terminal": "0x" + "11" * 20,
                            "expiresAt": START + 180 * 86400,
                        }
                    ),
                )
            )
            db.commit()
        store.close()
        yield test_client


def log_in(client: TestClient) -> str:
    register(client, "TANAKA01")
    page = client.post("/my/login", data={"mykey_id": "TANAKA01", "password": RESIDENT_PASSWORD})
    assert page.status_code == 200
    text: str = page.text
    return text


def test_balances_reserves_and_history_of_the_resident_only(
    client: TestClient, reader: FakePointsReader
) -> None:
    page = log_in(client)
    assert '<td>川崎市</td><td>通常口座</td><td class="number">4,000</td>' in page
    assert '<td>豊島区</td><td>通常口座</td><td class="number">5,000</td>' in page
    assert "1,000" in page and "2026-10-05" in page  # reserve deadline, 14 days on, JST
    assert "川崎市が TANAKA01 に 200 ポイント付与（ボランティア活動）" in page
    assert "2027-03-20" in page  # that grant's expiry
    assert set(reader.asked) == {"TANAKA01"}
    assert "SUZUKI02" not in page


def test_a_ledger_outage_is_said_not_guessed(client: TestClient, reader: FakePointsReader) -> None:
    reader.down = True
    page = log_in(client)
    assert 'id="points-unavailable"' in page
    assert "台帳に接続できません。" in page
    assert 'id="balances"' not in page
