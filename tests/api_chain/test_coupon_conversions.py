"""Coupons and linked member numbers converting on a real node (LevelDB, the demo partner's key).

A resident redeems a one-off code into a reserve (amount and deadline back, visible in the
reserves); the code then converts nothing more; two residents redeeming one code at the same
moment get exactly one reserve between them; a partner converts by a linked member number, and
an unlinked one is its own 404 problem.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select

from api.store.database import Store
from api.store.models import AuditRecord, Coupon
from tests.api_chain.conftest import ChainWorld, new_card, register, staff_token

DAY = 86_400
RESERVE_PERIOD_DAYS = 14


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _login(api: TestClient, mykey_id: str) -> dict[str, str]:
    response = api.post("/sessions", json={"mykey_id": mykey_id, "password": "Abc12345"})
    assert response.status_code == 201, response.text
    return _bearer(response.json()["token"])


def _partner(world: ChainWorld, api: TestClient, store: Store) -> dict[str, str]:
    organisation = str(world.demo.partner.partner_id)
    return _bearer(staff_token(store, api, role="partner-operator", organisation=organisation))


def _codes(api: TestClient, partner: dict[str, str], count: int, units: int) -> list[str]:
    response = api.post(
        "/partners/coupons",
        json={"count": count, "partner_units": units, "expires_at": int(time.time()) + DAY},
        headers=partner,
    )
    assert response.status_code == 201, response.text
    codes: list[str] = response.json()["codes"]
    return codes


def test_a_resident_redeems_a_code_into_a_reserve_once(
    world: ChainWorld, api: TestClient, store: Store
) -> None:
    mykey_id = register(api, new_card(world), home="14130")
    resident = _login(api, mykey_id)
    partner = _partner(world, api, store)
    [code] = _codes(api, partner, 1, 600)

    redeemed = api.post("/me/coupon-redemptions", json={"code": code.lower()}, headers=resident)

    assert redeemed.status_code == 201, redeemed.text
    body = redeemed.json()
    assert (body["amount"], body["home_municipality"]) == (600, "14130")
    assert body["deadline"] > time.time() + (RESERVE_PERIOD_DAYS - 1) * DAY
    reserves = api.get("/me/reserves", headers=resident).json()
    assert [(r["reserve_id"], r["amount"], r["partner"]) for r in reserves] == [
        (body["reserve_id"], 600, world.demo.partner.partner_id)
    ]
    again = api.post("/me/coupon-redemptions", json={"code": code}, headers=resident)
    assert (again.status_code, again.json()["type"]) == (
        410,
        "urn:mykey-ledger:problem:coupon-used",
    )
    with store.sessions() as db:
        coupon = db.scalars(select(Coupon)).one()
        audit = db.scalars(select(AuditRecord).where(AuditRecord.action == "coupon-redeemed")).one()
    assert (coupon.state, coupon.reserve_id) == ("used", body["reserve_id"])
    assert (audit.actor, audit.transaction_hash) == (mykey_id, body["transaction_hash"])
    listed = api.get("/partners/coupons", headers=partner).json()
    assert [(b["issued"], b["used"], b["expired"]) for b in listed] == [(1, 1, 0)]


def test_two_simultaneous_redemptions_of_one_code_make_exactly_one_reserve(
    world: ChainWorld, api: TestClient, store: Store
) -> None:
    residents = [_login(api, register(api, new_card(world))) for _ in range(2)]
    [code] = _codes(api, _partner(world, api, store), 1, 300)
    barrier = threading.Barrier(2)

    def redeem(resident: dict[str, str]) -> Response:
        barrier.wait()
        response: Response = api.post(
            "/me/coupon-redemptions", json={"code": code}, headers=resident
        )
        return response

    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(redeem, residents))

    assert sorted(answer.status_code for answer in answers) == [201, 410], [
        answer.text for answer in answers
    ]
    reserves = [api.get("/me/reserves", headers=resident).json() for resident in residents]
    assert sorted(len(found) for found in reserves) == [0, 1]


def test_a_partner_converts_by_a_linked_member_number(
    world: ChainWorld, api: TestClient, store: Store
) -> None:
    mykey_id = register(api, new_card(world), home="13116")
    resident = _login(api, mykey_id)
    partner_id = world.demo.partner.partner_id
    number = f"M-{mykey_id}"
    linked = api.post(
        "/me/partner-links",
        json={"partner": partner_id, "member_number": number, "consent": True},
        headers=resident,
    )
    assert linked.status_code == 201, linked.text
    partner = _partner(world, api, store)

    converted = api.post(
        "/conversions",
        json={"member_number": number, "partner_units": 450, "reference": "order-9"},
        headers=partner,
    )

    assert converted.status_code == 201, converted.text
    assert (converted.json()["amount"], converted.json()["home_municipality"]) == (450, "13116")
    assert [r["amount"] for r in api.get("/me/reserves", headers=resident).json()] == [450]
    unknown = api.post(
        "/conversions",
        json={"member_number": "M-NOBODY", "partner_units": 450, "reference": "order-10"},
        headers=partner,
    )
    assert (unknown.status_code, unknown.json()["type"]) == (
        404,
        "urn:mykey-ledger:problem:member-number-not-linked",
    )
