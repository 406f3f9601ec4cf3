"""The service's side of address changes, with real signed terminal requests on a real node.

A lookup terminal reads the changes of residents linked at its business's services (by its own
customer numbers, never another business's), confirms one service's record, and from then on
that service's lookup no longer flags the change while the business's other service still does.
"""

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

LIBRARY = "kawasaki-library-a"
ANNEX = "kawasaki-library-annex-a"
MUSEUM = "kawasaki-museum-a"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _resident(world: ChainWorld, api: TestClient) -> tuple[str, VirtualCard, dict[str, str]]:
    card = new_card(world)
    mykey_id = register(api, card)
    login = api.post("/sessions", json={"mykey_id": mykey_id, "password": "Abc12345"}).json()
    return mykey_id, card, _bearer(login["token"])


def _link(api: TestClient, resident: dict[str, str], code: str, number: str) -> None:
    linked = api.post(
        "/me/service-links",
        json={"service_code": code, "service_id": number, "consent": True},
        headers=resident,
    )
    assert linked.status_code == 201, linked.text


def _lookup(api: TestClient, key: str, code: str, card: VirtualCard) -> dict[str, Any]:
    challenge = terminal_call(
        api, key, "POST", "/terminal/v1/lookups/challenges", {"service_code": code}
    ).json()
    answered = terminal_call(
        api,
        key,
        "POST",
        "/terminal/v1/lookups",
        {"challenge_id": challenge["challenge_id"]}
        | card.answer(b64url_decode(challenge["challenge"])),
    )
    assert answered.status_code == 200, answered.text
    body: dict[str, Any] = answered.json()
    return body


def _feed(api: TestClient, key: str, since: int) -> Response:
    return terminal_call(api, key, "GET", f"/terminal/v1/address-changes?since={since}")


def test_a_lookup_terminal_learns_of_changes_and_each_service_confirms_its_own(
    world: ChainWorld, api: TestClient, store: Store
) -> None:
    admin = _bearer(staff_token(store, api, role="platform-admin", organisation=None))
    for code, business in ((LIBRARY, "library"), (ANNEX, "library"), (MUSEUM, "museum")):
        added = api.post(
            "/services",
            json={
                "service_code": code,
                "business": world.demo.businesses[business].business_id,
                "name": code,
            },
            headers=admin,
        )
        assert added.status_code == 201, added.text
    moved_id, moved_card, moved = _resident(world, api)
    _link(api, moved, LIBRARY, "LIB-MOVED")
    _link(api, moved, ANNEX, "ANX-MOVED")
    _link(api, moved, MUSEUM, "MUS-MOVED")
    elsewhere_id, _card, elsewhere = _resident(world, api)
    _link(api, elsewhere, MUSEUM, "MUS-ELSEWHERE")
    _stayed_id, _card, stayed = _resident(world, api)
    _link(api, stayed, LIBRARY, "LIB-STAYED")
    since = int(time.time()) - 1
    staff = _bearer(staff_token(store, api, role="municipal-staff", organisation="14130"))
    for mykey_id in (moved_id, elsewhere_id):
        reported = api.post(
            "/address-changes",
            json={"mykey_id": mykey_id, "changed_at": int(time.time()) + 1},
            headers=staff,
        )
        assert reported.status_code == 201, reported.text
    library_key = terminal_key(world, "library", TerminalKind.SERVICE_ID_LOOKUP)

    feed = _feed(api, library_key, since)

    assert feed.status_code == 200, feed.text
    assert sorted((item["service_code"], item["service_id"]) for item in feed.json()) == [
        (LIBRARY, "LIB-MOVED"),
        (ANNEX, "ANX-MOVED"),
    ]
    assert "MUS-" not in feed.text
    assert _feed(api, library_key, int(time.time()) + 3600).json() == []
    change_id = feed.json()[0]["change_id"]
    assert _lookup(api, library_key, LIBRARY, moved_card)["address_changed"] is True

    confirmed = terminal_call(
        api,
        library_key,
        "POST",
        f"/terminal/v1/address-changes/{change_id}/confirmation",
        {"service_code": LIBRARY},
    )

    assert confirmed.status_code == 200, confirmed.text
    assert _lookup(api, library_key, LIBRARY, moved_card)["address_changed"] is False
    assert _lookup(api, library_key, ANNEX, moved_card)["address_changed"] is True
    assert [(i["service_code"], i["change_id"]) for i in _feed(api, library_key, since).json()] == [
        (ANNEX, change_id)
    ]
    not_ours = terminal_call(
        api,
        library_key,
        "POST",
        f"/terminal/v1/address-changes/{change_id}/confirmation",
        {"service_code": MUSEUM},
    )
    assert not_ours.status_code == 404


def test_the_feed_needs_a_signed_request_from_a_lookup_terminal(
    world: ChainWorld, api: TestClient
) -> None:
    since = int(time.time())
    unsigned = api.get(f"/terminal/v1/address-changes?since={since}")
    assert (unsigned.status_code, unsigned.json()["type"]) == (
        401,
        "urn:mykey-ledger:problem:terminal-request-invalid",
    )
    point_use = terminal_key(world, "library", TerminalKind.POINT_USE)
    wrong_kind = _feed(api, point_use, since)
    assert (wrong_kind.status_code, wrong_kind.json()["type"]) == (
        403,
        "urn:mykey-ledger:problem:terminal-wrong-kind",
    )
