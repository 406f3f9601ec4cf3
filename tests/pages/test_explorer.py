"""The explorer against a real dev ledger node with the demo consortium (JSON-RPC only)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from web3 import Web3

from api.app import create_app
from api.pages import PagesSettings
from card_bridge.virtual_card.issuance import TestAuthority
from contracts.events import event_topic, municipality_topic
from tests.pages.chain import DemoChain, demo_chain
from tests.pages.conftest import build_app_parts


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
