"""Service-ID lookup by a terminal for the card in front of it: validity, address change, scope."""

from __future__ import annotations

import time
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response

from api.store.database import Store
from contracts.domain import TerminalKind
from tests.api_chain.conftest import (
    ChainWorld,
    VirtualCard,
    b64url_decode,
    new_card,
    register,
    staff_token,
    terminal_call,
    terminal_key,
)


def _setup(
    world: ChainWorld, api: TestClient, store: Store
) -> tuple[str, VirtualCard, dict[str, Any]]:
    admin = {
        "Authorization": "Bearer "
        + staff_token(store, api, role="platform-admin", organisation=None)
    }
    for code, business in (("kawasaki-library", "library"), ("kawasaki-museum", "museum")):
        added = api.post(
            "/services",
            json={
                "service_code": code,
                "business": world.demo.businesses[business].business_id,
                "name": f"{business} of Kawasaki",
            },
            headers=admin,
        )
        assert added.status_code == 201, added.text
    card = new_card(world)
    mykey_id = register(api, card)
    login = api.post("/sessions", json={"mykey_id": mykey_id, "password": "Abc12345"}).json()
    resident = {"Authorization": f"Bearer {login['token']}"}
    return mykey_id, card, resident


def _link(
    api: TestClient, resident: dict[str, Any], code: str, number: str, **extra: object
) -> None:
    linked = api.post(
        "/me/service-links",
        json={"service_code": code, "service_id": number, "consent": True} | extra,
        headers=resident,
    )
    assert linked.status_code == 201, linked.text


def _lookup(api: TestClient, key: str, code: str, card: VirtualCard) -> Response:
    challenge = terminal_call(
        api, key, "POST", "/terminal/v1/lookups/challenges", {"service_code": code}
    )
    assert isinstance(challenge, Response)
    if challenge.status_code != 201:
        return challenge
    body = challenge.json()
    answered = terminal_call(
        api,
        key,
        "POST",
        "/terminal/v1/lookups",
        {"challenge_id": body["challenge_id"]} | card.answer(b64url_decode(body["challenge"])),
    )
    assert isinstance(answered, Response)
    return answered


def test_lookup_terminal_gets_only_its_own_service_number_with_checks(
    world: ChainWorld, api: TestClient, store: Store
) -> None:
    mykey_id, card, resident = _setup(world, api, store)
    _link(api, resident, "kawasaki-library", "LIB-00012345")
    _link(api, resident, "kawasaki-museum", "MUS-777")
    library_lookup = terminal_key(world, "library", TerminalKind.SERVICE_ID_LOOKUP)

    found = _lookup(api, library_lookup, "kawasaki-library", card)
    assert found.status_code == 200, found.text
    assert found.json()["service_id"] == "LIB-00012345"
    assert found.json()["address_changed"] is False
    assert "MUS-777" not in found.text

    other_service = _lookup(api, library_lookup, "kawasaki-museum", card)
    assert other_service.status_code == 403
    assert other_service.json()["type"].endswith("terminal-wrong-kind")

    point_use = terminal_key(world, "library", TerminalKind.POINT_USE)
    wrong_kind = _lookup(api, point_use, "kawasaki-library", card)
    assert wrong_kind.status_code == 403

    staff = {
        "Authorization": "Bearer "
        + staff_token(store, api, role="municipal-staff", organisation="14130")
    }
    changed = api.post(
        "/address-changes",
        json={"mykey_id": mykey_id, "changed_at": int(time.time()) + 1},
        headers=staff,
    )
    assert changed.status_code == 201, changed.text
    flagged = _lookup(api, library_lookup, "kawasaki-library", card)
    assert flagged.json()["address_changed"] is True
    assert flagged.json()["address_changed_on"] is not None


def test_lookup_refuses_expired_customer_card_and_missing_link(
    world: ChainWorld, api: TestClient, store: Store
) -> None:
    _mykey_id, card, resident = _setup(world, api, store)
    library_lookup = terminal_key(world, "library", TerminalKind.SERVICE_ID_LOOKUP)
    missing = _lookup(api, library_lookup, "kawasaki-library", card)
    assert missing.status_code == 404
    assert missing.json()["type"].endswith("service-link-missing")

    _link(api, resident, "kawasaki-library", "LIB-1", valid_until=int(time.time()) - 86_400)
    expired = _lookup(api, library_lookup, "kawasaki-library", card)
    assert expired.status_code == 410
    assert expired.json()["type"].endswith("service-link-expired")

    no_consent = api.post(
        "/me/service-links",
        json={"service_code": "kawasaki-library", "service_id": "LIB-2", "consent": False},
        headers=resident,
    )
    assert no_consent.status_code == 422
