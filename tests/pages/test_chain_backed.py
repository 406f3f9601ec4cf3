"""The pages on a real ledger through the chain side: grant, My Page balance and history, and a
treasurer closing a period and downloading the statement CSV.

Uses the chain tests' world (a dev node with the demo consortium and the API's key ring), with
the pages mounted on an app built with `create_app(chain=...)`.
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.cards import JpkiCardVerifier
from api.chain.side import build_chain_side
from api.clock import SystemClock
from api.pages import PagesSettings
from api.pages.virtual_card import FreshVirtualCards
from api.settings import ApiSettings
from api.store.database import open_store
from tests.api.conftest import FAST_HASHING
from tests.api_chain.conftest import ChainWorld, world  # noqa: F401 - the session's dev ledger
from tests.pages.conftest import COMPLETE_FORM, RESIDENT_PASSWORD, STAFF_PASSWORD, add_staff


@pytest.fixture
def client(tmp_path: Path, world: ChainWorld) -> Iterator[TestClient]:  # noqa: F811
    settings = ApiSettings.for_data_dir(
        tmp_path / "data",
        password_hashing=FAST_HASHING,
        mail_from="noreply@mykey.test",
        follow_chain=False,
    )
    clock = SystemClock()
    side = build_chain_side(world.config, world.keys, clock)
    pages = PagesSettings(
        rpc_url=world.node.http_url,
        deployment=world.demo.deployment,
        virtual_card=FreshVirtualCards(world.authority),
        secure_cookies=False,
    )
    app = create_app(
        settings, cards=JpkiCardVerifier(world.trust), clock=clock, chain=side, pages=pages
    )
    with TestClient(app) as test_client:
        store = open_store(settings.database_url)
        add_staff(store, "kawasaki.staff", "14130")
        add_staff(store, "kawasaki.treasurer", "14130", role="treasurer")
        store.close()
        yield test_client


def fresh_mykey_id() -> str:
    return "P" + "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(7))


def test_grant_shows_on_my_page_and_the_treasurer_closes_and_downloads(
    client: TestClient,
) -> None:
    mykey_id = fresh_mykey_id()
    client.post("/my/register/virtual-card", data={"pin": "1234"})
    client.post("/my/register", data={"action": "check", "candidate": mykey_id})
    done = client.post("/my/register", data=COMPLETE_FORM)
    assert done.status_code == 201, done.text

    client.post("/staff/login", data={"login_name": "kawasaki.staff", "password": STAFF_PASSWORD})
    granted = client.post(
        "/staff/grants",
        data={"mykey_id": mykey_id, "points": "300", "activity": "volunteering"},
    )
    assert "付与しました" in granted.text, granted.text
    client.post("/staff/logout")

    client.app.state.indexer.catch_up()  # type: ignore[attr-defined]
    page = client.post("/my/login", data={"mykey_id": mykey_id, "password": RESIDENT_PASSWORD})
    assert '<td>川崎市</td><td>通常口座</td><td class="number">300</td>' in page.text
    assert f"川崎市が {mykey_id} に 300 ポイント付与（ボランティア活動）" in page.text
    client.post("/my/logout")

    client.post(
        "/staff/login", data={"login_name": "kawasaki.treasurer", "password": STAFF_PASSWORD}
    )
    statement = client.get("/staff/treasury")
    assert statement.status_code == 200, statement.text
    period = int(re.search(r'id="period" name="period" value="(\d+)"', statement.text).group(1))  # type: ignore[union-attr]
    assert "すべての行が精算契約の数値と一致しています。" in statement.text
    closed = client.post(f"/staff/treasury/{period}/close")
    assert "精算期間を締めました。" in closed.text, closed.text
    again = client.get("/staff/treasury")
    assert f'value="{period + 1}"' in again.text
    csv = client.get(f"/staff/treasury/{period}/statement.csv")
    assert csv.status_code == 200
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines()[0].startswith("municipality,period,side,counterparty")


def test_a_resident_places_reserved_points_with_the_card(
    client: TestClient,
    world: ChainWorld,  # noqa: F811
) -> None:
    mykey_id = fresh_mykey_id()
    client.post("/my/register/virtual-card", data={"pin": "1234"})
    client.post("/my/register", data={"action": "check", "candidate": mykey_id})
    assert client.post("/my/register", data=COMPLETE_FORM).status_code == 201
    side = client.app.state.chain  # type: ignore[attr-defined]
    side.ledger.convert(world.demo.partner.partner_id, mykey_id, 700, secrets.token_bytes(32))
    page = client.post("/my/login", data={"mykey_id": mykey_id, "password": RESIDENT_PASSWORD})
    reserve = re.search(r'action="/my/reserves/(\d+)/place"', page.text)
    assert reserve is not None, page.text
    reserve_id = reserve.group(1)
    assert "700 ポイント（受け取り期限" in page.text
    wrong = client.post(
        f"/my/reserves/{reserve_id}/place", data={"municipality_code": "13116", "pin": "0000"}
    )
    assert wrong.status_code == 422
    assert "暗証番号が正しくありません（残り2回）。" in wrong.text
    assert f'id="place-{reserve_id}-pin-error"' in wrong.text
    placed = client.post(
        f"/my/reserves/{reserve_id}/place", data={"municipality_code": "13116", "pin": "1234"}
    )
    assert "予約ポイントを選んだ自治体の口座で受け取りました。" in placed.text, placed.text
    assert '<td>豊島区</td><td>通常口座</td><td class="number">700</td>' in placed.text
    assert "予約中のポイントはありません。" in placed.text
