"""Vouchers: issued at a voucher terminal with the card, redeemed once at a point-use terminal."""

from __future__ import annotations

from fastapi.testclient import TestClient
from httpx import Response

from api.store.database import Store
from contracts.domain import TerminalKind
from tests.api_chain.conftest import (
    KAWASAKI,
    ChainWorld,
    b64url_decode,
    grant,
    new_card,
    register,
    staff_token,
    terminal_call,
    terminal_key,
)


def test_voucher_issued_with_the_card_and_redeemed_once(
    world: ChainWorld, api: TestClient, store: Store
) -> None:
    card = new_card(world)
    mykey_id = register(api, card)
    grant(api, staff_token(store, api, role="municipal-staff", organisation="14130"), mykey_id, 700)
    issuer = terminal_key(world, "store", TerminalKind.VOUCHER_ISSUE)
    opened = terminal_call(api, issuer, "POST", "/terminal/v1/vouchers", {"amount": 500})
    assert isinstance(opened, Response) and opened.status_code == 201, opened
    statement = b64url_decode(opened.json()["statement"])
    assert b"action=voucher" in statement
    issued = terminal_call(
        api,
        issuer,
        "POST",
        f"/terminal/v1/vouchers/{opened.json()['action_id']}/card-answer",
        card.answer(statement),
    )
    assert isinstance(issued, Response) and issued.status_code == 200, issued.text
    voucher = issued.json()
    assert voucher["face_value"] == 500
    assert voucher["remaining_balance"] == 200
    assert api.app.state.chain.ledger.balance_of(mykey_id, KAWASAKI) == 200  # type: ignore[attr-defined]

    till = terminal_key(world, "store", TerminalKind.POINT_USE)
    voucher_id = int(voucher["voucher_code"].removeprefix("V-"))
    wrong_secret = terminal_call(
        api,
        till,
        "POST",
        "/terminal/v1/voucher-redemptions",
        {"voucher_id": voucher_id, "secret": "0x" + "00" * 32},
    )
    assert isinstance(wrong_secret, Response) and wrong_secret.status_code == 409
    redeemed = terminal_call(
        api,
        till,
        "POST",
        "/terminal/v1/voucher-redemptions",
        {"voucher_id": voucher_id, "secret": voucher["voucher_secret"]},
    )
    assert isinstance(redeemed, Response) and redeemed.status_code == 201, redeemed.text
    assert redeemed.json()["amount"] == 500
    twice = terminal_call(
        api,
        till,
        "POST",
        "/terminal/v1/voucher-redemptions",
        {"voucher_id": voucher_id, "secret": voucher["voucher_secret"]},
    )
    assert isinstance(twice, Response) and twice.status_code == 409
    assert twice.json()["ledger_error"] == "VoucherAlreadyRedeemed"
