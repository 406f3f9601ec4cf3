"""The staff console's day-by-day figures in headless Chromium (Debian's chromium, playwright-core).

Kawasaki's staff see both charts, open the numbers' table by keyboard, choose 30 days and switch
to English; Toshima's treasurer sees Toshima's figures and nothing of Kawasaki's. The figures come
from ledger events stored as the indexer stores them (the page reads only the store, so no ledger
node is needed here; tests/pages/test_staff_console.py proves they equal the explorer's).
Every page is screenshotted into artifacts-test/pages/ and checked with axe-core: no serious or
critical violation is allowed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from api.app import create_app
from api.pages.outstanding import daily_figures
from api.store.database import open_store
from card_bridge.virtual_card.issuance import TestAuthority
from tests.pages.conftest import add_staff, build_app_parts, card_verifier
from tests.pages.test_browser import ARTIFACTS, CHROMIUM, HERE, ServerThread, ensure_node_modules
from tests.pages.test_staff_console import KAWASAKI, fill_a_month

EXPECTED_AUDITS = 5
"""Pages the script screenshots and checks with axe-core."""
EXPECTED_CHECKS = 7
"""Checks the script makes: fewer means a step was skipped."""


def test_the_staff_charts_in_a_real_browser(tmp_path: Path, authority: TestAuthority) -> None:
    assert CHROMIUM.exists(), "install Debian's chromium (scripts/debian-packages.txt)"
    assert shutil.which("node"), "install nodejs (scripts/debian-packages.txt)"
    ensure_node_modules()
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
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with ServerThread(app) as base_url:
        finished = subprocess.run(
            [
                "node",
                str(HERE / "browser" / "staff_charts.mjs"),
                base_url,
                str(ARTIFACTS),
                str(tmp_path / "chromium-profile"),
            ],
            cwd=HERE,
            capture_output=True,
            text=True,
            timeout=240,
            env={"PATH": "/usr/bin:/bin", "LAST_OUTSTANDING": f"{last.outstanding:,}"},
            check=False,
        )
    assert finished.returncode == 0, finished.stderr
    report = json.loads(finished.stdout)
    (ARTIFACTS / "staff-charts-report.json").write_text(
        json.dumps(report, ensure_ascii=False, indent=2)
    )
    assert report["error"] is None, report["error"]
    failed = [item for item in report["checks"] if not item["ok"]]
    assert failed == [], failed
    assert len(report["checks"]) == EXPECTED_CHECKS
    serious = [
        (audit["page"], violation)
        for audit in report["audits"]
        for violation in audit["violations"]
        if violation["impact"] in ("serious", "critical")
    ]
    assert serious == [], serious
    assert len(report["audits"]) == EXPECTED_AUDITS
    assert all(
        (ARTIFACTS / f"{audit['page']}.png").stat().st_size > 0 for audit in report["audits"]
    )
