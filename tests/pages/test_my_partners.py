"""My Page's partner corner (server-side): link and unlink a member number, redeem a coupon code.

The refusals run on the pages' fakes; the redemption itself on the chain tests' dev ledger.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.cards import JpkiCardVerifier
from api.chain.side import build_chain_side
from api.clock import SystemClock
from api.pages import PagesSettings
from api.services.audit import SYSTEM_ACTOR
from api.services.coupon_codes import SYMBOLS, random_code
from api.services.coupons import issue_batch
from api.services.partner_links import lookup_hash_key
from api.settings import ApiSettings
from api.store.database import open_store
from tests.api.conftest import FAST_HASHING
from tests.api_chain.conftest import (
    ChainWorld,
    new_card,
    staff_token,
    world,  # noqa: F401 - the session's dev ledger
)
from tests.api_chain.conftest import register as register_by_api
from tests.pages.conftest import RESIDENT_PASSWORD, PageWorld, field_error, register


def log_in(site: PageWorld, mykey_id: str = "TANAKA01") -> None:
    page = site.client.post("/my/login", data={"mykey_id": mykey_id, "password": RESIDENT_PASSWORD})
    assert page.status_code == 200, page.text


def test_the_partner_corner_needs_a_login(site: PageWorld) -> None:
    page = site.client.get("/my/partners", follow_redirects=False)
    assert (page.status_code, page.headers["location"]) == (303, "/my/login")


def test_a_resident_links_and_unlinks_a_member_number(site: PageWorld) -> None:
    register(site.client, "TANAKA01")
    log_in(site)

    linked = site.client.post(
        "/my/partners/links", data={"partner": "7", "member_number": "M-0012345", "consent": "true"}
    )

    assert linked.status_code == 200
    assert "会員番号を連携しました。" in linked.text
    assert 'id="link-7"' in linked.text and "M-0012345" in linked.text
    unlinked = site.client.post("/my/partners/links/7/unlink")
    assert "会員番号の連携を解除しました。" in unlinked.text
    assert 'id="no-links"' in unlinked.text
    again = site.client.post("/my/partners/links/7/unlink")
    assert again.status_code == 404


def test_each_wrong_link_field_is_shown_beside_it(site: PageWorld) -> None:
    register(site.client, "TANAKA01")
    log_in(site)

    page = site.client.post("/my/partners/links", data={"partner": "x", "member_number": ""})

    assert page.status_code == 422
    assert field_error(page, "partner") == "提携事業者の番号を半角数字で入力してください。"
    assert field_error(page, "member_number") == "必須項目です。入力してください。"
    assert field_error(page, "consent") == "連携するには同意が必要です。"
    english = site.client.post(
        "/my/partners/links?lang=en", data={"partner": "7", "member_number": "with space"}
    )
    assert field_error(english, "consent") == "Please consent to link the member number."


def test_coupon_typos_unknown_codes_and_no_ledger_are_explained(site: PageWorld) -> None:
    register(site.client, "TANAKA01")
    log_in(site)
    with site.store.sessions() as db:
        settings = site.client.app.state.services.settings  # type: ignore[attr-defined]
        [code] = issue_batch(
            db=db,
            hash_key=lookup_hash_key(settings.service_id_key_file),
            actor=SYSTEM_ACTOR,
            partner=7,
            count=1,
            partner_units=500,
            expires_at=site.clock.now() + 3600,
            now=site.clock.now(),
        ).codes
    typo = SYMBOLS[(SYMBOLS.index(code[0]) + 1) % len(SYMBOLS)] + code[1:]

    mistyped = site.client.post("/my/partners/coupons", data={"code": typo})
    unknown = site.client.post("/my/partners/coupons", data={"code": random_code().printed})
    no_ledger = site.client.post("/my/partners/coupons", data={"code": code})

    assert mistyped.status_code == 422
    assert "入力の誤り" in (field_error(mistyped, "code") or "")
    assert f'value="{typo}"' in mistyped.text  # kept for correcting
    assert unknown.status_code == 404
    assert field_error(unknown, "code") == "このクーポンコードは見つかりません。"
    assert no_ledger.status_code == 503
    assert "台帳に接続できません" in (field_error(no_ledger, "code") or "")
    empty = site.client.post("/my/partners/coupons", data={"code": " "})
    assert field_error(empty, "code") == "必須項目です。入力してください。"


@pytest.fixture
def chain_client(tmp_path: Path, world: ChainWorld) -> Iterator[TestClient]:  # noqa: F811
    settings = ApiSettings.for_data_dir(
        tmp_path / "data",
        password_hashing=FAST_HASHING,
        mail_from="noreply@mykey.test",
        follow_chain=False,
    )
    clock = SystemClock()
    app = create_app(
        settings,
        cards=JpkiCardVerifier(world.trust),
        clock=clock,
        chain=build_chain_side(world.config, world.keys, clock),
        pages=PagesSettings(secure_cookies=False),
    )
    with TestClient(app) as client:
        yield client


def test_a_redeemed_code_shows_the_reserve_it_made(
    chain_client: TestClient,
    world: ChainWorld,  # noqa: F811
) -> None:
    mykey_id = register_by_api(chain_client, new_card(world))
    settings = chain_client.app.state.services.settings  # type: ignore[attr-defined]
    store = open_store(settings.database_url)
    try:
        partner = staff_token(
            store,
            chain_client,
            role="partner-operator",
            organisation=str(world.demo.partner.partner_id),
        )
    finally:
        store.close()
    issued = chain_client.post(
        "/partners/coupons",
        json={"count": 1, "partner_units": 250, "expires_at": SystemClock().now() + 3600},
        headers={"Authorization": f"Bearer {partner}"},
    )
    [code] = issued.json()["codes"]
    chain_client.post("/my/login", data={"mykey_id": mykey_id, "password": RESIDENT_PASSWORD})

    page = chain_client.post("/my/partners/coupons", data={"code": code})

    assert page.status_code == 200, page.text
    assert "250ポイントを予約しました。受け取り期限は" in page.text
    used = chain_client.post("/my/partners/coupons", data={"code": code})
    assert field_error(used, "code") == "このクーポンコードは使用済みです。"
