"""The staff console's programme pages on a real dev ledger (the chain tests' world), with a
TestClient: each form writes on-chain, shows its transaction linked to the explorer, is audited,
and a ledger refusal is shown in plain words beside the field it concerns.

Tests that change a setting the session's other tests rely on put it back before they end.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from eth_account import Account
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select

from api.app import create_app
from api.chain.side import build_chain_side
from api.clock import SystemClock
from api.pages import PagesSettings
from api.settings import ApiSettings
from api.store.database import Store, open_store
from api.store.models import AuditRecord
from contracts.client import LedgerClient
from contracts.domain import Use, fiscal_year
from tests.api.conftest import FAST_HASHING
from tests.api_chain.conftest import ChainWorld, world  # noqa: F401 - the session's dev ledger
from tests.pages.conftest import STAFF_PASSWORD, PageWorld, add_staff, field_error

KAWASAKI = 14130
JST = timezone(timedelta(hours=9))
TRANSACTION_LINK = re.compile(r'href="/explorer/transactions/(0x[0-9a-f]{64})"')


@pytest.fixture
def app_store(tmp_path: Path, world: ChainWorld) -> Iterator[tuple[TestClient, Store]]:  # noqa: F811
    settings = ApiSettings.for_data_dir(
        tmp_path / "data",
        password_hashing=FAST_HASHING,
        mail_from="noreply@mykey.test",
        follow_chain=False,
    )
    clock = SystemClock()
    pages = PagesSettings(
        rpc_url=world.node.http_url, deployment=world.demo.deployment, secure_cookies=False
    )
    app = create_app(
        settings, clock=clock, chain=build_chain_side(world.config, world.keys, clock), pages=pages
    )
    with TestClient(app) as test_client:
        store = open_store(settings.database_url)
        add_staff(store, "kawasaki.staff", "14130")
        add_staff(store, "toshima.staff", "13116")
        add_staff(store, "kawasaki.treasurer", "14130", role="treasurer")
        yield test_client, store
        store.close()


@pytest.fixture
def client(app_store: tuple[TestClient, Store]) -> TestClient:
    test_client = app_store[0]
    logged_in = test_client.post(
        "/staff/login", data={"login_name": "kawasaki.staff", "password": STAFF_PASSWORD}
    )
    assert logged_in.status_code == 200, logged_in.text
    return test_client


@pytest.fixture
def chain(world: ChainWorld) -> LedgerClient:  # noqa: F811
    return LedgerClient(world.w3, world.demo.deployment)


def written(page: Response, world: ChainWorld) -> str:  # noqa: F811
    """Return the transaction hash the result links to, after checking it is final and good."""
    assert 'id="write-result"' in page.text, page.text
    match = TRANSACTION_LINK.search(page.text)
    assert match is not None
    receipt = world.w3.eth.get_transaction_receipt(match.group(1))  # type: ignore[arg-type]
    assert receipt["status"] == 1
    return match.group(1)


def audited(store: Store, action: str) -> list[AuditRecord]:
    with store.sessions() as db:
        return list(db.scalars(select(AuditRecord).where(AuditRecord.action == action)).all())


def jst_local(moment: datetime) -> str:
    return moment.astimezone(JST).strftime("%Y-%m-%dT%H:%M")


def test_the_console_links_to_the_programme_and_each_page_renders(client: TestClient) -> None:
    console = client.get("/staff")
    assert 'href="/staff/programme"' in console.text
    for path, heading in (
        ("/staff/programme", "施策の設定"),
        ("/staff/programme/businesses", "事業者と利用用途"),
        ("/staff/programme/terminals", "端末"),
        ("/staff/programme/event-accounts", "イベント口座"),
    ):
        page = client.get(path)
        assert page.status_code == 200, page.text
        assert f"<h1>{heading}（川崎市）</h1>" in page.text
        assert 'aria-current="page"' in page.text
    english = client.get("/staff/programme?lang=en")
    assert "<h1>Programme settings (Kawasaki City)</h1>" in english.text
    assert '<label for="validity_days">Points stay valid for (days)' in english.text
    assert re.search(r'id="validity_days" name="validity_days" value="\d+"', english.text)


def test_only_municipal_staff_reach_the_pages(app_store: tuple[TestClient, Store]) -> None:
    test_client = app_store[0]
    assert test_client.get("/staff/programme", follow_redirects=False).status_code == 303
    test_client.post(
        "/staff/login", data={"login_name": "kawasaki.treasurer", "password": STAFF_PASSWORD}
    )
    refused = test_client.post(
        "/staff/programme/settings",
        data={"validity_days": "1", "voucher_validity_days": "1", "refund_window_hours": "0"},
        follow_redirects=False,
    )
    assert refused.status_code == 303
    assert audited(app_store[1], "programme-settings-changed") == []


def test_toshima_staff_see_and_change_only_toshima(
    app_store: tuple[TestClient, Store],
    world: ChainWorld,  # noqa: F811
) -> None:
    test_client = app_store[0]
    test_client.post(
        "/staff/login", data={"login_name": "toshima.staff", "password": STAFF_PASSWORD}
    )
    page = test_client.get("/staff/programme")
    assert "<h1>施策の設定（豊島区）</h1>" in page.text


def test_settings_change_shows_the_transaction_and_is_audited(
    client: TestClient,
    app_store: tuple[TestClient, Store],
    world: ChainWorld,  # noqa: F811
    chain: LedgerClient,
) -> None:
    before = chain.consortium.functions.municipality(KAWASAKI).call()
    try:
        page = client.post(
            "/staff/programme/settings",
            data={
                "validity_days": "500",
                "voucher_validity_days": "60",
                "refund_window_hours": "48",
                "accepts_conversions": "true",
            },
        )
        assert page.status_code == 200, page.text
        transaction_hash = written(page, world)
        assert "ポイントの設定を変更しました。" in page.text
        assert 'value="500"' in page.text and 'value="48"' in page.text
        now = chain.consortium.functions.municipality(KAWASAKI).call()
        assert (now[3], now[4], now[5]) == (500, 60, 48 * 3600)
        records = audited(app_store[1], "programme-settings-changed")
        assert [(r.actor, r.transaction_hash) for r in records] == [
            ("kawasaki.staff", transaction_hash)
        ]
    finally:
        chain.set_municipality_settings(
            world.demo.municipalities[KAWASAKI].admin_key,  # type: ignore[index]
            KAWASAKI,
            validity_days=before[3],
            voucher_validity_days=before[4],
            refund_window_seconds=before[5],
            accepts_conversions=before[2],
        )


def test_a_setting_the_ledger_refuses_is_shown_beside_its_field(
    client: TestClient, app_store: tuple[TestClient, Store]
) -> None:
    refused = client.post(
        "/staff/programme/settings",
        data={"validity_days": "0", "voucher_validity_days": "90", "refund_window_hours": "1"},
    )
    assert refused.status_code == 409
    assert (
        field_error(refused, "validity_days") == "ポイントの有効日数は1～3660日で指定してください。"
    )
    typed = client.post(
        "/staff/programme/settings",
        data={"validity_days": "三十", "voucher_validity_days": "90", "refund_window_hours": "1"},
    )
    assert typed.status_code == 422
    assert field_error(typed, "validity_days") == "半角数字（0以上の整数）で入力してください。"
    assert audited(app_store[1], "programme-settings-changed") == []


def test_a_business_is_allowed_a_use_by_its_checkbox(
    client: TestClient,
    app_store: tuple[TestClient, Store],
    world: ChainWorld,  # noqa: F811
    chain: LedgerClient,
) -> None:
    museum = world.demo.businesses["museum"].business_id
    before = chain.consortium.functions.acceptedUses(KAWASAKI, museum).call()
    listed = client.get("/staff/programme/businesses")
    assert f'form="acceptance-{museum}"' in listed.text
    try:
        page = client.post(
            f"/staff/programme/businesses/{museum}", data={"uses": ["tourism", "facility"]}
        )
        assert page.status_code == 200, page.text
        written(page, world)
        assert chain.consortium.functions.acceptedUses(KAWASAKI, museum).call() == (
            1 << Use.FACILITY
        ) | (1 << Use.TOURISM)
        assert re.search(rf'id="use-{museum}-tourism"[^>]* checked', page.text)
        assert not re.search(rf'id="use-{museum}-transport"[^>]* checked', page.text)
        assert audited(app_store[1], "business-acceptance-set")[0].target == (
            f"14130/business/{museum}"
        )
    finally:
        chain.set_business_acceptance(
            world.demo.municipalities[KAWASAKI].admin_key,  # type: ignore[index]
            KAWASAKI,
            museum,
            before,
        )


def test_terminal_register_then_deregister_and_a_taken_address(
    client: TestClient,
    app_store: tuple[TestClient, Store],
    world: ChainWorld,  # noqa: F811
) -> None:
    address = Account.create().address
    page = client.post(
        "/staff/programme/terminals", data={"address": address, "kind": "service-id-lookup"}
    )
    assert page.status_code == 200, page.text
    written(page, world)
    assert address in page.text and "サービスID照会端末" in page.text

    taken = client.post("/staff/programme/terminals", data={"address": address, "kind": "granting"})
    assert taken.status_code == 409
    assert "既に端末として登録されています" in (field_error(taken, "address") or "")

    malformed = client.post(
        "/staff/programme/terminals", data={"address": "0x1234", "kind": "granting"}
    )
    assert malformed.status_code == 422
    assert "40ケタの16進数" in (field_error(malformed, "address") or "")

    not_granting = client.post(
        "/staff/programme/terminals",
        data={"address": Account.create().address, "kind": "voucher-issue", "management": "true"},
    )
    assert not_granting.status_code == 422
    assert field_error(not_granting, "management") == (
        "管理端末にできるのはポイント付与端末だけです。"
    )

    removed = client.post("/staff/programme/terminals/deregister", data={"address": address})
    assert removed.status_code == 200, removed.text
    written(removed, world)
    assert f'value="{address}"' not in removed.text
    store = app_store[1]
    assert len(audited(store, "terminal-registered")) == 1
    assert len(audited(store, "terminal-deregistered")) == 1


def test_event_account_end_before_start_is_refused_in_plain_words_then_opened(
    client: TestClient,
    world: ChainWorld,  # noqa: F811
) -> None:
    start = datetime.now(UTC) + timedelta(hours=1)
    backwards = client.post(
        "/staff/programme/event-accounts",
        data={
            "starts_at": jst_local(start + timedelta(days=2)),
            "ends_at": jst_local(start),
            "uses": ["local-store"],
        },
    )
    assert backwards.status_code == 409
    assert field_error(backwards, "ends_at") == (
        "終了日時は開始日時より後で、かつ現在より後にしてください。"
    )
    assert 'value="local-store" checked' in backwards.text

    no_use = client.post(
        "/staff/programme/event-accounts",
        data={"starts_at": jst_local(start), "ends_at": jst_local(start + timedelta(days=1))},
    )
    assert no_use.status_code == 409
    assert 'id="uses-error"' in no_use.text and 'aria-describedby="uses-error"' in no_use.text

    opened = client.post(
        "/staff/programme/event-accounts",
        data={
            "starts_at": jst_local(start),
            "ends_at": jst_local(start + timedelta(days=1)),
            "uses": ["local-store", "tourism"],
        },
    )
    assert opened.status_code == 200, opened.text
    written(opened, world)
    number = re.search(r"イベント口座 (\d+) を開設しました。", opened.text)
    assert number is not None
    row = re.search(rf'<td class="number">{number.group(1)}</td>\s*<td>([^<]+)</td>', opened.text)
    assert row is not None and row.group(1).startswith(jst_local(start).replace("T", " "))
    assert "開始前" in opened.text


def test_grant_budget_shows_used_cap_and_a_bar(
    client: TestClient,
    app_store: tuple[TestClient, Store],
    world: ChainWorld,  # noqa: F811
) -> None:
    year = 2098  # a year no other test grants in: its cap changes nothing they do
    typed = client.get("/staff/programme?fiscal_year=next")
    assert typed.status_code == 200
    assert f'id="budget-title">{fiscal_year(int(time.time()))}年度' in typed.text
    page = client.get(f"/staff/programme?fiscal_year={year}")
    assert "上限なし" in page.text and 'id="budget-meter"' not in page.text
    try:
        capped = client.post(
            "/staff/programme/grant-budget",
            data={"fiscal_year": str(year), "capped": "true", "cap": "12,000"},
        )
        assert capped.status_code == 200, capped.text
        written(capped, world)
        assert re.search(r'id="budget-cap">12,000 ポイント', capped.text)
        assert 'id="budget-remaining">12,000 ポイント' in capped.text
        assert re.search(r'<meter[^>]*id="budget-meter"[^>]*value="0"', capped.text)
        bad = client.post(
            "/staff/programme/grant-budget",
            data={"fiscal_year": str(year), "capped": "true", "cap": "lots"},
        )
        assert bad.status_code == 422
        assert field_error(bad, "cap") is not None
    finally:
        lifted = client.post(
            "/staff/programme/grant-budget", data={"fiscal_year": str(year), "capped": ""}
        )
        assert lifted.status_code == 200, lifted.text
    assert "上限なし" in lifted.text
    assert len(audited(app_store[1], "grant-budget-set")) == 2


def test_this_years_budget_counts_the_points_granted(
    client: TestClient,
    world: ChainWorld,  # noqa: F811
    chain: LedgerClient,
) -> None:
    year = fiscal_year(int(time.time()))
    used = chain.ledger.functions.grantedInFiscalYear(KAWASAKI, year).call()
    page = client.get("/staff/programme")
    assert f'id="budget-used">{used:,} ポイント' in page.text
    assert f'<h2 id="budget-title">{year}年度の付与予算</h2>' in page.text


def test_without_a_ledger_the_pages_say_not_connected(site: PageWorld) -> None:
    add_staff(site.store, "kawasaki.staff", "14130")
    site.client.post(
        "/staff/login", data={"login_name": "kawasaki.staff", "password": STAFF_PASSWORD}
    )
    page = site.client.get("/staff/programme/terminals")
    assert page.status_code == 503
    assert "台帳とはまだ接続されていません。" in page.text
