"""The programme API on a real dev ledger: settings, businesses' uses, terminals, event accounts
and grant budgets, each write final on-chain, audited with its hash, and refused in plain words.

The node and the demo consortium are the session's (tests/api_chain/conftest.py), so every test
that changes a shared setting puts it back before it ends: other tests grant and redeem in
Kawasaki with the demo's settings.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from eth_account import Account
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select

from api.store.database import Store
from api.store.models import AuditRecord
from contracts.client import LedgerClient
from contracts.domain import TerminalKind, Use, fiscal_year
from tests.api_chain.conftest import KAWASAKI, ChainWorld, staff_token

CODE = f"{KAWASAKI:05d}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def kawasaki_staff(store: Store, api: TestClient) -> dict[str, str]:
    return bearer(staff_token(store, api, role="municipal-staff", organisation=CODE))


@pytest.fixture
def client_of(world: ChainWorld) -> LedgerClient:
    return LedgerClient(world.w3, world.demo.deployment)


def audit_of(store: Store, action: str) -> list[AuditRecord]:
    with store.sessions() as db:
        return list(db.scalars(select(AuditRecord).where(AuditRecord.action == action)).all())


def is_final_success(world: ChainWorld, transaction_hash: str) -> bool:
    receipt = world.w3.eth.get_transaction_receipt(transaction_hash)  # type: ignore[arg-type]
    finalized = int(world.w3.eth.get_block("finalized")["number"])
    return int(receipt["status"]) == 1 and int(receipt["blockNumber"]) <= finalized


@pytest.fixture
def restore_settings(api: TestClient, kawasaki_staff: dict[str, str]) -> Iterator[None]:
    before = api.get(f"/municipalities/{CODE}/programme", headers=kawasaki_staff).json()
    yield
    restored = api.put(
        f"/municipalities/{CODE}/programme/settings",
        headers=kawasaki_staff,
        json={
            key: before[key]
            for key in (
                "validity_days",
                "voucher_validity_days",
                "refund_window_seconds",
                "accepts_conversions",
            )
        },
    )
    assert restored.status_code == 200, restored.text


@pytest.mark.usefixtures("restore_settings")
def test_settings_change_is_final_on_chain_and_audited(
    world: ChainWorld,
    api: TestClient,
    store: Store,
    kawasaki_staff: dict[str, str],
    client_of: LedgerClient,
) -> None:
    before = api.get(f"/municipalities/{CODE}/programme", headers=kawasaki_staff)
    assert before.status_code == 200, before.text
    assert before.json()["validity_days"] == 365
    changed = api.put(
        f"/municipalities/{CODE}/programme/settings",
        headers=kawasaki_staff,
        json={
            "validity_days": 400,
            "voucher_validity_days": 90,
            "refund_window_seconds": 3600,
            "accepts_conversions": True,
        },
    )
    assert changed.status_code == 200, changed.text
    transaction_hash = changed.json()["transaction_hash"]
    assert is_final_success(world, transaction_hash)
    on_chain = client_of.consortium.functions.municipality(KAWASAKI).call()
    assert (on_chain[3], on_chain[4], on_chain[5]) == (400, 90, 3600)
    after = api.get(f"/municipalities/{CODE}/programme", headers=kawasaki_staff).json()
    assert after["validity_days"] == 400 and after["refund_window_seconds"] == 3600
    records = audit_of(store, "programme-settings-changed")
    assert [r.transaction_hash for r in records] == [transaction_hash]
    assert records[0].target == CODE and records[0].actor.startswith("municipal-staff.")
    assert json.loads(records[0].detail)["validity_days"] == 400


def test_a_setting_out_of_the_ledgers_range_is_refused_by_field(
    api: TestClient, kawasaki_staff: dict[str, str]
) -> None:
    refused = api.put(
        f"/municipalities/{CODE}/programme/settings",
        headers=kawasaki_staff,
        json={
            "validity_days": 0,
            "voucher_validity_days": 90,
            "refund_window_seconds": 0,
            "accepts_conversions": True,
        },
    )
    assert refused.status_code == 422
    assert [e["field"] for e in refused.json()["errors"]] == ["validity_days"]


def test_another_municipalitys_staff_and_other_roles_are_forbidden(
    store: Store, api: TestClient
) -> None:
    toshima = bearer(staff_token(store, api, role="municipal-staff", organisation="13116"))
    treasurer = bearer(staff_token(store, api, role="treasurer", organisation=CODE))
    body = {
        "validity_days": 30,
        "voucher_validity_days": 30,
        "refund_window_seconds": 0,
        "accepts_conversions": False,
    }
    assert (
        api.put(f"/municipalities/{CODE}/programme/settings", headers=toshima, json=body)
    ).status_code == 403
    assert (api.get(f"/municipalities/{CODE}/businesses", headers=toshima)).status_code == 403
    assert (
        api.put(f"/municipalities/{CODE}/programme/settings", headers=treasurer, json=body)
    ).status_code == 403
    assert (api.get(f"/municipalities/{CODE}/programme", headers=treasurer)).status_code == 200
    assert api.get(f"/municipalities/{CODE}/programme").status_code == 401
    assert audit_of(store, "programme-settings-changed") == []


def test_business_acceptance_sets_exactly_the_uses(
    world: ChainWorld,
    api: TestClient,
    store: Store,
    kawasaki_staff: dict[str, str],
    client_of: LedgerClient,
) -> None:
    listed = api.get(f"/municipalities/{CODE}/businesses", headers=kawasaki_staff)
    assert listed.status_code == 200, listed.text
    museum = next(b for b in listed.json() if b["name"] == "Demo Museum")
    before = client_of.consortium.functions.acceptedUses(KAWASAKI, museum["business"]).call()
    try:
        changed = api.put(
            f"/municipalities/{CODE}/businesses/{museum['business']}/acceptance",
            headers=kawasaki_staff,
            json={"uses": ["tourism", "facility"]},
        )
        assert changed.status_code == 200, changed.text
        mask = client_of.consortium.functions.acceptedUses(KAWASAKI, museum["business"]).call()
        assert mask == (1 << Use.FACILITY) | (1 << Use.TOURISM)
        again = api.get(f"/municipalities/{CODE}/businesses", headers=kawasaki_staff).json()
        assert next(b for b in again if b["business"] == museum["business"])["uses"] == [
            "facility",
            "tourism",
        ]
        records = audit_of(store, "business-acceptance-set")
        assert records[0].transaction_hash == changed.json()["transaction_hash"]
    finally:
        client_of.set_business_acceptance(
            world.demo.municipalities[KAWASAKI].admin_key,  # type: ignore[index]
            KAWASAKI,
            museum["business"],
            before,
        )
    unknown = api.put(
        f"/municipalities/{CODE}/businesses/999/acceptance",
        headers=kawasaki_staff,
        json={"uses": ["tourism"]},
    )
    assert unknown.status_code == 404
    bad_use = api.put(
        f"/municipalities/{CODE}/businesses/{museum['business']}/acceptance",
        headers=kawasaki_staff,
        json={"uses": ["casino"]},
    )
    assert bad_use.status_code == 422


def register_terminal(api: TestClient, staff: dict[str, str], body: dict[str, object]) -> Response:
    """POST `body` to Kawasaki's terminals as `staff`."""
    answer: Response = api.post(f"/municipalities/{CODE}/terminals", headers=staff, json=body)
    return answer


