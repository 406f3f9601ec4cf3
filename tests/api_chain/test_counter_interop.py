"""The counter terminal's own HTTP client (card_bridge.counter.http_api) against this API."""

from __future__ import annotations

from eth_account import Account
from eth_typing import HexStr
from fastapi.testclient import TestClient

from api.store.database import Store
from card_bridge.counter.http_api import HttpCounterApi
from card_bridge.counter.ports import ActionKind, CardAnswer
from card_bridge.counter.statements import check_statement
from contracts.domain import TerminalKind
from tests.api_chain.conftest import (
    ChainWorld,
    grant,
    new_card,
    register,
    staff_token,
    terminal_key,
)


def _counter(api: TestClient, key: str) -> HttpCounterApi:
    return HttpCounterApi(
        str(api.base_url),
        Account.from_key(key),
        transport=api._transport,
    )


def test_counter_client_redeems_and_its_statement_check_passes(
    world: ChainWorld, api: TestClient, store: Store
) -> None:
    card = new_card(world)
    mykey_id = register(api, card)
    grant(api, staff_token(store, api, role="municipal-staff", organisation="14130"), mykey_id, 900)
    counter = _counter(api, terminal_key(world, "store", TerminalKind.POINT_USE))
    try:
        terminal = counter.describe_terminal()
        pending = counter.begin_action(ActionKind.REDEMPTION, amount=250)  # type: ignore[arg-type]
        check_statement(pending, terminal=terminal.address, business=terminal.business)
        result = counter.complete_redemption(
            pending, CardAnswer(card.certificate_der, card.sign(pending.statement))
        )
    finally:
        counter.close()

    assert result.remaining_balance == 650
    assert result.municipality_code == "14130"
    assert world.w3.eth.get_transaction_receipt(HexStr(result.transaction_hash))["status"] == 1
