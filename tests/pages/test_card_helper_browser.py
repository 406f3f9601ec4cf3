"""The registration card step through the card helper: the page, its answer route, a real browser.

Page-level tests (TestClient) prove the card page offers the helper at the configured URL with the
command to start it, and that `/my/register/card-answer` opens step 2 for a real signed answer and
shows a plain message for a broken or reused one. The browser test runs the whole chain as a
resident would: headless Debian Chromium opens the registration page served by uvicorn (a socket
on a free port), card-helper.js talks to `mykey card helper` (a real subprocess on port 0, allowing
exactly that page's origin) which talks to pcscd + vpcd with a virtual My Number Card in
`Virtual PCD 00 00`; the server's registration statement names the page's origin, the helper
refuses (from the page) a lookup-shaped challenge and a statement for no page, a wrong PIN shows
the tries left, the right one opens step 2, and with the helper unreachable the page says how to
start it. Each screen is screenshotted into
artifacts-test/pages/ and checked with axe-core (no serious or critical violation).
"""

from __future__ import annotations

import base64
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from api.app import create_app
from api.cards import JpkiCardVerifier
from api.clock import SystemClock
from api.pages import PagesSettings
from api.pages.virtual_card import TEST_CARD_PIN
from api.settings import ApiSettings
from card_bridge.browser_helper.config import DEFAULT_HELPER_URL
from card_bridge.platform_checks.certificates import TrustConfiguration
from card_bridge.virtual_card.card import VirtualMyNumberCard
from card_bridge.virtual_card.issuance import TestAuthority, issue_card
from card_bridge.virtual_card.vpcd import VpcdLink
from tests.api.conftest import FAST_HASHING, FakeLedger, FakePointsLedger, SequenceGenerator
from tests.card.conftest import wait_for_presence
from tests.pages.browser_run import (
    ARTIFACTS,
    ServerThread,
    checked_report,
    ensure_browser,
    run_script,
)
from tests.pages.conftest import PageWorld

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CARD_PIN = "2468"
"""The PIN of the virtual card the browser test puts into the vpcd reader."""
EXPECTED_CHECKS = 14
"""Checks card_helper.mjs makes: fewer means a step was skipped."""
EXPECTED_AUDITS = 4


# ---- the page and its answer route (TestClient) ------------------------------------------------


def signed_answer(site: PageWorld) -> dict[str, str]:
    """Get a challenge from the API and answer it with a virtual card, as the helper would."""
    issued = site.client.post("/registrations/card-challenges")
    assert issued.status_code == 201, issued.text
    body = issued.json()
    challenge = base64.urlsafe_b64decode(body["challenge"] + "=" * (-len(body["challenge"]) % 4))
    answer = site.desk.answer_challenge(challenge=challenge, pin=TEST_CARD_PIN)
    return {
        "challenge_id": body["challenge_id"],
        "certificate": base64.b64encode(answer.certificate_der).decode("ascii"),
        "signature": base64.b64encode(answer.signature).decode("ascii"),
    }


def test_the_card_page_offers_the_helper_with_the_command_to_start_it(site: PageWorld) -> None:
    page = site.client.get("/my/register")
    assert page.status_code == 200
    assert f'data-helper-url="{DEFAULT_HELPER_URL}"' in page.text
    assert "mykey card helper --allow-origin http://testserver" in page.text
    assert '<script src="/static/card-helper.js" defer></script>' in page.text
    assert 'id="helper-pin"' in page.text and 'inputmode="numeric"' in page.text
    assert site.client.get("/static/card-helper.js").status_code == 200
    # the helper's refusals of a statement it must not sign have their own plain words
    assert '"origin_mismatch":' in page.text
    assert '"challenge_expired":' in page.text


def test_a_signed_answer_opens_step_two(site: PageWorld) -> None:
    page = site.client.post("/my/register/card-answer", data=signed_answer(site))
    assert page.status_code == 200, page.text
    assert "手順2／2" in page.text
    assert site.client.cookies.get("mykey_registration")