def test_terminal_register_list_deregister(
    world: ChainWorld, api: TestClient, store: Store, kawasaki_staff: dict[str, str]
) -> None:
    address = Account.create().address
    registered = register_terminal(
        api, kawasaki_staff, {"address": address, "kind": "voucher-issue", "management": False}
    )
    assert registered.status_code == 201, registered.text
    assert is_final_success(world, registered.json()["transaction_hash"])
    listed = api.get(f"/municipalities/{CODE}/terminals", headers=kawasaki_staff).json()
    assert {"address": address, "kind": "voucher-issue", "management": False}.items() <= next(
        t for t in listed if t["address"] == address
    ).items()
    assert any(t["management"] and t["kind"] == "granting" for t in listed)

    twice = register_terminal(
        api, kawasaki_staff, {"address": address, "kind": "granting", "management": False}
    )
    assert twice.status_code == 409
    assert twice.json()["field"] == "address"
    assert twice.json()["ledger_error"] == "TerminalTaken"

    # A second management terminal (409, the ledger's refusal), and a management terminal that
    # is not a granting one (422): both refused on the `management` field.
    for kind, status in (("granting", 409), ("voucher-issue", 422)):
        management = register_terminal(
            api,
            kawasaki_staff,
            {"address": Account.create().address, "kind": kind, "management": True},
        )
        assert management.status_code == status, kind
        assert management.json()["field"] == "management"

    removed = api.delete(f"/municipalities/{CODE}/terminals/{address}", headers=kawasaki_staff)
    assert removed.status_code == 200, removed.text
    listed = api.get(f"/municipalities/{CODE}/terminals", headers=kawasaki_staff).json()
    assert address not in {t["address"] for t in listed}
    kinds = [r.action for r in audit_of(store, "terminal-registered")] + [
        r.action for r in audit_of(store, "terminal-deregistered")
    ]
    assert kinds == ["terminal-registered", "terminal-deregistered"]

    store_terminal = Account.from_key(
        world.demo.businesses["store"].terminal_keys[TerminalKind.POINT_USE]
    ).address
    foreign = api.delete(
        f"/municipalities/{CODE}/terminals/{store_terminal}", headers=kawasaki_staff
    )
    assert foreign.status_code == 403
    malformed = register_terminal(
        api, kawasaki_staff, {"address": "0x" + "zz" * 20, "kind": "granting"}
    )
    assert malformed.status_code == 422
    assert malformed.json()["field"] == "address"


