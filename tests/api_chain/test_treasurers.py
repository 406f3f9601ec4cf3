"""Treasurer statement equals the sum of the events and the on-chain statement; close; pay; CSV."""

from __future__ import annotations

import csv
import io
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response

from api.store.database import Store
from contracts.domain import TerminalKind
from tests.api_chain.conftest import (
    ChainWorld,
    b64url_decode,
    grant,
    new_card,
    register,
    staff_token,
    terminal_call,
    terminal_key,
)


def _redeem(
    api: TestClient, world: ChainWorld, business: str, card: object, amount: int
) -> dict[str, Any]:
    key = terminal_key(world, business, TerminalKind.POINT_USE)
    opened = terminal_call(api, key, "POST", "/terminal/v1/redemptions", {"amount": amount})
    assert isinstance(opened, Response) and opened.status_code == 201, opened
    statement = b64url_decode(opened.json()["statement"])
    answered = terminal_call(
        api,
        key,
        "POST",
        f"/terminal/v1/redemptions/{opened.json()['action_id']}/card-answer",
        card.answer(statement),  # type: ignore[attr-defined]
    )
    assert isinstance(answered, Response) and answered.status_code == 200, answered.text
    body: dict[str, Any] = answered.json()
    return body


def _convert_and_place(
    api: TestClient, store: Store, card: object, mykey_id: str, *, partner_id: int, units: int
) -> str:
    partner = staff_token(store, api, role="partner-operator", organisation=str(partner_id))
    converted = api.post(
        "/conversions",
        json={"mykey_id": mykey_id, "partner_units": units, "reference": "statement-test"},
        headers={"Authorization": f"Bearer {partner}"},
    ).json()
    login = api.post("/sessions", json={"mykey_id": mykey_id, "password": "Abc12345"}).json()
    resident = {"Authorization": f"Bearer {login['token']}"}
    reserve = converted["reserve_id"]
    statement = api.post(
        f"/me/reserves/{reserve}/placement-statements",
        json={"municipality_code": "14130"},
        headers=resident,
    ).json()
    placed = api.post(
        f"/me/reserves/{reserve}/placements",
        json={"challenge_id": statement["challenge_id"]}
        | card.answer(b64url_decode(statement["statement"])),  # type: ignore[attr-defined]
        headers=resident,
    )
    assert placed.status_code == 200, placed.text
    transaction_hash: str = placed.json()["transaction_hash"]
    return transaction_hash


def _lines(
    statement: dict[str, Any],
) -> tuple[dict[int, dict[str, Any]], dict[int, dict[str, Any]]]:
    return (
        {line["business"]: line for line in statement["businesses"]},
        {line["partner"]: line for line in statement["partners"]},
    )


def test_statement_equals_events_and_chain_then_close_pay_and_export(
    world: ChainWorld, api: TestClient, store: Store
) -> None:
    treasurer = {
        "Authorization": "Bearer " + staff_token(store, api, role="treasurer", organisation="14130")
    }
    period = api.get("/treasurers/periods/current", headers=treasurer).json()["period"]
    before = api.get(f"/treasurers/periods/{period}/statement", headers=treasurer).json()
    store_id = world.demo.businesses["store"].business_id
    museum_id = world.demo.businesses["museum"].business_id
    partner_id = world.demo.partner.partner_id

    card = new_card(world)
    mykey_id = register(api, card)
    grant(api, staff_token(store, api, role="municipal-staff", organisation="14130"), mykey_id, 900)
    at_store = _redeem(api, world, "store", card, 400)
    at_museum = _redeem(api, world, "museum", card, 100)
    refund = terminal_call(
        api,
        terminal_key(world, "store", TerminalKind.POINT_USE),
        "POST",
        "/terminal/v1/refunds",
        {"redemption_id": at_store["redemption_id"], "amount": 50},
    )
    assert isinstance(refund, Response) and refund.status_code == 201, refund
    wrong_refund = terminal_call(
        api,
        terminal_key(world, "museum", TerminalKind.POINT_USE),
        "POST",
        "/terminal/v1/refunds",
        {"redemption_id": at_store["redemption_id"], "amount": 10},
    )
    assert isinstance(wrong_refund, Response) and wrong_refund.status_code == 403

    placed_tx = _convert_and_place(api, store, card, mykey_id, partner_id=partner_id, units=300)

    after = api.get(f"/treasurers/periods/{period}/statement", headers=treasurer).json()

    assert after["matches_chain"] is True
    businesses_before, partners_before = _lines(before)
    businesses, partners = _lines(after)
    previous_partner = partners_before.get(partner_id, {"receivable": 0})
    assert partners[partner_id]["receivable"] - previous_partner["receivable"] == 300
    assert partners[partner_id]["receivable"] == partners[partner_id]["on_chain"]
    assert placed_tx in partners[partner_id]["transactions"]
    store_line, museum_line = businesses[store_id], businesses[museum_id]
    previous_store = businesses_before.get(store_id, {"payable": 0, "transactions": []})
    previous_museum = businesses_before.get(museum_id, {"payable": 0, "transactions": []})
    assert store_line["payable"] - previous_store["payable"] == 400 - 50
    assert museum_line["payable"] - previous_museum["payable"] == 100
    assert store_line["payable"] == store_line["on_chain"]
    assert at_store["transaction_hash"] in store_line["transactions"]
    assert refund.json()["transaction_hash"] in store_line["transactions"]
    assert at_museum["transaction_hash"] in museum_line["transactions"]
    assert after["total_payable"] == sum(line["payable"] for line in after["businesses"])

    reconciliation = api.get(f"/treasurers/periods/{period}/reconciliation", headers=treasurer)
    assert reconciliation.json()["ok"] is True, reconciliation.text

    closed = api.post(f"/treasurers/periods/{period}/close", headers=treasurer)
    assert closed.status_code == 200, closed.text
    assert api.get("/treasurers/periods/current", headers=treasurer).json()["period"] == period + 1
    final = api.get(f"/treasurers/periods/{period}/statement", headers=treasurer).json()
    assert final["businesses"] == after["businesses"]  # a closed statement does not move

    wrong = api.post(
        f"/treasurers/periods/{period}/payments",
        json={"side": "business", "counterparty": store_id, "amount": 1, "bank_reference": "X"},
        headers=treasurer,
    )
    assert wrong.status_code == 409
    assert wrong.json()["ledger_error"] == "PaymentMismatch"
    paid = api.post(
        f"/treasurers/periods/{period}/payments",
        json={
            "side": "business",
            "counterparty": store_id,
            "amount": store_line["payable"],
            "bank_reference": "BANK-2027-0001",
        },
        headers=treasurer,
    )
    assert paid.status_code == 200, paid.text

    exported = api.get(f"/treasurers/periods/{period}/statement.csv", headers=treasurer)
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    store_row = next(
        r for r in rows if r["side"] == "payable" and r["counterparty"] == str(store_id)
    )
    assert int(store_row["amount"]) == store_line["payable"] == int(store_row["on_chain"])
    assert at_store["transaction_hash"] in store_row["transactions"].split()
