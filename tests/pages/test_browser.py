"""The pages in headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core).

One journey on a real dev ledger (the chain tests' world, through the API's chain side), as a
person would take it: a new resident registers through every screen-16 rule (errors shown, then
fixed); staff grant a CSV batch and see a result per line; the resident logs in and sees the
points on My Page (also in English); a treasurer closes the period and downloads the statement
CSV; the explorer shows blocks, updates without a reload, and shows a grant decoded in words.
Every page visited is screenshotted into artifacts-test/pages/ and checked with axe-core: no
serious or critical violation is allowed.
"""

from __future__ import annotations

import threading
from pathlib import Path

from eth_account import Account
from web3 import Web3
from web3.types import Nonce

from api.app import create_app
from api.cards import JpkiCardVerifier
from api.chain.side import build_chain_side
from api.clock import SystemClock
from api.pages import PagesSettings
from api.pages.virtual_card import FreshVirtualCards
from api.settings import ApiSettings
from api.store.database import open_store
from contracts.events import event_topic
from tests.api.conftest import FAST_HASHING
from tests.api_chain.conftest import ChainWorld, world  # noqa: F401 - the session's dev ledger
from tests.pages.browser_run import (
    ARTIFACTS,
    ServerThread,
    checked_report,
    ensure_browser,
    run_script,
)
from tests.pages.conftest import add_staff

EXPECTED_AUDITS = 15
"""Pages the journey screenshots and checks with axe-core."""
EXPECTED_CHECKS = 26
"""Checks the journey makes: fewer means a step was skipped."""


class BlockMaker:
    """Sends a small value transfer every half second so the node keeps making new blocks."""

    def __init__(self, rpc_url: str, key: str) -> None:
        self.w3 = Web3(Web3.HTTPProvider(rpc_url))
        self.account = Account.from_key(key)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        nonce = int(self.w3.eth.get_transaction_count(self.account.address))
        while not self.stopping.wait(0.5):
            signed = self.account.sign_transaction(
                {
                    "to": self.account.address,
                    "value": 1,
                    "gas": 21_000,
                    "gasPrice": 0,
                    "nonce": Nonce(nonce),
                    "chainId": self.w3.eth.chain_id,
                }
            )
            self.w3.eth.send_raw_transaction(signed.raw_transaction)
            nonce += 1

    def __enter__(self) -> BlockMaker:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopping.set()
        self.thread.join(timeout=10)


class ConvertOnRegistration:
    """Converts partner points for a MyKey ID as soon as it is registered (a partner acting)."""

    def __init__(self, world: ChainWorld, mykey_id: str, units: int) -> None:  # noqa: F811
        self.side = build_chain_side(world.config, world.keys, SystemClock())
        self.partner = world.demo.partner.partner_id
        self.mykey_id = mykey_id
        self.units = units
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stopping.wait(0.2):
            status, _home = self.side.ledger.mykey_status(self.mykey_id)
            if status == 1:
                self.side.ledger.convert(self.partner, self.mykey_id, self.units, b"browser test")
                return

    def __enter__(self) -> ConvertOnRegistration:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopping.set()
        self.thread.join(timeout=10)


def first_grant_transaction(world: ChainWorld) -> str:  # noqa: F811
    """The demo consortium's first PointsGranted transaction (DEMOA001 in Kawasaki)."""
    logs = world.w3.eth.get_logs(
        {
            "fromBlock": 0,
            "toBlock": "latest",
            "address": world.demo.deployment.ledger,
            "topics": ["0x" + event_topic("PointLedger", "PointsGranted").hex()],
        }
    )
    return "0x" + bytes(logs[0]["transactionHash"]).hex()


def test_the_pages_in_a_real_browser(tmp_path: Path, world: ChainWorld) -> None:  # noqa: F811
    ensure_browser()
    settings = ApiSettings.for_data_dir(
        tmp_path / "data",
        password_hashing=FAST_HASHING,
        mail_from="noreply@mykey.test",
        indexer_interval_seconds=0.2,
    )
    clock = SystemClock()
    pages = PagesSettings(
        rpc_url=world.node.http_url,
        deployment=world.demo.deployment,
        virtual_card=FreshVirtualCards(world.authority),
        secure_cookies=False,
        explorer_refresh_seconds=1,
    )
    app = create_app(
        settings,
        cards=JpkiCardVerifier(world.trust),
        clock=clock,
        chain=build_chain_side(world.config, world.keys, clock),
        pages=pages,
    )
    store = open_store(settings.database_url)
    add_staff(store, "kawasaki.staff", "14130")
    add_staff(store, "kawasaki.treasurer", "14130", role="treasurer")
    store.close()
    csv_path = tmp_path / "day.csv"
    csv_path.write_text(
        "mykey_id,points,activity\nHANAKO01,200,volunteering\nNOBODY99,100,volunteering\n"
        "bad,0,dancing\n",
        encoding="utf-8",
    )
    spare_key = world.node.dev_accounts[1].private_key
    with (
        ServerThread(app) as base_url,
        BlockMaker(world.node.http_url, spare_key),
        ConvertOnRegistration(world, "HANAKO01", 500),
    ):
        finished = run_script(
            "journey.mjs",
            [base_url, str(ARTIFACTS), str(csv_path), str(tmp_path / "chromium-profile")],
            timeout=240,
            env={"GRANT_TRANSACTION": first_grant_transaction(world)},
        )
    checked_report(
        finished,
        "report.json",
        expected_checks=EXPECTED_CHECKS,
        expected_audits=EXPECTED_AUDITS,
    )
