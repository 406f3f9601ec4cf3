"""Option B on a real node: the terminal signs its own redeem transaction, the API relays it.

Each test registers fresh point-use terminals of the demo store through the store's admin key
(THROWAWAY TEST KEYS made here); the API's key ring is the demo one, so the API never holds
these keys: whatever moves points was signed on the "terminal" side of the test.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_typing import HexStr
from fastapi.testclient import TestClient
from httpx import Response

from api.chain.relay import PreparedTransaction, TransactionMismatch, check_relayed, decode_raw
from api.settings import ApiSettings
from api.store.database import Store
from api.store.models import TerminalAction
from contracts.client import LedgerClient
from contracts.domain import TerminalKind
from contracts.transactions import address_of
from tests.api_chain.conftest import (
    KAWASAKI,
    ChainWorld,
    VirtualCard,
    b64url_decode,
    grant,
    make_app_client,
    new_card,
    register,
    signed,
    staff_token,
    terminal_call,
    terminal_key,
)

PROBLEM = "urn:mykey-ledger:problem:"


class FreshTerminals:
    """Registers point-use terminals of the demo store for one test, and removes them after."""

    def __init__(self, world: ChainWorld) -> None:
        self.client = LedgerClient(world.w3, world.demo.deployment)
        self.admin_key = world.demo.businesses["store"].admin_key
        self.keys: list[str] = []
        self.world = world

    def new(self) -> str:
        key = "0x" + secrets.token_hex(32)
        self.client.register_terminal(self.admin_key, address_of(key), TerminalKind.POINT_USE)
        self.keys.append(key)
        assert not self.world.keys.holds(address_of(key))  # the API never sees this key
        return key

    def remove_all(self) -> None:
        for key in self.keys:
            self.client.deregister_terminal(self.admin_key, address_of(key))


@pytest.fixture
def terminals(world: ChainWorld) -> Iterator[FreshTerminals]:
    fresh = FreshTerminals(world)
    yield fresh
    fresh.remove_all()


def _funded(
    world: ChainWorld, api: TestClient, store: Store, points: int
) -> tuple[str, VirtualCard]:
    card = new_card(world)
    mykey_id = register(api, card)
    grant(
        api, staff_token(store, api, role="municipal-staff", organisation="14130"), mykey_id, points
    )
    return mykey_id, card


def _prepare(api: TestClient, key: str, card: VirtualCard, amount: int) -> dict[str, Any]:
    """Open a terminal-signed redemption and answer it with the card; return the answer."""
    opened = terminal_call(
        api, key, "POST", "/terminal/v1/redemptions", {"amount": amount, "signing": "terminal"}
    )
    assert opened.status_code == 201, opened.text
    action_id = opened.json()["action_id"]
    statement = b64url_decode(opened.json()["statement"])
    answered = terminal_call(
        api,
        key,
        "POST",
        f"/terminal/v1/redemptions/{action_id}/card-answer",
        card.answer(statement),
    )
    assert answered.status_code == 200, answered.text
    body: dict[str, Any] = answered.json()
    return body


def _sign(key: str, transaction: dict[str, Any], **changes: Any) -> str:
    fields = {**transaction, **changes}
    return "0x" + bytes(Account.sign_transaction(fields, key).raw_transaction).hex()


def _relay(api: TestClient, key: str, action_id: str, raw: str) -> Response:
    return terminal_call(
        api,
        key,
        "POST",
        f"/terminal/v1/redemptions/{action_id}/signed-transaction",
        {"raw_transaction": raw},
    )


def _balance(api: TestClient, mykey_id: str) -> int:
    balance: int = api.app.state.chain.ledger.balance_of(mykey_id, KAWASAKI)  # type: ignore[attr-defined]
    return balance


def test_terminal_signed_redemption_is_relayed_and_answered_with_the_receipt(
    world: ChainWorld, api: TestClient, store: Store, terminals: FreshTerminals
) -> None:
    mykey_id, card = _funded(world, api, store, 1_000)
    key = terminals.new()

    prepared = _prepare(api, key, card, 400)
    transaction = prepared["transaction"]
    assert set(transaction) == {"to", "data", "value", "gas", "gasPrice", "chainId", "nonce"}
    assert transaction["to"] == world.demo.deployment.ledger
    assert transaction["chainId"] == world.w3.eth.chain_id
    assert transaction["gasPrice"] == 0  # the ledger's base fee is zero: terminals need no funds
    assert transaction["nonce"] == world.w3.eth.get_transaction_count(address_of(key), "pending")
    assert prepared["municipality_code"] == "14130"
    assert _balance(api, mykey_id) == 1_000  # nothing moved before the terminal signs

    relayed = _relay(api, key, prepared["action_id"], _sign(key, transaction))

    assert relayed.status_code == 200, relayed.text
    body = relayed.json()
    assert body["remaining_balance"] == 600
    assert body["amount"] == 400
    assert body["municipality_code"] == "14130"
    chain_tx = world.w3.eth.get_transaction(HexStr(body["transaction_hash"]))
    assert chain_tx["from"] == address_of(key)  # sent from the terminal's own account
    assert world.w3.eth.get_transaction_receipt(HexStr(body["transaction_hash"]))["status"] == 1
    assert _balance(api, mykey_id) == 600
    with store.sessions() as db:
        action = db.get(TerminalAction, prepared["action_id"])
        assert action is not None
        assert (action.state, action.signing) == ("done", "terminal")
        assert action.transaction_hash == body["transaction_hash"]

    again = _relay(api, key, prepared["action_id"], _sign(key, transaction))
    assert again.status_code == 409
    assert again.json()["type"] == PROBLEM + "already-relayed"
    assert _balance(api, mykey_id) == 600


def test_the_api_path_is_refused_for_a_terminal_whose_key_the_api_does_not_hold(
    world: ChainWorld, api: TestClient, terminals: FreshTerminals
) -> None:
    key = terminals.new()

    refused = terminal_call(api, key, "POST", "/terminal/v1/redemptions", {"amount": 10})

    assert refused.status_code == 403, refused.text
    assert refused.json()["type"] == PROBLEM + "terminal-key-not-held"


def test_each_mismatch_has_its_own_problem_and_the_action_stays_open_for_the_right_one(
    world: ChainWorld, api: TestClient, store: Store, terminals: FreshTerminals
) -> None:
    mykey_id, card = _funded(world, api, store, 500)
    key = terminals.new()
    prepared = _prepare(api, key, card, 100)
    transaction = prepared["transaction"]
    action_id = prepared["action_id"]

    stranger = "0x" + secrets.token_hex(32)
    by_stranger = _relay(api, key, action_id, _sign(stranger, transaction))
    assert by_stranger.status_code == 403
    assert by_stranger.json()["type"] == PROBLEM + "signed-by-another-account"
    # Another registered terminal posting this terminal's action: not its action at all.
    other = terminal_key(world, "store", TerminalKind.POINT_USE)
    foreign = _relay(api, other, action_id, _sign(other, transaction))
    assert foreign.status_code == 410
    assert foreign.json()["type"] == PROBLEM + "action-expired"

    data = transaction["data"]
    tampered_use = data[:-2] + ("02" if data[-2:] != "02" else "01")
    mismatches = {
        "data": {"data": tampered_use},
        "chainId": {"chainId": transaction["chainId"] + 1},
        "value": {"value": 1},
        "to": {"to": world.demo.deployment.consortium},
        "gas": {"gas": transaction["gas"] + 1},
        "gasPrice": {"gasPrice": 1},
        "nonce": {"nonce": transaction["nonce"] + 5},
    }
    for field, change in mismatches.items():
        response = _relay(api, key, action_id, _sign(key, transaction, **change))
        assert response.status_code == 422, (field, response.text)
        assert response.json()["type"] == PROBLEM + "transaction-mismatch"
        assert response.json()["field"] == field
    garbage = _relay(api, key, action_id, "0xdeadbeef")
    assert garbage.status_code == 422
    assert garbage.json()["type"] == PROBLEM + "transaction-mismatch"
    assert _balance(api, mykey_id) == 500

    # A type 2 transaction with zero fees and less gas is the same transaction: relayed.
    dynamic = {k: v for k, v in transaction.items() if k != "gasPrice"}
    raw = _sign(key, dynamic, maxFeePerGas=0, maxPriorityFeePerGas=0, gas=400_000)
    relayed = _relay(api, key, action_id, raw)
    assert relayed.status_code == 200, relayed.text
    assert relayed.json()["remaining_balance"] == 400


class _MovableClock:
    """The API's clock, moved forward by the test."""

    def __init__(self) -> None:
        self.offset = 0

    def now(self) -> int:
        return int(time.time()) + self.offset


