"""Fixtures for the chain-side API tests: a real dev node (LevelDB), the demo consortium, an app.

The node and the deployment are session-scoped (deploying takes ~30 one-second blocks); every
test gets its own app and store, and its own fresh residents (random MyKey IDs), so tests do not
see each other's points. Keys are the demo consortium's THROWAWAY TEST KEYS, put into encrypted
keystores as the API would hold real ones. Cards are virtual My Number Cards issued by a test
JPKI authority, signing in memory.
"""

from __future__ import annotations

import base64
import json
import secrets
import string
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from eth_account import Account
from fastapi.testclient import TestClient
from httpx import Response
from web3 import Web3

from api.app import create_app
from api.cards import JpkiCardVerifier
from api.chain.config import ChainConfig
from api.chain.demo import write_demo_chain
from api.chain.keys import KeyRing, load_key_ring
from api.chain.ledger import connect
from api.chain.side import ChainSide, build_chain_side
from api.clock import Clock, SystemClock
from api.passwords import PasswordService
from api.services.audit import SYSTEM_ACTOR
from api.services.staff import create_staff_account
from api.settings import ApiSettings, PasswordHashing
from api.store.database import Store, open_store
from card_bridge.counter.signing import sign_request
from card_bridge.platform_checks.certificates import TrustConfiguration
from card_bridge.virtual_card.issuance import CardIssue, TestAuthority, issue_card
from contracts.demo import DemoConsortium, deploy_demo
from contracts.domain import TerminalKind
from node.devmode import RunningNode, start_embedded

FAST_HASHING = PasswordHashing(time_cost=1, memory_cost_kib=1024, parallelism=1)
KEYSTORE_PASSWORD = "test keystore password"
STAFF_PASSWORD = "staff passphrase 1"
KAWASAKI = 14130
TOSHIMA = 13116


@dataclass(frozen=True)
class ChainWorld:
    """The running node, the demo consortium and the key ring the API holds."""

    node: RunningNode
    w3: Web3
    demo: DemoConsortium
    keys: KeyRing
    config: ChainConfig
    authority: TestAuthority
    trust: TrustConfiguration


@contextmanager
def running_world(
    tmp_path_factory: pytest.TempPathFactory,
    *,
    block_period: float | None = None,
    crl_validity: timedelta = timedelta(days=1),
) -> Iterator[ChainWorld]:
    """Start a dev node of its own (LevelDB in a new tmp dir), deploy the demo consortium on it.

    `block_period` below 1 s gives sub-second blocks; `crl_validity` keeps the test authority's
    revocation list fresh when a test moves the block clock forward.
    """
    datadir = tmp_path_factory.mktemp("node")
    node = start_embedded(datadir, block_period=block_period)
    try:
        w3 = connect(node.http_url)
        demo = deploy_demo(w3, node.dev_accounts[0].private_key, gas_limit=3_000_000)
        config_file, keystore, password_file = write_demo_chain(
            tmp_path_factory.mktemp("chain"), node.http_url, demo
        )
        password = password_file.read_text(encoding="utf-8").strip()
        keys = load_key_ring(keystore, password)
        config = ChainConfig.load(config_file)
        now = datetime.now(UTC)
        authority = TestAuthority.create(now)
        revocation_list = authority.revocation_list(now, next_update=crl_validity)
        trust = TrustConfiguration(
            anchors=(authority.certificate,), revocation_lists=(revocation_list,)
        )
        yield ChainWorld(node, w3, demo, keys, config, authority, trust)
    finally:
        node.stop()


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainWorld]:
    """The node most chain-side tests share (deploying takes ~30 one-second blocks)."""
    with running_world(tmp_path_factory) as shared:
        yield shared


@dataclass
class VirtualCard:
    """A virtual My Number Card: signs SHA-256 of what it is given (RSASSA-PKCS1-v1_5)."""

    issue: CardIssue

    @property
    def certificate_der(self) -> bytes:
        return self.issue.auth_certificate.public_bytes(serialization.Encoding.DER)

    def sign(self, data: bytes) -> bytes:
        return self.issue.private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())

    def answer(self, data: bytes) -> dict[str, str]:
        return {
            "certificate": base64.b64encode(self.certificate_der).decode(),
            "signature": base64.b64encode(self.sign(data)).decode(),
        }


