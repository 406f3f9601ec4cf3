"""Fixtures for the page tests: an app with the pages mounted, a real JPKI card check, fakes.

The ledger ports are the API tests' fakes (a set of taken IDs, a list of grants); the card
check is the real one (`api.cards.JpkiCardVerifier`) against a test JPKI authority, and the card
is a virtual My Number Card answered through `api.pages.virtual_card.FreshVirtualCards`. So a
registration in these tests goes through real RSA signatures and certificate checks.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from api.app import create_app
from api.cards import JpkiCardVerifier
from api.pages import PagesSettings
from api.pages.virtual_card import TEST_CARD_PIN, FreshVirtualCards
from api.passwords import PasswordService
from api.services.audit import SYSTEM_ACTOR
from api.services.staff import create_staff_account
from api.settings import ApiSettings
from api.store.database import Store, open_store
from card_bridge.platform_checks.certificates import TrustConfiguration
from card_bridge.virtual_card.issuance import TestAuthority
from tests.api.conftest import (
    FAST_HASHING,
    START,
    FakeClock,
    FakeLedger,
    FakePointsLedger,
    SequenceGenerator,
)

STAFF_PASSWORD = "kawasaki staff passphrase"
RESIDENT_PASSWORD = "Abc12345"


def at_start() -> datetime:
    return datetime.fromtimestamp(START, UTC)


@dataclass
class PageWorld:
    """One app with pages and the fakes behind it."""

    client: TestClient
    ledger: FakeLedger
    points: FakePointsLedger
    clock: FakeClock
    generator: SequenceGenerator
    desk: FreshVirtualCards
    store: Store


@pytest.fixture(scope="session")
def authority() -> TestAuthority:
    """A test JPKI CA (one RSA key made per session: key generation is the slow part)."""
    return TestAuthority.create(at_start())


def build_app_parts(
    tmp_path: Path, authority: TestAuthority, pages: PagesSettings | None = None
) -> tuple[
    ApiSettings,
    FakeLedger,
    FakePointsLedger,
    FakeClock,
    SequenceGenerator,
    FreshVirtualCards,
    PagesSettings,
]:
    settings = ApiSettings.for_data_dir(
        tmp_path / "data", password_hashing=FAST_HASHING, mail_from="noreply@mykey.test"
    )
    ledger = FakeLedger()
    desk = FreshVirtualCards(authority, now=at_start)
    chosen = pages or PagesSettings(virtual_card=desk, secure_cookies=False)
    return (
        settings,
        ledger,
        FakePointsLedger(registry=ledger),
        FakeClock(),
        SequenceGenerator(),
        desk,
        chosen,
    )


def card_verifier(authority: TestAuthority) -> JpkiCardVerifier:
    return JpkiCardVerifier(
        TrustConfiguration((authority.certificate,), (authority.revocation_list(at_start()),))
    )


@pytest.fixture
def site(tmp_path: Path, authority: TestAuthority) -> Iterator[PageWorld]:
    """The app with pages on fakes (ledger ports) and the real card check."""
    settings, ledger, points, clock, generator, desk, pages = build_app_parts(tmp_path, authority)
    app = create_app(
        settings,
        ledger=ledger,
        points=points,
        cards=card_verifier(authority),
        clock=clock,
        generate_candidate=generator,
        pages=pages,
    )
    with TestClient(app, raise_server_exceptions=True) as client:
        store = open_store(settings.database_url)
        yield PageWorld(client, ledger, points, clock, generator, desk, store)
        store.close()


def add_staff(
    store: Store, login_name: str, organisation: str | None, role: str = "municipal-staff"
) -> None:
    """Create a staff account directly in the store, as the CLI does."""
    with store.sessions() as db:
        create_staff_account(
            db=db,
            passwords=PasswordService(FAST_HASHING),
            actor=SYSTEM_ACTOR,
            login_name=login_name,
            password=STAFF_PASSWORD,
            role=role,
            organisation=organisation,
            now=START,
        )


def field_error(page: Response, field: str) -> str | None:
    """Return the error text shown for `field`, checking it is tied to the input, or None."""
    html = page.text
    match = re.search(rf'<span class="field-error" id="{field}-error">(.*?)</span>', html)
    if match is None:
        return None
    control = re.search(rf'<(?:input|select)[^>]*\bid="{field}"[^>]*>', html)
    assert control is not None, f"no control with id {field}"
    assert f"{field}-error" in control.group(0), f"{field}'s error is not in aria-describedby"
    assert 'aria-invalid="true"' in control.group(0)
    return match.group(1)


def open_card_step(client: TestClient) -> Response:
    """Answer the card step with the virtual card and the right PIN; return the form page."""
    page: Response = client.post("/my/register/virtual-card", data={"pin": TEST_CARD_PIN})
    assert page.status_code == 200, page.text
    return page


COMPLETE_FORM: dict[str, str] = {
    "action": "complete",
    "password": RESIDENT_PASSWORD,
    "password_confirmation": RESIDENT_PASSWORD,
    "email": "resident@example.jp",
    "email_confirmation": "resident@example.jp",
    "notify_points_granted": "true",
    "prefecture_code": "14",
    "municipality_code": "14130",
}


def register(client: TestClient, mykey_id: str) -> None:
    """Register `mykey_id` through the pages (own candidate)."""
    open_card_step(client)
    checked = client.post("/my/register", data={"action": "check", "candidate": mykey_id})
    assert checked.status_code == 200, checked.text
    done = client.post("/my/register", data=COMPLETE_FORM)
    assert done.status_code == 201, done.text