def test_a_transaction_posted_after_the_attestation_deadline_is_refused(
    world: ChainWorld, api: TestClient, store: Store, terminals: FreshTerminals, tmp_path: Path
) -> None:
    mykey_id, card = _funded(world, api, store, 300)
    key = terminals.new()
    clock = _MovableClock()
    late_settings = ApiSettings.for_data_dir(
        tmp_path / "data",  # the same store: the card's MyKey ID is known there
        password_hashing=api.app.state.services.settings.password_hashing,  # type: ignore[attr-defined]
        follow_chain=False,
    )
    late, _side = make_app_client(world, late_settings, clock=clock)
    with late:
        prepared = _prepare(late, key, card, 50)
        clock.offset = prepared["expires_at"] - clock.now() + 1
        path = f"/terminal/v1/redemptions/{prepared['action_id']}/signed-transaction"
        body = {"raw_transaction": _sign(key, prepared["transaction"])}
        headers, raw = signed(late, key, "POST", path, body, timestamp=clock.now())
        expired = late.post(path, content=raw, headers=headers)
        unknown_path = "/terminal/v1/redemptions/rd_unknown/signed-transaction"
        headers, raw = signed(late, key, "POST", unknown_path, body, timestamp=clock.now())
        unknown = late.post(unknown_path, content=raw, headers=headers)

    assert expired.status_code == 410, expired.text
    assert expired.json()["type"] == PROBLEM + "action-expired"
    assert unknown.status_code == 410
    assert _balance(api, mykey_id) == 300


