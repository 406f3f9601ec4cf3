"""`mykey api serve` as deployed: a separate process configured only by MYKEY_API_* variables.

The node is the shared dev node of tests/api_chain (LevelDB, demo consortium); the chain config
and keystores are written for it with api.chain.demo.write_demo_chain, the test JPKI authority's
anchor (PEM) and CRL (DER) go to files, and `python -m mykey_cli api serve --port 0` runs as a
subprocess. Through it a resident registers with a virtual card (challenge + answer, MyKey ID on
the ledger), is granted points by municipal staff, and redeems them at the demo store's terminal
with signed terminal requests; and the start refusals end the process with exit 2 and one line:
a half configuration, a chain config whose deployment is on another chain, an unreadable anchor
file, a node that does not answer. The same process serves the browser pages (Japanese, `?lang=en`
English; the explorer reads the node; registration offers the card helper, never the virtual card;
cookies `Secure`) and, with MYKEY_API_RUN_KEEPERS=on, runs the keepers, which an operator made by
`mykey api create-staff` sees at /operator/keepers. A second process with
MYKEY_API_SECURE_COOKIES=off and MYKEY_API_PUBLIC_ORIGIN shows plain cookies and the public origin.
Also here, without a node: the lean web3 of connect() and the receipt poll interval.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from eth_account import Account
from web3 import Web3

from api.chain.demo import write_demo_chain
from api.chain.ledger import LEAN_MIDDLEWARE_DROPPED, connect
from api.chain.sender import RECEIPT_POLL_SECONDS, TransactionSender
from api.cli import READY_PREFIX
from api.passwords import PasswordService
from api.services.audit import SYSTEM_ACTOR
from api.services.staff import create_staff_account
from api.settings import ApiSettings
from api.store.database import open_store
from bench.api_split import Child, ChildFailed, start_child
from card_bridge.counter.signing import sign_request
from contracts.domain import TerminalKind
from tests.api.smtp_server import free_port
from tests.api_chain.conftest import (
    FAST_HASHING,
    KAWASAKI,
    STAFF_PASSWORD,
    ChainWorld,
    b64url_decode,
    new_card,
    register,
    terminal_key,
)

ROOT = Path(__file__).resolve().parents[2]
SERVE = [sys.executable, "-m", "mykey_cli", "api", "serve", "--port", "0"]
STAFF_LOGIN = "served.staff"
OPERATOR_LOGIN = "served.operator"
OPERATOR_PASSWORD = "operator passphrase 1"
"""The password of the test operator account `mykey api create-staff` makes."""
PUBLIC_ORIGIN = "https://mykey.example.jp"


@dataclass(frozen=True)
class ServeFiles:
    """The files a deployment hands to `mykey api serve`, and the variables naming them."""

    data_dir: Path
    environment: dict[str, str]


def _clean_environment() -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if not name.startswith("MYKEY_API_")}


@pytest.fixture(scope="module")
def serve_files(world: ChainWorld, tmp_path_factory: pytest.TempPathFactory) -> ServeFiles:
    directory = tmp_path_factory.mktemp("serve")
    config_file, keystore, password_file = write_demo_chain(
        directory / "chain", world.node.http_url, world.demo
    )
    anchors = directory / "jpki-ca.pem"
    anchors.write_bytes(world.authority.certificate.public_bytes(serialization.Encoding.PEM))
    crl = directory / "jpki.crl"
    crl.write_bytes(world.trust.revocation_lists[0].public_bytes(serialization.Encoding.DER))
    data_dir = directory / "data"
    store = open_store(ApiSettings.for_data_dir(data_dir).database_url)
    try:
        with store.sessions() as db:
            create_staff_account(
                db=db,
                passwords=PasswordService(FAST_HASHING),
                actor=SYSTEM_ACTOR,
                login_name=STAFF_LOGIN,
                password=STAFF_PASSWORD,
                role="municipal-staff",
                organisation=str(KAWASAKI),
                now=int(world.w3.eth.get_block("latest")["timestamp"]),
            )
    finally:
        store.close()
    operator_password = directory / "operator-password"
    operator_password.write_text(OPERATOR_PASSWORD + "\n", encoding="utf-8")
    operator_password.chmod(0o600)
    create_operator = [sys.executable, "-m", "mykey_cli", "api", "create-staff"]
    create_operator += ["--data-dir", str(data_dir), "--login-name", OPERATOR_LOGIN]
    create_operator += ["--role", "node-operator", "--password-file", str(operator_password)]
    made = subprocess.run(
        create_operator,
        cwd=ROOT,
        env=_clean_environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    environment = _clean_environment() | {
        "MYKEY_API_CHAIN_CONFIG": str(config_file),
        "MYKEY_API_KEYSTORE_DIR": str(keystore),
        "MYKEY_API_KEYSTORE_PASSWORD_FILE": str(password_file),
        "MYKEY_API_JPKI_TRUST_ANCHORS": str(anchors),
        "MYKEY_API_JPKI_CRLS": str(crl),
    }
    return ServeFiles(data_dir, environment)


@pytest.fixture(scope="module")
def served(serve_files: ServeFiles, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of `mykey api serve` running against the shared node, keepers included."""
    log = tmp_path_factory.mktemp("serve-log") / "api.log"
    command = [*SERVE, "--data-dir", str(serve_files.data_dir)]
    environment = serve_files.environment | {"MYKEY_API_RUN_KEEPERS": "on"}
    try:
        child: Child = start_child("api", command, READY_PREFIX, log, environment)
    except ChildFailed:
        pytest.fail(log.read_text(encoding="utf-8")[-3000:])
    try:
        yield child.ready
    finally:
        child.stop()
    # uvicorn shuts down gracefully on SIGTERM, then ends by the same signal
    assert child.process.returncode in {0, -signal.SIGTERM}, log.read_text(encoding="utf-8")[-3000:]
    started = log.read_text(encoding="utf-8")
    assert "chain ID" in started  # the start line names the check
    assert "pages on" in started
    assert "keepers run in this process" in started


