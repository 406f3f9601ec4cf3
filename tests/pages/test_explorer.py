"""The explorer against a real dev ledger node with the demo consortium (JSON-RPC only), and its
per-day figures rebuilt from indexed events (the store filled as the indexer fills it)."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from web3 import Web3

from api.app import create_app
from api.pages import PagesSettings
from api.pages.charts import Series, grouped_bar_chart
from api.pages.outstanding import daily_figures
from api.store.database import Store, open_store
from api.store.models import ChainEvent
from card_bridge.virtual_card.issuance import TestAuthority
from contracts.client import LedgerClient
from contracts.events import event_topic, municipality_topic
from tests.api.conftest import START
from tests.pages.chain import DemoChain, demo_chain
from tests.pages.conftest import build_app_parts

DAY = 86400
JST_MIDNIGHT_OF_START = START - (START + 9 * 3600) % DAY
"""00:00 in Japan on the day of START (2026-09-21)."""


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoChain]:
    with demo_chain(tmp_path_factory.mktemp("explorer") / "dev") as running:
        yield running


@pytest.fixture
def explorer(tmp_path: Path, authority: TestAuthority, chain: DemoChain) -> Iterator[TestClient]:
    pages = PagesSettings(
        rpc_url=chain.rpc_url, deployment=chain.demo.deployment, secure_cookies=False
    )
    settings, ledger, points, clock, _generator, _desk, pages = build_app_parts(
        tmp_path, authority, pages
    )
    app = create_app(settings, ledger=ledger, points=points, clock=clock, pages=pages)
    with TestClient(app) as client:
        yield client


def test_home_lists_the_latest_blocks_and_transactions(explorer: TestClient) -> None:
    page = explorer.get("/explorer")
    assert page.status_code == 200
    assert re.search(r'<a href="/explorer/blocks/0">0</a>', page.text)
    assert 'id="latest-transactions"' in page.text
    assert 'data-refresh-url="/explorer/latest"' in page.text
    fragment = explorer.get("/explorer/latest")
    assert "<html" not in fragment.text and 'id="latest-blocks"' in fragment.text


def test_a_transaction_shows_its_point_events_in_words(
    explorer: TestClient, chain: DemoChain
) -> None:
    page = explorer.get(f"/explorer/transactions/{chain.grant_transaction}")
    assert page.status_code == 200
    events = re.findall(r'<li class="event">(.*?)</li>', page.text)
    assert any(
        re.fullmatch(r"川崎市が DEMOA001 に [0-9,]+ ポイント付与（.+）", e) for e in events
    ), events
    english = explorer.get(f"/explorer/transactions/{chain.grant_transaction}?lang=en")
    assert re.search(r"Kawasaki City granted [0-9,]+ points to DEMOA001", english.text)


def test_a_block_names_its_sealer_and_the_validators_page_counts_seals(
    explorer: TestClient, chain: DemoChain
) -> None:
    block = explorer.get(f"/explorer/blocks/{chain.grant_block}")
    sealer = re.search(r'id="block-sealer">(0x[0-9a-fA-F]{40})<', block.text)
    assert sealer is not None
    assert chain.grant_transaction[:18] in block.text
    validators = explorer.get("/explorer/validators")
    assert sealer.group(1) in validators.text
    assert explorer.get("/explorer/blocks/999999").status_code == 404


def test_search_finds_blocks_transactions_and_municipalities(
    explorer: TestClient, chain: DemoChain
) -> None:
    by_number = explorer.get("/explorer/search", params={"q": str(chain.grant_block)})
    assert f"ブロック {chain.grant_block}" in by_number.text
    by_hash = explorer.get("/explorer/search", params={"q": chain.grant_transaction})
    assert "台帳のできごと" in by_hash.text
    by_code = explorer.get("/explorer/search", params={"q": "14130"})
    assert "川崎市（14130）" in by_code.text
    assert re.search(r"川崎市が DEMOA001 に [0-9,]+ ポイント付与", by_code.text)
    by_name = explorer.get("/explorer/search", params={"q": "Toshima City"})
    assert "豊島区（13116）" in by_name.text
    nothing = explorer.get("/explorer/search", params={"q": "no such thing"})
    assert nothing.status_code == 404 and "当てはまるものはありません" in nothing.text


def test_without_a_node_the_explorer_says_so(tmp_path: Path, authority: TestAuthority) -> None:
    settings, ledger, points, clock, _g, _d, pages = build_app_parts(
        tmp_path,
        authority,
        PagesSettings(rpc_url="http://127.0.0.1:9", secure_cookies=False, rpc_timeout_seconds=1),
    )
    with TestClient(
        create_app(settings, ledger=ledger, points=points, clock=clock, pages=pages)
    ) as client:
        page = client.get("/explorer")
        assert page.status_code == 503
        assert "台帳のノードに接続できません。" in page.text


def test_a_municipality_page_sums_its_events_as_the_ledger_logs_them(
    explorer: TestClient, chain: DemoChain
) -> None:
    w3 = Web3(Web3.HTTPProvider(chain.rpc_url))
    logs = w3.eth.get_logs(
        {
            "fromBlock": 0,
            "toBlock": "latest",
            "address": chain.demo.deployment.ledger,
            "topics": [
                "0x" + event_topic("PointLedger", "PointsGranted").hex(),
                None,
                "0x" + municipality_topic(14130).hex(),
            ],
        }
    )
    # data starts with `amount` (mykeyId, municipality and account are indexed topics)
    granted = sum(int.from_bytes(bytes(log["data"])[:32], "big") for log in logs)
    assert granted > 0
    page = explorer.get("/explorer/municipalities/14130")
    row = re.search(r"<th scope=\"row\">付与</th><td class=\"number\">([0-9,]+)</td>", page.text)
    assert row is not None and int(row.group(1).replace(",", "")) == granted


def number(text: str) -> int:
    return int(text.replace(",", ""))


def test_home_shows_every_municipalitys_totals_and_outstanding_points(
    explorer: TestClient, chain: DemoChain
) -> None:
    ledger = LedgerClient(Web3(Web3.HTTPProvider(chain.rpc_url)), chain.demo.deployment)
    codes = [int(code) for code in ledger.consortium.functions.municipalityCodes().call()]
    assert codes
    page = explorer.get("/explorer")
    fragment = explorer.get("/explorer/totals")
    assert 'data-refresh-url="/explorer/totals"' in page.text
    assert "<html" not in fragment.text and 'id="totals-by-municipality"' in fragment.text
    for code in codes:
        totals = ledger.totals_of(code)
        expected = (
            totals["granted"]
            + totals["converted"]
            + totals["refunded"]
            - totals["redeemed"]
            - totals["vouchered"]
            - totals["expired"]
        )
        for html in (page.text, fragment.text):
            cell = re.search(rf'id="outstanding-{code:05d}">([0-9,]+)<', html)
            assert cell is not None and number(cell.group(1)) == expected
    assert number(re.search(r'id="outstanding-14130">([0-9,]+)<', page.text).group(1)) > 0  # type: ignore[union-attr]
    assert (
        "付与 ＋ 提携ポイントからの交換 ＋ 返還 − 利用 − ポイント券への交換 − 有効期限切れ"
        in page.text
    )
    english = explorer.get("/explorer?lang=en")
    assert "granted + converted from partner points + refunded − redeemed" in english.text


@dataclass
class IndexedExplorer:
    client: TestClient
    store: Store

    def add(self, name: str, amount: int, at: int, municipality: int = 14130) -> None:
        with self.store.sessions() as db:
            block = (db.query(ChainEvent).count() or 0) + 1
            db.add(
                ChainEvent(
                    block_number=block,
                    log_index=0,
                    block_timestamp=at,
                    transaction_hash="0x" + f"{block:064x}",
                    contract="PointLedger",
                    name=name,
                    mykey_id="TANAKA01",
                    municipality=municipality,
                    counterparty=None,
                    amount=amount,
                    period=None,
                    args_json=json.dumps({"amount": amount, "municipality": municipality}),
                )
            )
            db.commit()


@pytest.fixture
def indexed(
    tmp_path: Path, authority: TestAuthority, chain: DemoChain
) -> Iterator[IndexedExplorer]:
    pages = PagesSettings(
        rpc_url=chain.rpc_url, deployment=chain.demo.deployment, secure_cookies=False
    )
    settings, ledger, points, clock, _generator, _desk, pages = build_app_parts(
        tmp_path, authority, pages
    )
    app = create_app(settings, ledger=ledger, points=points, clock=clock, pages=pages)
    with TestClient(app) as client:
        store = open_store(settings.database_url)
        yield IndexedExplorer(client, store)
        store.close()


def fill_two_weeks(index: IndexedExplorer) -> None:
    """Events around the 14-day window ending on START's day (2026-09-08 .. 2026-09-21 JST)."""
    first_day = JST_MIDNIGHT_OF_START - 13 * DAY
    index.add("PointsGranted", 1000, first_day - 1)  # the day before the window
    index.add("PointsExpired", 100, first_day - 1)
    index.add("PointsGranted", 200, first_day)  # the window's first second
    index.add("PointsRedeemed", 50, first_day + 5 * DAY)
    index.add("VoucherIssued", 30, first_day + 5 * DAY)
    index.add("ReservePlaced", 70, first_day + 6 * DAY)
    index.add("PointsRefunded", 10, first_day + 6 * DAY)
    index.add("PointsConverted", 999, first_day + 6 * DAY)  # a reserve: not outstanding yet
    index.add("VoucherRedeemed", 30, first_day + 7 * DAY)  # moves vouchers only
    index.add("PointsGranted", 400, JST_MIDNIGHT_OF_START - 1)  # last second of the day before
    index.add("PointsRedeemed", 25, START)
    index.add("PointsGranted", 5000, START, municipality=13116)  # another municipality