def test_overspend_on_relay_is_refused_like_the_api_path(
    world: ChainWorld, api: TestClient, store: Store, terminals: FreshTerminals
) -> None:
    mykey_id, card = _funded(world, api, store, 1_000)
    key = terminals.new()
    first = _prepare(api, key, card, 700)
    second = _prepare(api, key, card, 700)  # prepared while 1,000 points were there

    assert _relay(api, key, first["action_id"], _sign(key, first["transaction"])).status_code == 200
    # The second was prepared with the same pending nonce; the terminal's next one is now due.
    nonce = world.w3.eth.get_transaction_count(address_of(key), "pending")
    refused = _relay(api, key, second["action_id"], _sign(key, second["transaction"], nonce=nonce))

    assert refused.status_code == 409, refused.text
    assert refused.json()["type"] == PROBLEM + "insufficient-points"
    assert refused.json()["balance"] == 300
    assert _balance(api, mykey_id) == 300
    again = _relay(api, key, second["action_id"], _sign(key, second["transaction"], nonce=nonce))
    assert again.json()["type"] == PROBLEM + "already-relayed"


def test_two_concurrent_terminal_signed_redemptions_exceeding_the_balance_one_succeeds(
    world: ChainWorld, api: TestClient, store: Store, terminals: FreshTerminals
) -> None:
    mykey_id, card = _funded(world, api, store, 1_000)
    keys = [terminals.new(), terminals.new()]
    prepared = [_prepare(api, key, card, 700) for key in keys]
    raws = [_sign(key, item["transaction"]) for key, item in zip(keys, prepared, strict=True)]

    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(
            pool.map(
                lambda index: _relay(api, keys[index], prepared[index]["action_id"], raws[index]),
                [0, 1],
            )
        )

    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200, 409], [answer.text for answer in answers]
    refused = next(answer for answer in answers if answer.status_code == 409)
    assert refused.json()["type"] == PROBLEM + "insufficient-points"
    assert _balance(api, mykey_id) == 300


def test_check_relayed_wants_the_pending_nonce_and_names_it() -> None:
    key = "0x" + secrets.token_hex(32)
    prepared = PreparedTransaction(
        to="0x" + "11" * 20, data="0xabcdef", gas=100_000, gas_price=0, chain_id=7, nonce=3,
        expires_at=0,
    )  # fmt: skip
    wire = prepared.wire()
    check_relayed(decode_raw(bytes.fromhex(_sign(key, wire)[2:])), prepared,
                  terminal=address_of(key), pending_nonce=3)  # fmt: skip
    moved_on = decode_raw(bytes.fromhex(_sign(key, wire, nonce=4)[2:]))
    check_relayed(moved_on, prepared, terminal=address_of(key), pending_nonce=4)
    with pytest.raises(TransactionMismatch) as refused:
        check_relayed(moved_on, prepared, terminal=address_of(key), pending_nonce=5)
    assert refused.value.extensions == {"field": "nonce", "expected_nonce": 5}
    stale = decode_raw(bytes.fromhex(_sign(key, wire)[2:]))  # the prepared nonce, now used
    with pytest.raises(TransactionMismatch):
        check_relayed(stale, prepared, terminal=address_of(key), pending_nonce=4)