def _terminal(http: httpx.Client, key: str, method: str, path: str, body: object) -> httpx.Response:
    raw = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
    headers = sign_request(
        Account.from_key(key),
        method=method,
        path=path,
        body=raw,
        timestamp=int(time.time()),  # the served API's clock is the wall clock
    ).as_dict()
    headers["Content-Type"] = "application/json"
    return http.request(method, path, content=raw, headers=headers)


def test_served_api_registers_grants_and_redeems_through_the_ledger(
    world: ChainWorld, served: str
) -> None:
    store_terminal = terminal_key(world, "store", TerminalKind.POINT_USE)
    card = new_card(world)
    with httpx.Client(base_url=served, timeout=60) as http:
        who = _terminal(http, store_terminal, "GET", "/terminal/v1/terminal", None)
        assert who.status_code == 200, who.text
        assert who.json()["kinds"] == ["point-use"]
        assert who.json()["address"] == Account.from_key(store_terminal).address

        mykey_id = register(http, card)  # type: ignore[arg-type]  # the same client interface
        session = http.post(
            "/staff/sessions", json={"login_name": STAFF_LOGIN, "password": STAFF_PASSWORD}
        )
        assert session.status_code == 201, session.text
        granted = http.post(
            "/grants",
            json={"mykey_id": mykey_id, "points": 700, "activity": "volunteering"},
            headers={"Authorization": f"Bearer {session.json()['token']}"},
        )
        assert granted.status_code == 201, granted.text

        opened = _terminal(
            http, store_terminal, "POST", "/terminal/v1/redemptions", {"amount": 300}
        )
        assert opened.status_code == 201, opened.text
        action = opened.json()
        answered = _terminal(
            http,
            store_terminal,
            "POST",
            f"/terminal/v1/redemptions/{action['action_id']}/card-answer",
            card.answer(b64url_decode(action["statement"])),
        )
    assert answered.status_code == 200, answered.text
    assert answered.json()["remaining_balance"] == 400
    receipt = world.w3.eth.get_transaction_receipt(answered.json()["transaction_hash"])
    assert receipt["status"] == 1


def test_served_api_refuses_a_card_of_another_authority(world: ChainWorld, served: str) -> None:
    from card_bridge.virtual_card.issuance import TestAuthority, issue_card
    from tests.api_chain.conftest import VirtualCard

    now = world.authority.certificate.not_valid_before_utc
    stranger = VirtualCard(issue_card(TestAuthority.create(now), now))
    with httpx.Client(base_url=served, timeout=30) as http:
        challenge = http.post("/registrations/card-challenges").json()
        refused = http.post(
            "/registrations",
            json={"challenge_id": challenge["challenge_id"]}
            | stranger.answer(b64url_decode(challenge["challenge"])),
        )
    assert refused.status_code in {401, 403}, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert "card-certificate-refused" in refused.json()["type"]


