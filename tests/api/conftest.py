"""Fixtures for the API tests: a fake clock, fake ledger and card ports, an app on a temp store.

The fakes implement the Protocols of `api.ports` with the behaviour the real adapters promise:
the ledger remembers registered IDs and can be told an ID is taken or that it is down; the card
verifier accepts exactly the answer `card_answer` computes and refuses everything else.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.errors import (
    CardVerificationFailed,
    GrantRefused,
    LedgerUnavailable,
    MykeyIdTaken,
    SubmissionInDoubt,
)
from api.identifiers import MunicipalityCode, MykeyId
from api.messages import Message
from api.passwords import PasswordService
from api.ports import CertificateFingerprint, Points, TransactionHash, VerifiedCard
from api.services.audit import SYSTEM_ACTOR
from api.services.staff import create_staff_account
from api.settings import ApiSettings, PasswordHashing
from api.store.database import Store, open_store

START = 1_790_000_000
FAST_HASHING = PasswordHashing(time_cost=1, memory_cost_kib=1024, parallelism=1)
ADMIN_PASSWORD = "admin passphrase 1"


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, now: int = START) -> None:
        self.current = now

    def now(self) -> int:
        return self.current

    def advance(self, seconds: int) -> None:
        self.current += seconds


@dataclass
class FakeLedger:
    """The MyKey ID registry: a set, plus registrations in order, plus an outage switch."""

    taken: set[str] = field(default_factory=set)
    registered: list[tuple[str, str]] = field(default_factory=list)
    down: bool = False

    def is_mykey_id_taken(self, mykey_id: MykeyId) -> bool:
        if self.down:
            raise LedgerUnavailable(Message("台帳停止", "ledger down"))
        return mykey_id in self.taken

    def register_mykey_id(
        self, *, mykey_id: MykeyId, home_municipality: MunicipalityCode
    ) -> TransactionHash:
        if self.down:
            raise LedgerUnavailable(Message("台帳停止", "ledger down"))
        if mykey_id in self.taken:
            raise MykeyIdTaken(Message("使用済み", "taken"))
        self.taken.add(mykey_id)
        self.registered.append((mykey_id, home_municipality))
        digest = hashlib.sha256(f"{mykey_id}:{home_municipality}".encode()).hexdigest()
        return TransactionHash("0x" + digest)


@dataclass
class FakePointsLedger:
    """Grants on the ledger: refuses IDs the registry does not hold; outage and doubt switches."""

    registry: FakeLedger
    grants: list[tuple[str, str, int, str, bytes]] = field(default_factory=list)
    down: bool = False
    in_doubt: bool = False

    def grant_points(
        self,
        *,
        mykey_id: MykeyId,
        municipality: MunicipalityCode,
        points: Points,
        activity: str,
        reference: bytes,
    ) -> TransactionHash:
        if self.down:
            raise LedgerUnavailable(Message("台帳停止", "ledger down"))
        if self.in_doubt:
            raise SubmissionInDoubt(Message("結果不明", "sent, receipt not final"))
        if mykey_id not in self.registry.taken:
            raise GrantRefused(Message("未登録のマイキーID", f"{mykey_id} is not registered"))
        self.grants.append((mykey_id, municipality, points, activity, reference))
        return TransactionHash("0x" + hashlib.sha256(reference).hexdigest())


def card_signature(challenge: bytes, certificate: bytes) -> bytes:
    """The answer the fake card verifier accepts for this challenge and certificate."""
    return hashlib.sha256(b"signed:" + certificate + challenge).digest()


class FakeCardVerifier:
    """Accepts `card_signature(challenge, certificate)`; the fingerprint is SHA-256 of the DER."""

    not_after = START + 5 * 365 * 86400

    def verify_challenge_response(
        self, *, challenge: bytes, certificate_der: bytes, signature: bytes, now: int
    ) -> VerifiedCard:
        if signature != card_signature(challenge, certificate_der):
            raise CardVerificationFailed(Message("カード認証失敗", "signature does not verify"))
        return VerifiedCard(
            certificate_fingerprint=CertificateFingerprint(
                hashlib.sha256(certificate_der).hexdigest()
            ),
            certificate_not_after=self.not_after,
        )


class SequenceGenerator:
    """Candidate generator that hands out a fixed sequence, then falls back to a counter."""

    def __init__(self, *values: str) -> None:
        self.values = list(values)
        self.counter = 0

    def __call__(self) -> MykeyId:
        if self.values:
            return MykeyId(self.values.pop(0))
        self.counter += 1
        return MykeyId(f"GEN{self.counter:05d}")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def ledger() -> FakeLedger:
    return FakeLedger()


@pytest.fixture
def points_ledger(ledger: FakeLedger) -> FakePointsLedger:
    return FakePointsLedger(registry=ledger)


@pytest.fixture
def generator() -> SequenceGenerator:
    return SequenceGenerator()


@pytest.fixture
def settings(tmp_path: Path) -> ApiSettings:
    return ApiSettings.for_data_dir(
        tmp_path / "data", password_hashing=FAST_HASHING, mail_from="noreply@mykey.test"
    )


@pytest.fixture
def client(
    settings: ApiSettings,
    ledger: FakeLedger,
    points_ledger: FakePointsLedger,
    clock: FakeClock,
    generator: SequenceGenerator,
) -> Iterator[TestClient]:
    app = create_app(
        settings,
        ledger=ledger,
        points=points_ledger,
        cards=FakeCardVerifier(),
        clock=clock,
        generate_candidate=generator,
    )
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def store(settings: ApiSettings, client: TestClient) -> Iterator[Store]:
    """A second handle on the app's store, for looking behind the API."""
    opened = open_store(settings.database_url)
    yield opened
    opened.close()


