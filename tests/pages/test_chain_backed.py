"""The pages on a real ledger through the chain side: grant, My Page balance and history, a
treasurer closing a period and downloading the statement CSV, the explorer's outstanding points
against the ledger's totals and the residents' own points, and My Page's list of vouchers.

Uses the chain tests' world (a dev node with the demo consortium and the API's key ring), with
the pages mounted on an app built with `create_app(chain=...)`.
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
import string
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select

from api.app import create_app
from api.cards import JpkiCardVerifier
from api.chain.side import build_chain_side
from api.clock import SystemClock
from api.pages import PagesSettings
from api.pages.virtual_card import FreshVirtualCards
from api.settings import ApiSettings
from api.store.database import Store, open_store
from api.store.models import ChainEvent
from contracts.client import LedgerClient
from contracts.domain import TerminalKind
from tests.api.conftest import FAST_HASHING
from tests.api_chain.conftest import (
    KAWASAKI,
    ChainWorld,
    VirtualCard,
    b64url_decode,
    grant,
    new_card,
    register,
    staff_token,
    terminal_call,
    terminal_key,
    world,  # noqa: F401 - the session's dev ledger
)
from tests.pages.conftest import COMPLETE_FORM, RESIDENT_PASSWORD, STAFF_PASSWORD, add_staff


@pytest.fixture
def settings(tmp_path: Path) -> ApiSettings:
    return ApiSettings.for_data_dir(
        tmp_path / "data",
        password_hashing=FAST_HASHING,
        mail_from="noreply@mykey.test",
        follow_chain=False,
    )


@pytest.fixture
def client(settings: ApiSettings, world: ChainWorld) -> Iterator[TestClient]:  # noqa: F811
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


@pytest.fixture
def store(settings: ApiSettings, client: TestClient) -> Iterator[Store]:
    opened = open_store(settings.database_url)
    yield opened
    opened.close()


def number(text: str) -> int:
    return int(text.replace(",", ""))


def answered(client: TestClient, key: str, path: str, amount: int, card: VirtualCard) -> Response:
    """Open a terminal action (redemption or voucher) and answer it with `card`."""
    opened = terminal_call(client, key, "POST", path, {"amount": amount})
    assert opened.status_code == 201, opened.text
    statement = b64url_decode(opened.json()["statement"])
    done = terminal_call(
        client,
        key,
        "POST",
        f"{path}/{opened.json()['action_id']}/card-answer",
        card.answer(statement),
    )
    assert done.status_code == 200, done.text
    return done


def test_the_explorers_outstanding_is_the_ledgers_and_the_residents_points(
    client: TestClient,
    store: Store,
    world: ChainWorld,  # noqa: F811
) -> None:
    def outstanding() -> int:
        page = client.get("/explorer/municipalities/14130")
        found = re.search(r'id="outstanding"><strong>([0-9,]+)</strong>', page.text)
        assert found is not None, page.text
        return number(found.group(1))

    before = outstanding()
    card_a, card_b = new_card(world), new_card(world)
    resident_a, resident_b = register(client, card_a), register(client, card_b)
    token = staff_token(store, client, role="municipal-staff", organisation="14130")
    grant(client, token, resident_a, 300)
    grant(client, token, resident_b, 500)
    till = terminal_key(world, "store", TerminalKind.POINT_USE)
    redeemed = answered(client, till, "/terminal/v1/redemptions", 120, card_a)
    assert redeemed.json()["remaining_balance"] == 180

    after = outstanding()
    assert after - before == 300 + 500 - 120
    ledger = LedgerClient(world.w3, world.demo.deployment)
    totals = ledger.totals_of(KAWASAKI)
    assert after == (
        totals["granted"]
        + totals["converted"]
        + totals["refunded"]
        - totals["redeemed"]
        - totals["vouchered"]
        - totals["expired"]
    )
    home = client.get("/explorer")
    row = re.search(r'id="outstanding-14130">([0-9,]+)<', home.text)
    assert row is not None and number(row.group(1)) == after
    fragment = client.get("/explorer/totals")
    assert "<html" not in fragment.text and f">{after:,}<" in fragment.text

    # Every resident's recorded points in Kawasaki, account by account, add up to it.
    client.app.state.indexer.catch_up()  # type: ignore[attr-defined]
    with store.sessions() as db:
        rows = db.scalars(
            select(ChainEvent).where(
                ChainEvent.municipality == KAWASAKI, ChainEvent.mykey_id.is_not(None)
            )
        ).all()
        accounts = {
            (row.mykey_id, int(json.loads(row.args_json).get("account", 0))) for row in rows
        }
    recorded = sum(
        amount
        for mykey_id, account in accounts
        if mykey_id is not None
        for _expires, amount in ledger.lots_of(mykey_id, KAWASAKI, account)
    )
    assert recorded == after
    assert ledger.balance_of(resident_a, KAWASAKI) + ledger.balance_of(resident_b, KAWASAKI) == 680

    # The chart's numbers, rebuilt from the indexed events, end at the ledger's figure today.
    live = client.get("/explorer/municipalities/14130/figures")
    assert "<html" not in live.text and 'id="outstanding-per-day"' in live.text
    days = [
        [number(cell) for cell in cells]
        for cells in re.findall(
            r'<tr><th scope="row">\d{4}-\d{2}-\d{2}</th><td class="number">([0-9,]+)</td>'
            r'<td class="number">([0-9,]+)</td><td class="number">([-+0-9,]+)</td>'
            r'<td class="number">([0-9,]+)</td></tr>',
            live.text,
        )
    ]
    assert len(days) == 14
    assert days[-1][3] == after
    assert days[-1][0] >= 800 and days[-1][1] >= 120
    for yesterday, today in itertools.pairwise(days):  # each row follows from the one before
        assert today[3] == yesterday[3] + today[0] - today[1] + today[2]
    assert f"{after:,}" in re.search(r"<desc[^>]*>(.*?)</desc>", live.text).group(1)  # type: ignore[union-attr]


def test_my_page_lists_only_the_residents_own_vouchers_with_their_status(
    client: TestClient,
    store: Store,
    world: ChainWorld,  # noqa: F811
) -> None:
    card_a, card_b = new_card(world), new_card(world)
    resident_a, resident_b = register(client, card_a), register(client, card_b)
    token = staff_token(store, client, role="municipal-staff", organisation="14130")
    grant(client, token, resident_a, 700)
    grant(client, token, resident_b, 400)
    issuer = terminal_key(world, "store", TerminalKind.VOUCHER_ISSUE)
    first = answered(client, issuer, "/terminal/v1/vouchers", 200, card_a).json()
    second = answered(client, issuer, "/terminal/v1/vouchers", 100, card_a).json()
    other = answered(client, issuer, "/terminal/v1/vouchers", 333, card_b).json()
    first_id, second_id, other_id = (
        int(item["voucher_code"].removeprefix("V-")) for item in (first, second, other)
    )
    till = terminal_key(world, "store", TerminalKind.POINT_USE)
    used = terminal_call(
        client,
        till,
        "POST",
        "/terminal/v1/voucher-redemptions",
        {"voucher_id": first_id, "secret": first["voucher_secret"]},
    )
    assert used.status_code == 201, used.text
    client.app.state.indexer.catch_up()  # type: ignore[attr-defined]

    page = client.post("/my/login", data={"mykey_id": resident_a, "password": RESIDENT_PASSWORD})
    listed = re.findall(r'<tr id="voucher-(\d+)" data-status="(\w+)">', page.text)
    assert listed == [(str(second_id), "usable"), (str(first_id), "redeemed")]
    row = re.search(rf'<tr id="voucher-{second_id}".*?</tr>', page.text, re.S)
    assert row is not None
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(0), re.S)
    assert cells[1] == world.demo.businesses["store"].name
    assert cells[2] == "川崎市" and cells[3] == "100"
    assert "利用できます" in cells[5]
    assert f"voucher-{other_id}" not in page.text and "333" not in page.text
    client.post("/my/logout")

    page = client.post("/my/login", data={"mykey_id": resident_b, "password": RESIDENT_PASSWORD})
    listed = re.findall(r'<tr id="voucher-(\d+)" data-status="(\w+)">', page.text)
    assert listed == [(str(other_id), "usable")]