def test_daily_figures_carry_the_outstanding_points_day_by_day(indexed: IndexedExplorer) -> None:
    fill_two_weeks(indexed)
    with indexed.store.sessions() as db:
        days = daily_figures(db=db, municipality=14130, now=START)
    assert days[0].day == "2026-09-08" and days[-1].day == "2026-09-21"
    assert len(days) == 14
    assert (days[0].granted, days[0].outstanding) == (200, 1100)
    assert (days[5].redeemed, days[5].other_change, days[5].outstanding) == (50, -30, 1020)
    assert (days[6].other_change, days[6].outstanding) == (80, 1100)
    assert days[7].outstanding == 1100  # a redeemed voucher does not change outstanding points
    assert (days[12].granted, days[12].outstanding) == (400, 1500)
    assert (days[13].redeemed, days[13].outstanding) == (25, 1475)
    for before, day in itertools.pairwise(days):
        assert day.outstanding == before.outstanding + day.granted - day.redeemed + day.other_change


def test_a_municipality_page_draws_its_days_with_the_numbers_in_text(
    indexed: IndexedExplorer,
) -> None:
    fill_two_weeks(indexed)
    page = indexed.client.get("/explorer/municipalities/14130?lang=en")
    assert page.status_code == 200
    assert 'data-refresh-url="/explorer/municipalities/14130/figures"' in page.text
    outstanding = re.search(r'<desc id="outstanding-per-day-desc">(.*?)</desc>', page.text)
    assert outstanding is not None
    assert "09-08: 1,100 points" in outstanding.group(1)
    assert "09-21: 1,475 points" in outstanding.group(1)
    movement = re.search(r'<desc id="granted-redeemed-per-day-desc">(.*?)</desc>', page.text)
    assert movement is not None and "09-21: Granted 0 points、Redeemed 25 points" in movement.group(
        1
    )
    assert re.search(
        r'<tr><th scope="row">2026-09-13</th><td class="number">0</td>'
        r'<td class="number">50</td><td class="number">-30</td><td class="number">1,020</td></tr>',
        page.text,
    )
    assert 'aria-labelledby="outstanding-per-day-title outstanding-per-day-desc"' in page.text
    fragment = indexed.client.get("/explorer/municipalities/14130/figures")
    assert "<html" not in fragment.text and 'id="daily-figures"' in fragment.text
    assert indexed.client.get("/explorer/municipalities/99999/figures").status_code == 404


