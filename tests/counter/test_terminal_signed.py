"""The counter with `sign_transactions = "terminal"` (option B): it signs its own transaction.

Against the fake API (real HTTP, the virtual card on pcscd): the open request asks for terminal
signing, the prepared transaction is signed with the counter's key and relayed, and a prepared
transaction that is not the asked-for redemption is never signed. Against the real API on a
real node (LevelDB, the demo consortium): a point-use terminal registered for this test through
the store's admin key, whose key the API's key ring does not hold, redeems through the counter
session; so the key lives only on the terminal.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import HexStr
from fastapi.testclient import TestClient

from api.settings import ApiSettings
from api.store.database import open_store
from card_bridge.counter.config import (
    ConfigError,
    CounterConfig,
    DeliveryMode,
    load_config,
    write_config,
)
from card_bridge.counter.http_api import REDEEM_SELECTOR, HttpCounterApi, check_redeem_call
from card_bridge.counter.ports import (
    SigningMode,
    TerminalKind,
    TransactionRefused,
    UnsignedTransaction,
)
from card_bridge.counter.session import CounterSession, RedemptionDone, Refused
from card_bridge.pcsc import PcscReaders
from card_bridge.virtual_card.card import VirtualMyNumberCard
from card_bridge.virtual_card.issuance import issue_card
from card_bridge.virtual_card.vpcd import VPCD_READER, VpcdLink
from contracts.client import LedgerClient
from contracts.domain import TerminalKind as LedgerTerminalKind
from tests.api_chain.conftest import (
    FAST_HASHING,
    KAWASAKI,
    ChainWorld,
    VirtualCard,
    grant,
    make_app_client,
    register,
    running_world,
    staff_token,
)
from tests.card.conftest import TEST_PIN, wait_for_presence
from tests.counter.conftest import BUSINESS, SERVICE
from tests.counter.fake_api import FakePlatform, FakeResident

pytestmark = pytest.mark.realstack


def _session(
    api: HttpCounterApi,
    address: str,
    business: str,
    tmp_path: Path,
    signing: SigningMode = SigningMode.TERMINAL,
) -> CounterSession:
    return CounterSession(
        api=api,
        readers=PcscReaders(),
        terminal_address=address,
        business=business,
        service_code=SERVICE,
        delivery=DeliveryMode.SCREEN,
        reader=VPCD_READER,
        card_timeout_seconds=3.0,
        label_directory=tmp_path / "labels",
        clock=lambda: datetime.now(UTC),
        sign_transactions=signing,
    )


# ---- against the fake API --------------------------------------------------------------------


def test_the_counter_opens_for_terminal_signing_signs_and_shows_the_receipt(
    *,
    inserted_card: VpcdLink,
    api: HttpCounterApi,
    terminal_account: LocalAccount,
    platform: FakePlatform,
    resident: FakeResident,
    tmp_path: Path,
) -> None:
    session = _session(api, terminal_account.address, BUSINESS, tmp_path)

    outcome = session.redeem(300, TEST_PIN)

    assert isinstance(outcome, RedemptionDone), outcome
    assert outcome.result.remaining_balance == 3700
    assert resident.balance == 3700
    opened = next(r for r in platform.requests if r.path == "/terminal/v1/redemptions")
    assert b'"signing":"terminal"' in opened.body
    assert [item["sender"] for item in platform.relayed] == [terminal_account.address.lower()]


def test_a_prepared_transaction_for_another_amount_is_not_signed(
    *,
    inserted_card: VpcdLink,
    api: HttpCounterApi,
    terminal_account: LocalAccount,
    platform: FakePlatform,
    resident: FakeResident,
    tmp_path: Path,
) -> None:
    platform.transaction_amount_override = 3000  # the API lies in the transaction, not the text
    session = _session(api, terminal_account.address, BUSINESS, tmp_path)

    outcome = session.redeem(300, TEST_PIN)

    assert isinstance(outcome, Refused)
    assert outcome.message.code == "transaction-refused"
    assert platform.relayed == []
    assert not any("signed-transaction" in request.path for request in platform.requests)
    assert resident.balance == 4000


def test_check_redeem_call_refuses_value_and_other_functions() -> None:
    base = UnsignedTransaction(
        to="0x" + "11" * 20, data=REDEEM_SELECTOR, value=0, gas=1, gas_price=0, chain_id=1, nonce=0
    )
    with pytest.raises(TransactionRefused, match="wei"):
        check_redeem_call(replace(base, value=5), amount=1)
    with pytest.raises(TransactionRefused, match="does not call"):
        check_redeem_call(replace(base, data=b"\xa9\x05\x9c\xbb" + bytes(64)), amount=1)
    with pytest.raises(TransactionRefused, match="does not decode"):
        check_redeem_call(base, amount=1)


def test_the_setting_is_kept_in_the_config_and_a_wrong_value_is_named(tmp_path: Path) -> None:
    path = tmp_path / "counter.toml"
    config = CounterConfig(
        api_url="http://127.0.0.1:1",
        business=BUSINESS,
        kinds=(TerminalKind.POINT_USE,),
        service_code="",
        delivery=DeliveryMode.SCREEN,
        keystore=tmp_path / "key.json",
        sign_transactions=SigningMode.TERMINAL,
    )
    write_config(path, config)
    assert load_config(path).sign_transactions is SigningMode.TERMINAL
    path.write_text(path.read_text().replace('"terminal"', '"both"'))
    with pytest.raises(ConfigError, match="sign_transactions"):
        load_config(path)
    path.write_text(path.read_text().replace('sign_transactions = "both"\n', ""))
    assert load_config(path).sign_transactions is SigningMode.API  # the default: as before


# ---- against the real API on a real node --------------------------------------------------


@pytest.fixture(scope="module")
def chain_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainWorld]:
    with running_world(tmp_path_factory, crl_validity=timedelta(days=1)) as world:
        yield world


@pytest.fixture
def real_api(chain_world: ChainWorld, tmp_path: Path) -> Iterator[TestClient]:
    settings = ApiSettings.for_data_dir(
        tmp_path / "data",
        password_hashing=FAST_HASHING,
        mail_from="noreply@mykey.test",
        follow_chain=False,
    )
    client, _side = make_app_client(chain_world, settings)
    with client:
        yield client


@pytest.fixture
def own_terminal(chain_world: ChainWorld) -> Iterator[LocalAccount]:
    """A point-use terminal of the demo store whose THROWAWAY TEST KEY only this test holds."""
    account: LocalAccount = Account.from_key("0x" + secrets.token_hex(32))
    ledger = LedgerClient(chain_world.w3, chain_world.demo.deployment)
    admin = chain_world.demo.businesses["store"].admin_key
    ledger.register_terminal(admin, account.address, LedgerTerminalKind.POINT_USE)
    yield account
    ledger.deregister_terminal(admin, account.address)


@pytest.fixture
def world_card(vpcd_reader: str, chain_world: ChainWorld) -> Iterator[VirtualCard]:
    """A card of the chain world's test authority, in the vpcd reader for this test."""
    issue = issue_card(chain_world.authority, datetime.now(UTC))
    wait_for_presence(False)
    link = VpcdLink(VirtualMyNumberCard(issue, pin=TEST_PIN))
    link.connect()
    try:
        wait_for_presence(True)
        yield VirtualCard(issue)
    finally:
        link.disconnect()
        wait_for_presence(False)