# ---- the pages and the in-process keepers of the served process ---------------------------


def _html(http: httpx.Client, path: str) -> str:
    page = http.get(path)
    assert page.status_code == 200, page.text[-2000:]
    assert page.headers["content-type"].startswith("text/html")
    return page.text


@pytest.mark.parametrize("path", ["/my/login", "/explorer", "/staff/login", "/my/register"])
def test_served_pages_answer_in_japanese_and_english(served: str, path: str) -> None:
    with httpx.Client(base_url=served, timeout=30) as http:
        japanese = _html(http, path)
        english = _html(http, f"{path}?lang=en")
    assert '<html lang="ja">' in japanese
    assert '<html lang="en">' in english
    assert "English" in japanese  # the language switch
    assert "日本語" in english


@pytest.mark.parametrize(("path", "login"), [("/my", "/my/login"), ("/staff", "/staff/login")])
def test_my_page_and_staff_console_send_strangers_to_their_login(
    served: str, path: str, login: str
) -> None:
    with httpx.Client(base_url=served, timeout=30) as http:
        answer = http.get(path)
    assert answer.status_code == 303
    assert answer.headers["location"] == login


def test_served_explorer_shows_the_nodes_latest_block(world: ChainWorld, served: str) -> None:
    before = world.w3.eth.block_number
    with httpx.Client(base_url=served, timeout=30) as http:
        page = _html(http, "/explorer")
    after = world.w3.eth.block_number
    shown = max(int(number) for number in re.findall(r'href="/explorer/blocks/(\d+)"', page))
    assert before <= shown <= after


def test_served_registration_offers_the_card_helper_and_no_virtual_card(served: str) -> None:
    with httpx.Client(base_url=served, timeout=30) as http:
        page = _html(http, "/my/register")
        posted = http.post("/my/register/virtual-card", data={"pin": "1234"})
    assert 'id="card-helper"' in page
    assert 'data-helper-url="http://127.0.0.1:' in page
    assert f"--allow-origin {served}" in page  # no public origin set: the request's own
    assert "/my/register/virtual-card" not in page
    assert "仮想カード" not in page
    assert posted.status_code == 404


def _staff_login_cookie(http: httpx.Client) -> str:
    login = http.post(
        "/staff/login", data={"login_name": OPERATOR_LOGIN, "password": OPERATOR_PASSWORD}
    )
    assert login.status_code == 303, login.text[-2000:]
    cookies = [value for value in login.headers.get_list("set-cookie") if "staff_session" in value]
    assert len(cookies) == 1, login.headers
    return cookies[0]


def test_served_session_cookies_are_secure_by_default(served: str) -> None:
    with httpx.Client(base_url=served, timeout=30) as http:
        cookie = _staff_login_cookie(http)
        language = http.get("/explorer?lang=en").headers["set-cookie"]
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    assert "Secure" in language


def test_served_keepers_run_in_process(served: str) -> None:
    with httpx.Client(base_url=served, timeout=30) as http:
        session = http.post(
            "/staff/sessions", json={"login_name": OPERATOR_LOGIN, "password": OPERATOR_PASSWORD}
        )
        assert session.status_code == 201, session.text
        headers = {"Authorization": f"Bearer {session.json()['token']}"}
        deadline = time.monotonic() + 30
        while True:  # the keeper thread's first pass starts with the app; wait for it to end
            status = http.get("/operator/keepers", headers=headers)
            assert status.status_code == 200, status.text
            finished = [k for k in status.json()["keepers"] if k["last_finished_at"] is not None]
            if finished or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert status.json()["runs_in_this_process"] is True
    assert {keeper["name"] for keeper in finished} == {"reserves", "expiry"}
    assert all(keeper["last_error"] is None for keeper in finished)


def test_serve_with_plain_cookies_and_a_public_origin(
    serve_files: ServeFiles, tmp_path: Path
) -> None:
    environment = serve_files.environment | {
        "MYKEY_API_SECURE_COOKIES": "off",
        "MYKEY_API_PUBLIC_ORIGIN": PUBLIC_ORIGIN,
    }
    log = tmp_path / "api.log"
    command = [*SERVE, "--data-dir", str(tmp_path / "data"), "--log-level", "warning"]
    try:
        child = start_child("api", command, READY_PREFIX, log, environment)
    except ChildFailed:
        pytest.fail(log.read_text(encoding="utf-8")[-3000:])
    try:
        with httpx.Client(base_url=child.ready, timeout=30) as http:
            language = http.get("/explorer?lang=en").headers["set-cookie"]
            page = _html(http, "/my/register")
    finally:
        child.stop()
    assert "Secure" not in language
    assert f"--allow-origin {PUBLIC_ORIGIN}" in page  # what the resident must allow
    assert "MYKEY_API_SECURE_COOKIES=off" in log.read_text(encoding="utf-8")  # the warning line


