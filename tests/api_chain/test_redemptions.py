"""Redemption at a point-use terminal: card -> attestation -> transaction -> receipt; refusals."""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fastapi.testclient import TestClient
from httpx import Response

from api.clock import SystemClock
from api.settings import ApiSettings
from api.store.database import Store
from api.store.models import TerminalAction
from contracts.domain import TerminalKind
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


def _funded(
    world: ChainWorld, api: TestClient, store: Store, points: int
) -> tuple[str, VirtualCard]:
    card = new_card(world)
    mykey_id = register(api, card)
    token = staff_token(store, api, role="municipal-staff", organisation="14130")
    grant(api, token, mykey_id, points)
    return mykey_id, card


def _open(api: TestClient, key: str, amount: int) -> dict[str, object]:
    response = terminal_call(api, key, "POST", "/terminal/v1/redemptions", {"amount": amount})
    assert isinstance(response, Response)
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


def _answer(api: TestClient, key: str, opened: dict[str, object], card: VirtualCard) -> Response:
    statement = b64url_decode(str(opened["statement"]))
    response = terminal_call(
        api,
        key,
        "POST",
        f"/terminal/v1/redemptions/{opened['action_id']}/card-answer",
        card.answer(statement),
    )
    assert isinstance(response, Response)
    return response


def test_redemption_returns_final_receipt_with_remaining_balance(
    world: ChainWorld, api: TestClient, store: Store
) -> None:
    mykey_id, card = _funded(world, api, store, 1_000)
    store_terminal = terminal_key(world, "store", TerminalKind.POINT_USE)

    opened = _open(api, store_terminal, 400)
    statement = b64url_decode(str(opened["statement"])).decode()
    assert statement.startswith("mykey-ledger/terminal-action/v1\naction=redemption\n")
    assert "amount=400" in statement
    answered = _answer(api, store_terminal, opened, card)

    assert answered.status_code == 200, answered.text
    body = answered.json()
    assert body["remaining_balance"] == 600
    assert body["municipality_code"] == "14130"
    receipt = world.w3.eth.get_transaction_receipt(body["transaction_hash"])
    assert receipt["status"] == 1
    ledger = api.app.state.chain.ledger  # type: ignore[attr-defined]
    assert ledger.balance_of(mykey_id, KAWASAKI) == 600
    with store.sessions() as db:
        action = db.get(TerminalAction, str(opened["action_id"]))
        assert action is not None
        assert action.state == "done"
        assert action.mykey_id == mykey_id
        assert action.card_signature is not None  # the evidence stays off-chain, with us
    # the same action cannot be answered twice
    again = _answer(api, store_terminal, opened, card)
    assert again.status_code == 410
    assert again.json()["type"].endswith("challenge-expired")


def test_overspend_is_refused_with_the_balance(
    world: ChainWorld, api: TestClient, store: Store
) -> None:
    _mykey_id, card = _funded(world, api, store, 300)
    key = terminal_key(world, "store", TerminalKind.POINT_USE)

    answered = _answer(api, key, _open(api, key, 301), card)

    assert answered.status_code == 409, answered.text
    assert answered.json()["type"].endswith("insufficient-points")
    assert answered.json()["balance"] == 300


def test_two_concurrent_redemptions_exceeding_the_balance_exactly_one_succeeds(
    world: ChainWorld, api: TestClient, store: Store
) -> None:
    mykey_id, card = _funded(world, api, store, 1_000)
    key = terminal_key(world, "store", TerminalKind.POINT_USE)
    other_key = terminal_key(world, "museum", TerminalKind.POINT_USE)
    first = _open(api, key, 700)
    second = _open(api, other_key, 700)

    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(
            pool.map(
                lambda pair: _answer(api, pair[0], pair[1], card),
                [(key, first), (other_key, second)],
            )
        )

    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200, 409], [answer.text for answer in answers]
    refused = next(answer for answer in answers if answer.status_code == 409)
    assert refused.json()["type"].endswith("insufficient-points")
    assert api.app.state.chain.ledger.balance_of(mykey_id, KAWASAKI) == 300  # type: ignore[attr-defined]


