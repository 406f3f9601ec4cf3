"""The explorer's totals and chart and My Page's vouchers in headless Chromium, checked with axe.

On the session's dev ledger (the chain tests' world) with the API's chain side and its indexer
following: a resident gets points and two vouchers (the older one redeemed) through the terminal
API; then `browser/explorer_extra.mjs` opens the explorer's totals and Kawasaki's chart, has staff
grant 100 points in a second tab and sees the outstanding figure rise without a reload, and opens
My Page's voucher list. Screenshots go to artifacts-test/pages/x*.png; no serious or critical axe
violation is allowed.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import cast

import httpx
from fastapi.testclient import TestClient

from api.app import create_app
from api.cards import JpkiCardVerifier
from api.chain.side import build_chain_side
from api.clock import SystemClock
from api.pages import PagesSettings
from api.settings import ApiSettings
from api.store.database import open_store
from contracts.domain import TerminalKind
from tests.api.conftest import FAST_HASHING
from tests.api_chain.conftest import (
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
from tests.pages.browser_run import (
    ARTIFACTS,
    ServerThread,
    checked_report,
    ensure_browser,
    run_script,
)
from tests.pages.conftest import RESIDENT_PASSWORD, STAFF_PASSWORD, add_staff

EXPECTED_AUDITS = 4
"""Pages the script screenshots and checks with axe-core."""
EXPECTED_CHECKS = 6
"""Checks the script makes: fewer means a step was skipped."""
STAFF_LOGIN = "kawasaki.staff"


def issue_voucher(api: TestClient, key: str, card: VirtualCard, amount: int) -> dict[str, str]:
    """Issue a voucher worth `amount` at the terminal `key`, answered by `card`."""
    opened = terminal_call(api, key, "POST", "/terminal/v1/vouchers", {"amount": amount})
    assert opened.status_code == 201, opened.text
    statement = b64url_decode(opened.json()["statement"])
    path = f"/terminal/v1/vouchers/{opened.json()['action_id']}/card-answer"
    issued = terminal_call(api, key, "POST", path, card.answer(statement))
    assert issued.status_code == 200, issued.text
    body: dict[str, str] = issued.json()
    return body


def wait_until_indexed(http: httpx.Client, mykey_id: str, vouchers: int) -> None:
    """Poll the resident's My Page until `vouchers` vouchers are listed (the indexer follows)."""
    login = http.post("/my/login", data={"mykey_id": mykey_id, "password": RESIDENT_PASSWORD})
    assert login.status_code in (200, 303), login.text
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if http.get("/my").text.count('<tr id="voucher-') == vouchers:
            http.post("/my/logout")
            return
        time.sleep(0.2)
    raise AssertionError("the indexer did not store the vouchers within 30 s")


def test_explorer_chart_and_vouchers_in_a_real_browser(
    tmp_path: Path,
    world: ChainWorld,  # noqa: F811
) -> None:
    ensure_browser()
    settings = ApiSettings.for_data_dir(
        tmp_path / "data",
        password_hashing=FAST_HASHING,
        mail_from="noreply@mykey.test",
        indexer_interval_seconds=0.2,
    )
    clock = SystemClock()
    pages = PagesSettings(
        rpc_url=world.node.http_url,
        deployment=world.demo.deployment,
        secure_cookies=False,
        explorer_refresh_seconds=1,
    )
    app = create_app(
        settings,
        cards=JpkiCardVerifier(world.trust),
        clock=clock,
        chain=build_chain_side(world.config, world.keys, clock),
        pages=pages,
    )
    store = open_store(settings.database_url)
    add_staff(store, STAFF_LOGIN, "14130")
    with ServerThread(app) as base_url, httpx.Client(base_url=base_url, timeout=60) as http:
        api = cast(TestClient, http)  # the chain tests' helpers use only httpx.Client's methods
        card = new_card(world)
        mykey_id = register(api, card)
        grant(
            api,
            staff_token(store, api, role="municipal-staff", organisation="14130"),
            mykey_id,
            900,
        )
        issuer = terminal_key(world, "store", TerminalKind.VOUCHER_ISSUE)
        older = issue_voucher(api, issuer, card, 200)
        issue_voucher(api, issuer, card, 100)
        used = terminal_call(
            api,
            terminal_key(world, "store", TerminalKind.POINT_USE),
            "POST",
            "/terminal/v1/voucher-redemptions",
            {
                "voucher_id": int(older["voucher_code"].removeprefix("V-")),
                "secret": older["voucher_secret"],
            },
        )
        assert used.status_code == 201, used.text
        wait_until_indexed(http, mykey_id, 2)
        finished = run_script(
            "explorer_extra.mjs",
            [base_url, str(ARTIFACTS), str(tmp_path / "chromium-profile")],
            timeout=180,
            env={
                "MYKEY_ID": mykey_id,
                "PASSWORD": RESIDENT_PASSWORD,
                "STAFF_LOGIN": STAFF_LOGIN,
                "STAFF_PASSWORD": STAFF_PASSWORD,
            },
        )
    store.close()
    checked_report(
        finished,
        "explorer-extra-report.json",
        expected_checks=EXPECTED_CHECKS,
        expected_audits=EXPECTED_AUDITS,
    )
