"""The programme pages in headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core).

On the session's dev ledger, Kawasaki's staff log in, follow the console's link, change a setting
(by keyboard) and see a refused one explained beside its field, allow a use the museum does not
take yet, have an event account whose end is before its start refused and then open it, register
a terminal and follow its transaction to the explorer, and switch to English. Every page is
screenshotted into artifacts-test/pages/ and checked with axe-core: no serious or critical
violation is allowed.
The settings and the business's uses it changes are put back afterwards for the other tests.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from eth_account import Account

from api.app import create_app
from api.chain.programme import USE_SLUGS
from api.chain.side import build_chain_side
from api.clock import SystemClock
from api.pages import PagesSettings
from api.settings import ApiSettings
from api.store.database import open_store
from contracts.client import LedgerClient
from contracts.domain import Use
from tests.api.conftest import FAST_HASHING
from tests.api_chain.conftest import ChainWorld, world  # noqa: F401 - the session's dev ledger
from tests.pages.browser_run import (
    ARTIFACTS,
    ServerThread,
    checked_report,
    ensure_browser,
    run_script,
)
from tests.pages.conftest import add_staff

KAWASAKI = 14130
JST = timezone(timedelta(hours=9))
EXPECTED_AUDITS = 9
"""Pages the script screenshots and checks with axe-core."""
EXPECTED_CHECKS = 11
"""Checks the script makes: fewer means a step was skipped."""


def jst_local(moment: datetime) -> str:
    return moment.astimezone(JST).strftime("%Y-%m-%dT%H:%M")


def test_the_programme_pages_in_a_real_browser(tmp_path: Path, world: ChainWorld) -> None:  # noqa: F811
    ensure_browser()
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
    store = open_store(settings.database_url)
    add_staff(store, "kawasaki.staff", "14130")
    store.close()
    chain = LedgerClient(world.w3, world.demo.deployment)
    admin_key = world.demo.municipalities[KAWASAKI].admin_key  # type: ignore[index]
    museum = world.demo.businesses["museum"].business_id
    settings_before = chain.consortium.functions.municipality(KAWASAKI).call()
    uses_before = chain.consortium.functions.acceptedUses(KAWASAKI, museum).call()
    new_use = next(use for use in Use if not uses_before & (1 << use))
    terminal = Account.create().address
    start = datetime.now(UTC) + timedelta(hours=2)
    try:
        with ServerThread(app) as base_url:
            finished = run_script(
                "programme.mjs",
                [base_url, str(ARTIFACTS), str(tmp_path / "chromium-profile")],
                timeout=240,
                env={
                    "MUSEUM": str(museum),
                    "NEW_USE": USE_SLUGS[new_use],
                    "TERMINAL_ADDRESS": terminal,
                    "EVENT_START": jst_local(start),
                    "EVENT_END": jst_local(start + timedelta(days=3)),
                },
            )
    finally:
        chain.set_municipality_settings(
            admin_key,
            KAWASAKI,
            validity_days=settings_before[3],
            voucher_validity_days=settings_before[4],
            refund_window_seconds=settings_before[5],
            accepts_conversions=settings_before[2],
        )
        chain.set_business_acceptance(admin_key, KAWASAKI, museum, uses_before)
    checked_report(
        finished,
        "programme-report.json",
        expected_checks=EXPECTED_CHECKS,
        expected_audits=EXPECTED_AUDITS,
    )
    registered = chain.consortium.functions.terminal(terminal).call()
    assert (registered[0], registered[2]) == (3, KAWASAKI)  # a voucher-issue terminal, Kawasaki's