def test_terminal_of_wrong_kind_or_business_is_refused(
    world: ChainWorld, api: TestClient, store: Store
) -> None:
    lookup_terminal = terminal_key(world, "library", TerminalKind.SERVICE_ID_LOOKUP)
    wrong_kind = terminal_call(
        api, lookup_terminal, "POST", "/terminal/v1/redemptions", {"amount": 1}
    )
    assert isinstance(wrong_kind, Response)
    assert wrong_kind.status_code == 403
    assert wrong_kind.json()["type"].endswith("terminal-wrong-kind")

    # The library accepts Kawasaki points only for facilities: a store purchase there is fine on
    # the library's own terminal, but the voucher terminal of the store cannot redeem at all.
    voucher_terminal = terminal_key(world, "store", TerminalKind.VOUCHER_ISSUE)
    refused = terminal_call(
        api, voucher_terminal, "POST", "/terminal/v1/redemptions", {"amount": 1}
    )
    assert isinstance(refused, Response)
    assert refused.status_code == 403

    # A resident holding only Toshima points at the library (which takes Kawasaki points only).
    toshima_card = new_card(world)
    toshima_resident = register(api, toshima_card, home="13116")
    toshima_staff = staff_token(store, api, role="municipal-staff", organisation="13116")
    grant(api, toshima_staff, toshima_resident, 50)
    library = terminal_key(world, "library", TerminalKind.POINT_USE)
    answered = _answer(api, library, _open(api, library, 10), toshima_card)
    assert answered.status_code == 403, answered.text
    assert answered.json()["type"].endswith("wrong-business")

    # An address that is no terminal at all.
    stranger = "0x" + secrets.token_hex(32)
    unknown = terminal_call(api, stranger, "GET", "/terminal/v1/terminal")
    assert isinstance(unknown, Response)
    assert unknown.status_code == 401
    assert unknown.json()["type"].endswith("terminal-not-registered")


def test_unsigned_tampered_stale_and_replayed_requests_are_refused(
    world: ChainWorld, api: TestClient
) -> None:
    key = terminal_key(world, "store", TerminalKind.POINT_USE)
    unsigned = api.post("/terminal/v1/redemptions", json={"amount": 5})
    assert unsigned.status_code == 401
    assert unsigned.json()["type"].endswith("terminal-request-invalid")

    headers, raw = signed(api, key, "POST", "/terminal/v1/redemptions", {"amount": 5})
    tampered = api.post("/terminal/v1/redemptions", content=b'{"amount":6}', headers=headers)
    assert tampered.status_code == 401

    first = api.post("/terminal/v1/redemptions", content=raw, headers=headers)
    assert first.status_code == 201, first.text
    replayed = api.post("/terminal/v1/redemptions", content=raw, headers=headers)
    assert replayed.status_code == 401
    assert replayed.json()["type"].endswith("terminal-request-invalid")

    stale_headers, stale_raw = signed(
        api,
        key,
        "POST",
        "/terminal/v1/redemptions",
        {"amount": 5},
        timestamp=SystemClock().now() - 120,
    )
    stale = api.post("/terminal/v1/redemptions", content=stale_raw, headers=stale_headers)
    assert stale.status_code == 401

    who = terminal_call(api, key, "GET", "/terminal/v1/terminal")
    assert isinstance(who, Response)
    assert who.status_code == 200
    assert who.json()["kinds"] == ["point-use"]


class _LateClock:
    """The API's clock running an hour behind: attestations it signs are already expired."""

    def now(self) -> int:
        return SystemClock().now() - 3600


def test_expired_attestation_is_refused_by_the_ledger(
    world: ChainWorld, api: TestClient, store: Store, tmp_path: Path
) -> None:
    mykey_id, card = _funded(world, api, store, 500)
    late_settings = ApiSettings.for_data_dir(
        tmp_path / "data",  # the same store: the card's MyKey ID is known there
        password_hashing=api.app.state.services.settings.password_hashing,  # type: ignore[attr-defined]
        follow_chain=False,
    )
    late, side = make_app_client(world, late_settings, clock=_LateClock())
    key = terminal_key(world, "store", TerminalKind.POINT_USE)
    with late:
        # requests are signed on the API's (late) clock so they pass the freshness check
        headers, raw = signed(
            late,
            key,
            "POST",
            "/terminal/v1/redemptions",
            {"amount": 100},
            timestamp=_LateClock().now(),
        )
        opened = late.post("/terminal/v1/redemptions", content=raw, headers=headers).json()
        statement = b64url_decode(opened["statement"])
        path = f"/terminal/v1/redemptions/{opened['action_id']}/card-answer"
        headers, raw = signed(
            late, key, "POST", path, card.answer(statement), timestamp=_LateClock().now()
        )
        answered = late.post(path, content=raw, headers=headers)

    assert answered.status_code == 409, answered.text
    assert answered.json()["ledger_error"] == "AttestationExpired"
    assert side.ledger.balance_of(mykey_id, KAWASAKI) == 500


def test_card_answer_with_wrong_signature_or_unknown_card_is_refused(
    world: ChainWorld, api: TestClient, store: Store
) -> None:
    _mykey_id, card = _funded(world, api, store, 100)
    key = terminal_key(world, "store", TerminalKind.POINT_USE)
    opened = _open(api, key, 10)
    forged = card.answer(b"another statement")
    response = terminal_call(
        api, key, "POST", f"/terminal/v1/redemptions/{opened['action_id']}/card-answer", forged
    )
    assert isinstance(response, Response)
    assert response.status_code == 401
    assert response.json()["type"].endswith("card-answer-invalid")

    stranger = new_card(world)
    unknown = _answer(api, key, _open(api, key, 10), stranger)
    assert unknown.status_code == 404
    assert unknown.json()["type"].endswith("mykey-id-not-registered")