def _refused(environment: dict[str, str], data_dir: Path) -> str:
    finished = subprocess.run(
        [*SERVE, "--data-dir", str(data_dir)],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert finished.returncode == 2, finished.stderr[-2000:]
    assert finished.stderr.startswith("mykey api serve: "), finished.stderr[-2000:]
    assert finished.stderr.count("\n") == 1, finished.stderr  # one line, no stack trace
    assert READY_PREFIX not in finished.stdout
    return finished.stderr


def test_serve_refuses_a_deployment_of_another_chain(
    world: ChainWorld, serve_files: ServeFiles, tmp_path: Path
) -> None:
    raw = json.loads(Path(serve_files.environment["MYKEY_API_CHAIN_CONFIG"]).read_text())
    actual = raw["deployment"]["chain_id"]
    raw["deployment"]["chain_id"] = actual + 1
    other = tmp_path / "other-chain.json"
    other.write_text(json.dumps(raw), encoding="utf-8")

    error = _refused(serve_files.environment | {"MYKEY_API_CHAIN_CONFIG": str(other)}, tmp_path)

    assert f"serves chain ID {actual}" in error
    assert f"made on chain ID {actual + 1}" in error
    assert world.node.http_url in error


def test_serve_refuses_a_node_that_does_not_answer(serve_files: ServeFiles, tmp_path: Path) -> None:
    raw = json.loads(Path(serve_files.environment["MYKEY_API_CHAIN_CONFIG"]).read_text())
    raw["rpc_url"] = f"http://127.0.0.1:{free_port()}"
    silent = tmp_path / "silent-node.json"
    silent.write_text(json.dumps(raw), encoding="utf-8")

    error = _refused(serve_files.environment | {"MYKEY_API_CHAIN_CONFIG": str(silent)}, tmp_path)

    assert raw["rpc_url"] in error
    assert "did not answer eth_chainId" in error


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"MYKEY_API_JPKI_TRUST_ANCHORS": "/nonexistent/jpki-ca.pem"}, "cannot read"),
        ({"MYKEY_API_JPKI_CRLS": ""}, "MYKEY_API_JPKI_CRLS is not"),
        ({"MYKEY_API_KEYSTORE_PASSWORD_FILE": ""}, "MYKEY_API_KEYSTORE_PASSWORD_FILE"),
    ],
)
def test_serve_refuses_unreadable_or_half_configuration(
    serve_files: ServeFiles, tmp_path: Path, change: dict[str, str], named: str
) -> None:
    environment = {
        name: value for name, value in (serve_files.environment | change).items() if value
    }
    assert named in _refused(environment, tmp_path)


def test_connect_builds_the_lean_web3() -> None:
    lean = connect("http://127.0.0.1:1")
    assert "attrdict" in lean.middleware_onion  # the rest of web3's default middleware stays
    assert not [name for name in LEAN_MIDDLEWARE_DROPPED if name in lean.middleware_onion]
    assert "validation" in Web3(Web3.HTTPProvider("http://127.0.0.1:1")).middleware_onion
    provider = lean.provider
    session = provider._request_session_manager._explicit_session  # type: ignore[attr-defined]
    assert session.trust_env is False
    with_proxies = connect("http://127.0.0.1:1", trust_env=True)
    proxied = with_proxies.provider._request_session_manager._explicit_session  # type: ignore[attr-defined]
    assert proxied.trust_env is True


def test_receipt_poll_interval(world: ChainWorld) -> None:
    w3 = Web3()
    default = TransactionSender(w3, world.config.deployment, world.keys)
    assert (default.receipt_poll_seconds, RECEIPT_POLL_SECONDS) == (None, 0.1)
    by_block = TransactionSender(w3, world.config.deployment, world.keys, block_period_seconds=2.0)
    assert by_block.receipt_poll_seconds == 0.5
    chosen = TransactionSender(
        w3,
        world.config.deployment,
        world.keys,
        receipt_poll_seconds=0.3,
        block_period_seconds=2.0,
    )
    assert chosen.receipt_poll_seconds == 0.3
