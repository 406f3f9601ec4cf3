"""Conversion by a partner, placement with the card, and a reserve going home at its deadline."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from eth_utils.address import to_checksum_address
from fastapi.testclient import TestClient

from api.store.database import Store
from contracts.client import LedgerClient
from contracts.transactions import send_transaction
from tests.api_chain.conftest import (
    KAWASAKI,
    TOSHIMA,
    ChainWorld,
    b64url_decode,
    new_card,
    register,
    running_world,
    staff_token,
)

RESERVE_PERIOD_DAYS = 14


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainWorld]:
    """This module's own node: it shortens the reserve period, and reserve deadlines in one home
    queue never decrease (PointLedger.convert), so another module's 14-day reserve in the same
    home municipality would hold a 3-second reserve back for 14 days."""
    with running_world(tmp_path_factory) as own:
        yield own


def _tick(world: ChainWorld) -> None:
    """Seal one more block: a zero-value transfer between two dev accounts."""
    sender, receiver = world.node.dev_accounts[8], world.node.dev_accounts[9]
    send_transaction(
        world.w3, sender.private_key, to=to_checksum_address(receiver.address), data=b"", gas=21_000
    )


def _login(api: TestClient, mykey_id: str) -> dict[str, str]:
    response = api.post("/sessions", json={"mykey_id": mykey_id, "password": "Abc12345"})
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def _convert(api: TestClient, token: str, mykey_id: str, units: int) -> dict[str, object]:
    response = api.post(
        "/conversions",
        json={"mykey_id": mykey_id, "partner_units": units, "reference": f"order-{mykey_id}"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


def test_partner_converts_and_resident_places_the_reserve_with_the_card(
    world: ChainWorld, api: TestClient, store: Store
) -> None:
    card = new_card(world)
    mykey_id = register(api, card, home="14130")
    partner = staff_token(
        store, api, role="partner-operator", organisation=str(world.demo.partner.partner_id)
    )
    conversion = _convert(api, partner, mykey_id, 800)
    assert conversion["amount"] == 800
    assert conversion["home_municipality"] == "14130"
    resident = _login(api, mykey_id)

    reserves = api.get("/me/reserves", headers=resident).json()
    assert [(r["reserve_id"], r["amount"]) for r in reserves] == [(conversion["reserve_id"], 800)]
    assert reserves[0]["deadline"] > time.time() + (RESERVE_PERIOD_DAYS - 1) * 86_400

    statement = api.post(
        f"/me/reserves/{conversion['reserve_id']}/placement-statements",
        json={"municipality_code": "13116"},
        headers=resident,
    )
    assert statement.status_code == 201, statement.text
    raw = b64url_decode(statement.json()["statement"])
    placed = api.post(
        f"/me/reserves/{conversion['reserve_id']}/placements",
        json={"challenge_id": statement.json()["challenge_id"]} | card.answer(raw),
        headers=resident,
    )

    assert placed.status_code == 200, placed.text
    ledger = api.app.state.chain.ledger  # type: ignore[attr-defined]
    assert ledger.balance_of(mykey_id, TOSHIMA) == 800
    assert ledger.balance_of(mykey_id, KAWASAKI) == 0
    assert api.get("/me/reserves", headers=resident).json() == []
    # a statement is single-use
    again = api.post(
        f"/me/reserves/{conversion['reserve_id']}/placements",
        json={"challenge_id": statement.json()["challenge_id"]} | card.answer(raw),
        headers=resident,
    )
    assert again.status_code == 410


def test_reserve_goes_home_after_its_deadline_without_anyone_acting(
    world: ChainWorld, api: TestClient, store: Store
) -> None:
    """The ledger's clock is block time: shorten the reserve period, then let blocks pass."""
    client = LedgerClient(world.w3, world.demo.deployment, gas_limit=3_000_000)
    client.set_reserve_period(world.demo.platform_key, 3)
    try:
        mykey_id = register(api, new_card(world), home="13116")
        partner = staff_token(
            store, api, role="partner-operator", organisation=str(world.demo.partner.partner_id)
        )
        conversion = _convert(api, partner, mykey_id, 250)
    finally:
        client.set_reserve_period(world.demo.platform_key, RESERVE_PERIOD_DAYS * 86_400)
    ledger = api.app.state.chain.ledger  # type: ignore[attr-defined]
    deadline = int(conversion["deadline"])  # type: ignore[call-overload]
    # The dev node seals blocks only when there is a transaction: move block time past the
    # deadline with plain transfers between dev accounts, which touch no ledger contract.
    for _ in range(30):
        if int(world.w3.eth.get_block("latest")["timestamp"]) > deadline:
            break
        _tick(world)
        time.sleep(0.5)

    assert ledger.balance_of(mykey_id, TOSHIMA) == 250  # home, lazily, by block time
    assert ledger.reserved_of(mykey_id) == 0
