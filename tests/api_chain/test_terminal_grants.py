"""Granting terminals grant through `/terminal/v1/grants` and `/grant-batches`, on a real node.

The demo's Kawasaki management terminal (whose key the dev API holds) and a mobile granting
terminal each test registers through Kawasaki's admin key (a fresh THROWAWAY TEST KEY put into
the API's key ring) sign their requests; the grant goes out from the terminal's own account.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, replace

import pytest
from eth_account import Account
from eth_typing import HexStr
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.chain.keys import KeyRing
from api.chain.side import ChainSide
from api.settings import ApiSettings
from api.store.database import Store, open_store
from api.store.models import AuditRecord, Grant
from contracts.client import LedgerClient
from contracts.domain import TerminalKind, fiscal_year
from contracts.transactions import address_of
from tests.api_chain.conftest import (
    KAWASAKI,
    ChainWorld,
    make_app_client,
    new_card,
    random_mykey_id,
    register,
    signed,
    terminal_call,
    terminal_key,
)

PROBLEM = "urn:mykey-ledger:problem:"


@dataclass(frozen=True)
class GrantingWorld:
    """An app whose key ring also holds a freshly registered mobile granting terminal."""

    api: TestClient
    side: ChainSide
    store: Store
    terminal_key: str
    client: LedgerClient

    @property
    def terminal(self) -> str:
        return address_of(self.terminal_key)

    def balance(self, mykey_id: str, account: int = 0) -> int:
        return self.side.ledger.balance_in(mykey_id, KAWASAKI, account)

    def grant(self, body: dict[str, object], key: str | None = None) -> dict[str, object]:
        response = terminal_call(
            self.api, key or self.terminal_key, "POST", "/terminal/v1/grants", body
        )
        assert response.status_code in (200, 201), response.text
        answer: dict[str, object] = response.json()
        return answer


def _admin_key(world: ChainWorld) -> str:
    return world.demo.municipalities[KAWASAKI].admin_key  # type: ignore[index]


@pytest.fixture
def granting(world: ChainWorld, settings: ApiSettings) -> Iterator[GrantingWorld]:
    key = "0x" + secrets.token_hex(32)  # a throwaway test key, registered for this test only
    client = LedgerClient(world.w3, world.demo.deployment)
    client.register_terminal(_admin_key(world), address_of(key), TerminalKind.GRANTING)
    ring = KeyRing({**world.keys.keys, address_of(key): bytes.fromhex(key[2:])})
    api, side = make_app_client(replace(world, keys=ring), settings)
    with api:
        store = open_store(settings.database_url)
        try:
            yield GrantingWorld(api, side, store, key, client)
        finally:
            store.close()
            client.deregister_terminal(_admin_key(world), address_of(key))


def _body(mykey_id: str, amount: int = 200, **extra: object) -> dict[str, object]:
    return {
        "mykey_id": mykey_id,
        "amount": amount,
        "activity": "volunteering",
        "account": 0,
        "reference": f"ref-{secrets.token_hex(6)}",
    } | extra


def test_granting_terminal_grants_exactly_the_amount_from_its_own_account(
    world: ChainWorld, granting: GrantingWorld
) -> None:
    mykey_id = register(granting.api, new_card(world))
    granting.grant(_body(mykey_id, 150))  # a first grant, so the second adds to a balance
    before = granting.balance(mykey_id)

    response = terminal_call(
        granting.api, granting.terminal_key, "POST", "/terminal/v1/grants", _body(mykey_id, 300)
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert before == 150
    assert granting.balance(mykey_id) == before + 300
    assert body["balance"] == before + 300
    assert body["outcome"] == "granted"
    assert body["municipality_code"] == "14130"
    transaction = world.w3.eth.get_transaction(HexStr(body["transaction_hash"]))
    assert transaction["from"] == granting.terminal  # sent as the terminal, not the API's own
    assert body["expires_at"] > world.w3.eth.get_block("latest")["timestamp"]
    assert len(body["expires_on"]) == 10


def test_demo_management_terminal_key_held_by_the_dev_api_grants(
    world: ChainWorld, granting: GrantingWorld
) -> None:
    mykey_id = register(granting.api, new_card(world))
    management = world.demo.municipalities[KAWASAKI].management_terminal_key  # type: ignore[index]

    body = granting.grant(_body(mykey_id, 120), key=management)

    assert body["balance"] == 120
    transaction = world.w3.eth.get_transaction(HexStr(str(body["transaction_hash"])))
    assert transaction["from"] == address_of(management)


def test_point_use_terminal_is_refused_with_wrong_kind(
    world: ChainWorld, granting: GrantingWorld
) -> None:
    mykey_id = register(granting.api, new_card(world))
    store_terminal = terminal_key(world, "store", TerminalKind.POINT_USE)

    single = terminal_call(
        granting.api, store_terminal, "POST", "/terminal/v1/grants", _body(mykey_id)
    )
    batch = terminal_call(
        granting.api,
        store_terminal,
        "POST",
        "/terminal/v1/grant-batches",
        {"lines": [_body(mykey_id)]},
    )

    for response in (single, batch):
        assert response.status_code == 403, response.text
        assert response.json()["type"] == PROBLEM + "terminal-wrong-kind"
    assert granting.balance(mykey_id) == 0


def test_unsigned_and_replayed_requests_are_refused(
    world: ChainWorld, granting: GrantingWorld
) -> None:
    mykey_id = register(granting.api, new_card(world))
    body = _body(mykey_id, 80)

    unsigned = granting.api.post("/terminal/v1/grants", json=body)
    headers, raw = signed(granting.api, granting.terminal_key, "POST", "/terminal/v1/grants", body)
    first = granting.api.post("/terminal/v1/grants", content=raw, headers=headers)
    replayed = granting.api.post("/terminal/v1/grants", content=raw, headers=headers)

    assert unsigned.status_code == 401
    assert unsigned.json()["type"] == PROBLEM + "terminal-request-invalid"
    assert first.status_code == 201, first.text
    assert replayed.status_code == 401
    assert replayed.json()["type"] == PROBLEM + "terminal-request-invalid"
    assert granting.balance(mykey_id) == 80


def test_retry_with_the_same_reference_does_not_grant_twice(
    world: ChainWorld, granting: GrantingWorld
) -> None:
    mykey_id = register(granting.api, new_card(world))
    body = _body(mykey_id, 250)

    first = terminal_call(granting.api, granting.terminal_key, "POST", "/terminal/v1/grants", body)
    again = terminal_call(granting.api, granting.terminal_key, "POST", "/terminal/v1/grants", body)
    changed = terminal_call(
        granting.api,
        granting.terminal_key,
        "POST",
        "/terminal/v1/grants",
        body | {"amount": 999},
    )

    assert first.status_code == 201, first.text
    assert again.status_code == 200, again.text
    assert again.json()["outcome"] == "already-granted"
    assert again.json()["transaction_hash"] == first.json()["transaction_hash"]
    assert again.json()["expires_at"] == first.json()["expires_at"]
    assert changed.status_code == 422
    assert [e["field"] for e in changed.json()["errors"]] == ["reference"]
    assert granting.balance(mykey_id) == 250
    with granting.store.sessions() as db:
        rows = db.scalars(select(Grant).where(Grant.mykey_id == mykey_id)).all()
    assert len(rows) == 1


def test_batch_reports_each_line_and_a_resend_grants_nothing_more(
    world: ChainWorld, granting: GrantingWorld
) -> None:
    first_resident = register(granting.api, new_card(world))
    second_resident = register(granting.api, new_card(world))
    lines = [
        _body(first_resident, 200),
        _body("bad id", 200),
        _body(random_mykey_id(), 200),  # well formed, never registered
        _body(first_resident, 0),
        _body(first_resident, 100_001),
        _body(first_resident, 50, activity="sunbathing"),
        _body(second_resident, 500, activity="health-walk-rally"),
    ]

    response = terminal_call(
        granting.api, granting.terminal_key, "POST", "/terminal/v1/grant-batches", {"lines": lines}
    )

    assert response.status_code == 200, response.text
    report = response.json()
    outcomes = [line["outcome"] for line in report["lines"]]
    assert outcomes == [
        "granted",
        "refused",
        "refused",
        "refused",
        "refused",
        "refused",
        "granted",
    ]
    types = [line["problem_type"] for line in report["lines"]]
    assert types[1] == PROBLEM + "invalid-fields"
    assert types[2] == PROBLEM + "mykey-id-unknown"
    assert types[3] == types[4] == PROBLEM + "amount-invalid"
    assert [e["field"] for e in report["lines"][5]["errors"]] == ["activity"]
    assert (report["granted"], report["refused"], report["points_granted"]) == (2, 5, 700)
    assert report["lines"][6]["balance"] == 500
    assert granting.balance(first_resident) == 200
    assert granting.balance(second_resident) == 500

    resent = terminal_call(
        granting.api, granting.terminal_key, "POST", "/terminal/v1/grant-batches", {"lines": lines}
    )

    assert resent.status_code == 200, resent.text
    assert resent.json()["already_granted"] == 2
    assert resent.json()["granted"] == 0
    assert granting.balance(first_resident) == 200
    assert granting.balance(second_resident) == 500


def test_batch_over_500_lines_is_refused_whole(granting: GrantingWorld) -> None:
    lines = [_body("AAAAAAAA", 1) for _ in range(501)]

    response = terminal_call(
        granting.api, granting.terminal_key, "POST", "/terminal/v1/grant-batches", {"lines": lines}
    )

    # 501 lines exceed the 64 KiB body limit before the count rule is reached: either refusal
    assert response.status_code in (413, 422), response.text


def test_every_grant_leaves_an_audit_record_naming_the_terminal(
    world: ChainWorld, granting: GrantingWorld
) -> None:
    mykey_id = register(granting.api, new_card(world))

    body = granting.grant(_body(mykey_id, 60))

    with granting.store.sessions() as db:
        records = db.scalars(
            select(AuditRecord).where(
                AuditRecord.action == "points.granted", AuditRecord.target == mykey_id
            )
        ).all()
    assert len(records) == 1
    assert records[0].actor == f"terminal {granting.terminal}"
    assert records[0].actor_kind == "system"
    assert records[0].transaction_hash == body["transaction_hash"]
    assert json.loads(records[0].detail)["points"] == 60


def test_ledger_refusals_keep_their_own_problem_types(
    world: ChainWorld, granting: GrantingWorld
) -> None:
    mykey_id = register(granting.api, new_card(world))
    admin = _admin_key(world)
    consortium = granting.client.consortium.functions
    year = fiscal_year(int(world.w3.eth.get_block("latest")["timestamp"]))

    def refused(body: dict[str, object]) -> dict[str, object]:
        response = terminal_call(
            granting.api, granting.terminal_key, "POST", "/terminal/v1/grants", body
        )
        assert response.status_code in (403, 404, 409, 422), response.text
        problem: dict[str, object] = response.json()
        return problem

    unknown = refused(_body(random_mykey_id()))
    gone = random_mykey_id()
    registry = granting.client.registry.functions
    granting.client.send(world.demo.platform_key, registry.register(gone.encode(), KAWASAKI))
    granting.client.send(world.demo.platform_key, registry.revoke(gone.encode()))
    revoked = refused(_body(gone))
    zero = refused(_body(mykey_id, 0))
    granting.client.send(admin, consortium.setGrantBudget(KAWASAKI, year, True, 0))
    try:
        over_budget = refused(_body(mykey_id, 10))
    finally:
        granting.client.send(admin, consortium.setGrantBudget(KAWASAKI, year, False, 0))
    granting.client.send(admin, consortium.setPaused(KAWASAKI, True))
    try:
        paused = refused(_body(mykey_id, 10))
    finally:
        granting.client.send(admin, consortium.setPaused(KAWASAKI, False))
    now = int(world.w3.eth.get_block("latest")["timestamp"])
    opened = granting.client.send(
        admin, consortium.openEventAccount(KAWASAKI, now + 86_400, now + 2 * 86_400, 1)
    )
    later_account = int(opened.event("EventAccountOpened").args["account"])
    closed = refused(_body(mykey_id, 10, account=later_account))

    assert unknown["type"] == PROBLEM + "mykey-id-unknown"
    assert revoked["type"] == PROBLEM + "mykey-id-revoked"
    assert zero["type"] == PROBLEM + "amount-invalid"
    assert over_budget["type"] == PROBLEM + "grant-budget-exceeded"
    assert paused["type"] == PROBLEM + "municipality-paused"
    assert closed["type"] == PROBLEM + "event-account-closed"
    assert granting.balance(mykey_id) == 0
    with granting.store.sessions() as db:
        claims = db.scalars(select(Grant).where(Grant.mykey_id == mykey_id)).all()
    assert claims == []  # refused grants release their claim, so a corrected retry may go


def test_grant_into_an_open_event_account(world: ChainWorld, granting: GrantingWorld) -> None:
    mykey_id = register(granting.api, new_card(world))
    now = int(world.w3.eth.get_block("latest")["timestamp"])
    opened = granting.client.send(
        _admin_key(world),
        granting.client.consortium.functions.openEventAccount(KAWASAKI, now - 60, now + 86_400, 1),
    )
    account = int(opened.event("EventAccountOpened").args["account"])

    body = granting.grant(_body(mykey_id, 400, account=account))

    assert body["account"] == account
    assert body["balance"] == 400
    assert granting.balance(mykey_id, account) == 400
    assert granting.balance(mykey_id) == 0
    assert int(str(body["expires_at"])) <= now + 86_400  # never past the event's end


def test_granting_terminal_whose_key_the_api_lacks_is_told_so(
    world: ChainWorld, granting: GrantingWorld
) -> None:
    mykey_id = register(granting.api, new_card(world))
    stranger = Account.create().key.hex()
    stranger = stranger if stranger.startswith("0x") else "0x" + stranger
    granting.client.register_terminal(
        _admin_key(world), address_of(stranger), TerminalKind.GRANTING
    )
    try:
        response = terminal_call(
            granting.api, stranger, "POST", "/terminal/v1/grants", _body(mykey_id)
        )
    finally:
        granting.client.deregister_terminal(_admin_key(world), address_of(stranger))

    assert response.status_code == 403, response.text
    assert response.json()["type"] == PROBLEM + "terminal-key-not-held"
    assert granting.balance(mykey_id) == 0