def test_a_broken_or_reused_answer_stays_on_the_card_step_with_a_message(
    site: PageWorld,
) -> None:
    answer = signed_answer(site)
    broken = site.client.post("/my/register/card-answer", data={**answer, "signature": "***"})
    assert broken.status_code == 422
    assert "カードの応答を受け取れませんでした" in broken.text
    assert site.client.post("/my/register/card-answer", data=answer).status_code == 200
    site.client.cookies.clear()
    reused = site.client.post("/my/register/card-answer", data=answer)
    assert reused.status_code == 410
    assert "有効期限が切れました" in reused.text
    assert "手順1／2" in reused.text


def test_an_answer_posted_from_another_site_is_refused(site: PageWorld) -> None:
    answer = signed_answer(site)
    planted = site.client.post(
        "/my/register/card-answer", data=answer, headers={"Origin": "http://evil.example"}
    )
    assert planted.status_code == 403
    assert "このページ以外から送られたカードの応答" in planted.text
    assert not site.client.cookies.get("mykey_registration")
    for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"}):
        assert (
            site.client.post("/my/register/card-answer", data=answer, headers=headers).status_code
            == 403
        )
    same = site.client.post(
        "/my/register/card-answer",
        data=answer,
        headers={"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"},
    )
    assert "手順2／2" in same.text


# ---- the whole chain in a browser ----------------------------------------------------------


@pytest.fixture
def page_socket() -> Iterator[socket.socket]:
    """A listening socket on 127.0.0.1 and a free port: the page's origin is known up front."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    yield listener
    listener.close()


@pytest.fixture
def helper(vpcd_reader: str, page_socket: socket.socket) -> Iterator[str]:
    """`mykey card helper` on port 0, allowing exactly the page's origin; yields its URL."""
    origin = f"http://127.0.0.1:{page_socket.getsockname()[1]}"
    process = subprocess.Popen(
        [
            sys.executable, "-m", "mykey_cli", "card", "helper", "--port", "0",
            "--allow-origin", origin, "--reader", vpcd_reader,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert process.stdout is not None
    first = process.stdout.readline()
    if not first.startswith("card helper listening on "):
        process.kill()
        pytest.fail(f"the card helper did not start: {first!r} {process.communicate()[1]}")
    yield first.split()[-1]
    process.terminate()
    out, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    assert CARD_PIN not in out + err


@pytest.mark.realstack
def test_the_card_step_in_a_real_browser_through_the_helper(
    tmp_path: Path, page_socket: socket.socket, helper: str
) -> None:
    ensure_browser()
    now = datetime.now(UTC)
    authority = TestAuthority.create(now)
    card = VirtualMyNumberCard(issue_card(authority, now), pin=CARD_PIN)
    settings = ApiSettings.for_data_dir(
        tmp_path / "data", password_hashing=FAST_HASHING, mail_from="noreply@mykey.test"
    )
    ledger = FakeLedger()
    app = create_app(
        settings,
        ledger=ledger,
        points=FakePointsLedger(registry=ledger),
        cards=JpkiCardVerifier(
            TrustConfiguration((authority.certificate,), (authority.revocation_list(now),))
        ),
        clock=SystemClock(),
        generate_candidate=SequenceGenerator(),
        pages=PagesSettings(secure_cookies=False, card_helper_url=helper),
    )
    base_url = f"http://127.0.0.1:{page_socket.getsockname()[1]}"
    wait_for_presence(False)
    with VpcdLink(card), ServerThread(app, page_socket):
        wait_for_presence(True)
        finished = run_script(
            "card_helper.mjs",
            [base_url, helper, str(ARTIFACTS), str(tmp_path / "chromium-profile"), CARD_PIN],
            timeout=150,
        )
    wait_for_presence(False)
    checked_report(
        finished,
        "card-helper-report.json",
        expected_checks=EXPECTED_CHECKS,
        expected_audits=EXPECTED_AUDITS,
    )
    assert card.tries_left == 3, "the right PIN after a wrong one resets the counter"
    assert any(entry.command.startswith("802A0080") for entry in card.apdu_log)