def new_card(world: ChainWorld) -> VirtualCard:
    return VirtualCard(issue_card(world.authority, datetime.now(UTC)))


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def random_mykey_id() -> str:
    return "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(8))


def make_app_client(
    world: ChainWorld, settings: ApiSettings, *, clock: Clock | None = None
) -> tuple[TestClient, ChainSide]:
    clock = clock or SystemClock()
    side = build_chain_side(world.config, world.keys, clock)
    app = create_app(settings, cards=JpkiCardVerifier(world.trust), clock=clock, chain=side)
    return TestClient(app, raise_server_exceptions=False), side


@pytest.fixture
def settings(tmp_path: Path) -> ApiSettings:
    return ApiSettings.for_data_dir(
        tmp_path / "data",
        password_hashing=FAST_HASHING,
        mail_from="noreply@mykey.test",
        follow_chain=False,
    )


@pytest.fixture
def api(world: ChainWorld, settings: ApiSettings) -> Iterator[TestClient]:
    client, _side = make_app_client(world, settings)
    with client:
        yield client


@pytest.fixture
def store(settings: ApiSettings, api: TestClient) -> Iterator[Store]:
    opened = open_store(settings.database_url)
    yield opened
    opened.close()


def register(api: TestClient, card: VirtualCard, home: str = "14130") -> str:
    """Register a fresh MyKey ID for `card` through the API (lands on-chain); return it."""
    challenge = api.post("/registrations/card-challenges").json()
    opened = api.post(
        "/registrations",
        json={"challenge_id": challenge["challenge_id"]}
        | card.answer(b64url_decode(challenge["challenge"])),
    )
    assert opened.status_code == 201, opened.text
    registration_id = opened.json()["registration_id"]
    mykey_id = random_mykey_id()
    checked = api.post(
        f"/registrations/{registration_id}/candidate-checks", json={"candidate": mykey_id}
    )
    assert checked.status_code == 200, checked.text
    done = api.post(
        f"/registrations/{registration_id}/completion",
        json={
            "password": "Abc12345",
            "password_confirmation": "Abc12345",
            "prefecture_code": home[:2],
            "municipality_code": home,
        },
    )
    assert done.status_code == 201, done.text
    return mykey_id


def staff_token(store: Store, api: TestClient, *, role: str, organisation: str | None) -> str:
    login = f"{role}.{secrets.token_hex(4)}"
    with store.sessions() as db:
        create_staff_account(
            db=db,
            passwords=PasswordService(FAST_HASHING),
            actor=SYSTEM_ACTOR,
            login_name=login,
            password=STAFF_PASSWORD,
            role=role,
            organisation=organisation,
            now=SystemClock().now(),
        )
    response = api.post("/staff/sessions", json={"login_name": login, "password": STAFF_PASSWORD})
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


def grant(api: TestClient, token: str, mykey_id: str, points: int) -> dict[str, object]:
    response = api.post(
        "/grants",
        json={"mykey_id": mykey_id, "points": points, "activity": "volunteering"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


def terminal_key(world: ChainWorld, business: str, kind: TerminalKind) -> str:
    return world.demo.businesses[business].terminal_keys[kind]


def signed(
    api: TestClient,
    key: str,
    method: str,
    path: str,
    body: object | None = None,
    *,
    timestamp: int | None = None,
    nonce: str | None = None,
) -> tuple[dict[str, str], bytes]:
    """Return headers and body bytes of a request signed as the terminal with `key`."""

    raw = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
    headers = sign_request(
        Account.from_key(key),
        method=method,
        path=path,
        body=raw,
        timestamp=timestamp or SystemClock().now(),
        nonce=nonce,
    ).as_dict()
    headers["Content-Type"] = "application/json"
    return headers, raw


def terminal_call(
    api: TestClient, key: str, method: str, path: str, body: object | None = None
) -> Response:
    headers, raw = signed(api, key, method, path, body)
    response: Response = api.request(method, path, content=raw, headers=headers)
    return response