@pytest.fixture
def admin_token(store: Store, client: TestClient, clock: FakeClock) -> str:
    """Create a platform administrator (as the CLI does) and log in; return the bearer token."""
    with store.sessions() as db:
        create_staff_account(
            db=db,
            passwords=PasswordService(FAST_HASHING),
            actor=SYSTEM_ACTOR,
            login_name="platform.admin",
            password=ADMIN_PASSWORD,
            role="platform-admin",
            organisation=None,
            now=clock.now(),
        )
    response = client.post(
        "/staff/sessions", json={"login_name": "platform.admin", "password": ADMIN_PASSWORD}
    )
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


def open_registration(client: TestClient, certificate: bytes = b"certificate-A") -> str:
    """Answer a card challenge with the fake card; return the registration id."""
    challenge = client.post("/registrations/card-challenges").json()
    raw = base64.urlsafe_b64decode(
        challenge["challenge"] + "=" * (-len(challenge["challenge"]) % 4)
    )
    response = client.post(
        "/registrations",
        json={
            "challenge_id": challenge["challenge_id"],
            "certificate": base64.b64encode(certificate).decode(),
            "signature": base64.b64encode(card_signature(raw, certificate)).decode(),
        },
    )
    assert response.status_code == 201, response.text
    registration_id: str = response.json()["registration_id"]
    return registration_id


def completion_form(**changes: object) -> dict[str, object]:
    """A valid completion form, with `changes` applied."""
    form: dict[str, object] = {
        "password": "Abc12345",
        "password_confirmation": "Abc12345",
        "email": "resident@example.jp",
        "email_confirmation": "resident@example.jp",
        "prefecture_code": "14",
        "municipality_code": "14130",
    }
    form.update(changes)
    return form


def register_resident(
    client: TestClient,
    mykey_id: str = "TANAKA01",
    certificate: bytes = b"certificate-A",
    **form_changes: object,
) -> str:
    """Register `mykey_id` through the API (own candidate); return it."""
    registration_id = open_registration(client, certificate)
    checked = client.post(
        f"/registrations/{registration_id}/candidate-checks", json={"candidate": mykey_id}
    )
    assert checked.status_code == 200, checked.text
    done = client.post(
        f"/registrations/{registration_id}/completion", json=completion_form(**form_changes)
    )
    assert done.status_code == 201, done.text
    return mykey_id


def login(
    client: TestClient,
    mykey_id: str = "TANAKA01",
    password: str = "Abc12345",  # noqa: S107 - the test resident's password
) -> str:
    """Log in and return the bearer token."""
    response = client.post("/sessions", json={"mykey_id": mykey_id, "password": password})
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token
