"""The staff console's day-by-day figures in headless Chromium (Debian's chromium, playwright-core).

Kawasaki's staff see both charts, open the numbers' table by keyboard, choose 30 days and switch
to English; Toshima's treasurer sees Toshima's figures and nothing of Kawasaki's. The figures come
from ledger events stored as the indexer stores them (the page reads only the store, so no ledger
node is needed here; tests/pages/test_staff_console.py proves they equal the explorer's).
Every page is screenshotted into artifacts-test/pages/ and checked with axe-core: no serious or
critical violation is allowed.
"""

from __future__ import annotations

from pathlib import Path

from api.app import create_app
from api.pages.outstanding import daily_figures
from api.store.database import open_store
from card_bridge.virtual_card.issuance import TestAuthority
from tests.pages.browser_run import (
    ARTIFACTS,
    ServerThread,
    checked_report,
    ensure_browser,
    run_script,
)
from tests.pages.conftest import add_staff, build_app_parts, card_verifier
from tests.pages.test_staff_console import KAWASAKI, fill_a_month

EXPECTED_AUDITS = 5
"""Pages the script screenshots and checks with axe-core."""
EXPECTED_CHECKS = 7
"""Checks the script makes: fewer means a step was skipped."""


def test_the_staff_charts_in_a_real_browser(tmp_path: Path, authority: TestAuthority) -> None:
    ensure_browser()
    settings, ledger, points, clock, generator, _desk, pages = build_app_parts(tmp_path, authority)
    app = create_app(
        settings,
        ledger=ledger,
        points=points,
        cards=card_verifier(authority),
        clock=clock,
        generate_candidate=generator,
        pages=pages,
    )
    store = open_store(settings.database_url)
    try:
        add_staff(store, "kawasaki.staff", "14130")
        add_staff(store, "toshima.treasurer", "13116", role="treasurer")
        fill_a_month(store)
        with store.sessions() as db:
            last = daily_figures(db=db, municipality=KAWASAKI, now=clock.now())[-1]
    finally:
        store.close()
    with ServerThread(app) as base_url:
        finished = run_script(
            "staff_charts.mjs",
            [base_url, str(ARTIFACTS), str(tmp_path / "chromium-profile")],
            timeout=240,
            env={"LAST_OUTSTANDING": f"{last.outstanding:,}"},
        )
    checked_report(
        finished,
        "staff-charts-report.json",
        expected_checks=EXPECTED_CHECKS,
        expected_audits=EXPECTED_AUDITS,
    )