def test_counter_session_redeems_on_a_real_node_with_a_key_the_api_does_not_hold(
    *,
    chain_world: ChainWorld,
    real_api: TestClient,
    own_terminal: LocalAccount,
    world_card: VirtualCard,
    tmp_path: Path,
) -> None:
    assert not chain_world.keys.holds(own_terminal.address)
    mykey_id = register(real_api, world_card)
    store = open_store(real_api.app.state.services.settings.database_url)  # type: ignore[attr-defined]
    try:
        grant(
            real_api,
            staff_token(store, real_api, role="municipal-staff", organisation="14130"),
            mykey_id,
            800,
        )
    finally:
        store.close()
    counter = HttpCounterApi(str(real_api.base_url), own_terminal, transport=real_api._transport)
    try:
        business = counter.describe_terminal().business
        api_signing = _session(counter, own_terminal.address, business, tmp_path, SigningMode.API)
        refused = api_signing.redeem(100, TEST_PIN)  # the API cannot sign for this terminal
        session = _session(counter, own_terminal.address, business, tmp_path)
        outcome = session.redeem(250, TEST_PIN)
    finally:
        counter.close()

    assert isinstance(refused, Refused)
    assert isinstance(outcome, RedemptionDone), outcome
    assert outcome.result.remaining_balance == 550
    assert outcome.result.municipality_code == "14130"
    transaction = chain_world.w3.eth.get_transaction(HexStr(outcome.result.transaction_hash))
    assert transaction["from"] == own_terminal.address  # from the terminal's own account
    receipt = chain_world.w3.eth.get_transaction_receipt(HexStr(outcome.result.transaction_hash))
    assert receipt["status"] == 1
    ledger = real_api.app.state.chain.ledger  # type: ignore[attr-defined]
    assert ledger.balance_of(mykey_id, KAWASAKI) == 550