def test_without_indexed_events_the_page_says_so_instead_of_drawing_zeros(
    indexed: IndexedExplorer,
) -> None:
    page = indexed.client.get("/explorer/municipalities/13116")
    assert 'id="no-daily-figures"' in page.text and "<svg" not in page.text
    assert "まだ記録はありません" in page.text


def test_the_grouped_chart_escapes_names_and_refuses_what_it_cannot_draw() -> None:
    chart = grouped_bar_chart(
        ["<b>", "2"],
        [Series("A&B", (1, 2)), Series("C", (0, 4))],
        title="t<",
        unit="pt",
        chart_id="c",
    )
    assert "&lt;b&gt;" in chart and "A&amp;B" in chart and "<b>" not in chart
    assert chart.count('class="series-1"') == 2
    with pytest.raises(ValueError, match="one value per label"):
        grouped_bar_chart(["1"], [Series("A", (1, 2))], title="t", unit="", chart_id="c")
    with pytest.raises(ValueError, match="negative"):
        grouped_bar_chart(["1"], [Series("A", (-1,))], title="t", unit="", chart_id="c")
    with pytest.raises(ValueError, match="at most 2 series"):
        grouped_bar_chart(
            ["1"], [Series(name, (1,)) for name in "ABC"], title="t", unit="", chart_id="c"
        )


def test_without_the_deployment_the_totals_say_why_instead_of_zeros(
    tmp_path: Path, authority: TestAuthority, chain: DemoChain
) -> None:
    settings, ledger, points, clock, _g, _d, pages = build_app_parts(
        tmp_path,
        authority,
        PagesSettings(rpc_url=chain.rpc_url, deployment=None, secure_cookies=False),
    )
    with TestClient(
        create_app(settings, ledger=ledger, points=points, clock=clock, pages=pages)
    ) as client:
        home = client.get("/explorer/totals")
        municipality = client.get("/explorer/municipalities/14130/figures")
    for page in (home, municipality):
        assert page.status_code == 200
        assert "契約の配置情報が設定されていないため、合計を読み取れません。" in page.text
        assert 'id="outstanding' not in page.text