def test_event_account_opens_and_an_end_before_the_start_is_refused(
    api: TestClient, store: Store, kawasaki_staff: dict[str, str]
) -> None:
    now = int(time.time())
    opened = api.post(
        f"/municipalities/{CODE}/event-accounts",
        headers=kawasaki_staff,
        json={"starts_at": now, "ends_at": now + 86_400, "uses": ["local-store", "tourism"]},
    )
    assert opened.status_code == 201, opened.text
    account = opened.json()["account"]
    listed = api.get(f"/municipalities/{CODE}/event-accounts", headers=kawasaki_staff).json()
    assert listed[-1] == {
        "account": account,
        "starts_at": now,
        "ends_at": now + 86_400,
        "uses": ["local-store", "tourism"],
    }
    assert audit_of(store, "event-account-opened")[0].target == f"{CODE}/event-account/{account}"

    backwards = api.post(
        f"/municipalities/{CODE}/event-accounts",
        headers=kawasaki_staff,
        json={"starts_at": now + 86_400, "ends_at": now, "uses": ["local-store"]},
    )
    assert backwards.status_code == 409
    problem = backwards.json()
    assert problem["field"] == "ends_at"
    assert "終了日時は開始日時より後" in problem["detail"]
    assert len(
        api.get(f"/municipalities/{CODE}/event-accounts", headers=kawasaki_staff).json()
    ) == len(listed)


def test_grant_budget_cap_shows_used_and_refuses_a_grant_beyond_it(
    world: ChainWorld, api: TestClient, store: Store, kawasaki_staff: dict[str, str]
) -> None:
    year = fiscal_year(int(time.time()))
    before = api.get(f"/municipalities/{CODE}/grant-budgets/{year}", headers=kawasaki_staff)
    assert before.status_code == 200, before.text
    used = before.json()["used"]
    assert before.json()["capped"] is False and before.json()["remaining"] is None
    try:
        capped = api.put(
            f"/municipalities/{CODE}/grant-budgets/{year}",
            headers=kawasaki_staff,
            json={"capped": True, "cap": used},
        )
        assert capped.status_code == 200, capped.text
        shown = api.get(f"/municipalities/{CODE}/grant-budgets/{year}", headers=kawasaki_staff)
        assert shown.json() == {
            "fiscal_year": year,
            "capped": True,
            "cap": used,
            "used": used,
            "remaining": 0,
        }
        programme = api.get(f"/municipalities/{CODE}/programme", headers=kawasaki_staff).json()
        assert programme["grant_budget"]["cap"] == used
        refused = api.post(
            "/grants",
            headers=kawasaki_staff,
            json={"mykey_id": "DEMOA001", "points": 1, "activity": "volunteering"},
        )
        assert refused.status_code == 409, refused.text
    finally:
        lifted = api.put(
            f"/municipalities/{CODE}/grant-budgets/{year}",
            headers=kawasaki_staff,
            json={"capped": False},
        )
        assert lifted.status_code == 200, lifted.text
    records = audit_of(store, "grant-budget-set")
    assert [r.transaction_hash for r in records] == [
        capped.json()["transaction_hash"],
        lifted.json()["transaction_hash"],
    ]


def test_pause_and_resume(
    world: ChainWorld, api: TestClient, store: Store, kawasaki_staff: dict[str, str]
) -> None:
    try:
        paused = api.put(
            f"/municipalities/{CODE}/programme/pause", headers=kawasaki_staff, json={"paused": True}
        )
        assert paused.status_code == 200, paused.text
        assert api.get(f"/municipalities/{CODE}/programme", headers=kawasaki_staff).json()["paused"]
    finally:
        resumed = api.put(
            f"/municipalities/{CODE}/programme/pause",
            headers=kawasaki_staff,
            json={"paused": False},
        )
        assert resumed.status_code == 200, resumed.text
    assert not api.get(f"/municipalities/{CODE}/programme", headers=kawasaki_staff).json()["paused"]
    assert [r.action for r in audit_of(store, "programme-paused")] == ["programme-paused"]
    assert [r.action for r in audit_of(store, "programme-resumed")] == ["programme-resumed"]


def test_each_municipality_writes_with_its_own_admin_key(
    world: ChainWorld, api: TestClient, store: Store, client_of: LedgerClient
) -> None:
    toshima = bearer(staff_token(store, api, role="municipal-staff", organisation="13116"))
    year = 2097  # a fiscal year no other test grants in
    try:
        capped = api.put(
            "/municipalities/13116/grant-budgets/2097",
            headers=toshima,
            json={"capped": True, "cap": 777},
        )
        assert capped.status_code == 200, capped.text
        assert tuple(client_of.consortium.functions.grantBudget(13116, year).call()) == (
            True,
            777,
        )
        assert tuple(client_of.consortium.functions.grantBudget(KAWASAKI, year).call()) == (
            False,
            0,
        )
        sender = world.w3.eth.get_transaction(capped.json()["transaction_hash"])["from"]
        assert sender == world.config.treasurers[13116]
    finally:
        lifted = api.put(
            "/municipalities/13116/grant-budgets/2097", headers=toshima, json={"capped": False}
        )
        assert lifted.status_code == 200, lifted.text
