"""My Page's vouchers: the logged-in resident's own, newest first, with where, value, end, status.

The index is filled with decoded ledger events as the indexer stores them (the chain-backed test
in test_chain_backed.py does the same through a real node); two residents each see only theirs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from api.store.database import Store
from api.store.models import ChainEvent
from tests.api.conftest import START
from tests.pages.conftest import RESIDENT_PASSWORD, PageWorld, register

DAY = 86400
BOOKSHOP_TERMINAL = "0x" + "aa" * 20
TOWN_HALL_TERMINAL = "0x" + "bb" * 20
UNKNOWN_TERMINAL = "0x" + "cc" * 20


@dataclass
class Index:
    """Adds events to the store the way `api.indexer.follower` stores them."""

    store: Store
    block: int = 10

    def add(self, contract: str, name: str, args: dict[str, object], *, at: int) -> None:
        self.block += 1
        municipality = args.get("municipality")
        counterparty = args.get("business")
        mykey_id = args.get("mykeyId")
        amount = args.get("amount")
        with self.store.sessions() as db:
            db.add(
                ChainEvent(
                    block_number=self.block,
                    log_index=0,
                    block_timestamp=at,
                    transaction_hash="0x" + f"{self.block:064x}",
                    contract=contract,
                    name=name,
                    mykey_id=mykey_id if isinstance(mykey_id, str) else None,
                    municipality=int(municipality) if isinstance(municipality, int) else None,
                    counterparty=int(counterparty) if isinstance(counterparty, int) else None,
                    amount=int(amount) if isinstance(amount, int) else None,
                    period=None,
                    args_json=json.dumps(args, sort_keys=True),
                )
            )
            db.commit()

    def voucher_issued(
        self,
        voucher_id: int,
        mykey_id: str,
        amount: int,
        *,
        terminal: str,
        at: int,
        expires_at: int,
        municipality: int = 14130,
    ) -> None:
        self.add(
            "PointLedger",
            "VoucherIssued",
            {
                "mykeyId": mykey_id,
                "municipality": municipality,
                "voucherId": voucher_id,
                "account": 0,
                "amount": amount,
                "expiresAt": expires_at,
                "terminal": terminal,
                "nonce": 1,
                "evidenceHash": "0x" + "00" * 32,
            },
            at=at,
        )

    def voucher_redeemed(self, voucher_id: int, amount: int, *, at: int) -> None:
        self.add(
            "PointLedger",
            "VoucherRedeemed",
            {
                "municipality": 14130,
                "voucherId": voucher_id,
                "business": 1,
                "amount": amount,
                "terminal": BOOKSHOP_TERMINAL,
                "period": 1,
            },
            at=at,
        )


@pytest.fixture
def index(site: PageWorld) -> Iterator[Index]:
    filled = Index(site.store)
    filled.add(
        "Consortium",
        "BusinessAdmitted",
        {"business": 1, "admin": "0x" + "01" * 20, "name": "かわさき書店"},
        at=START - 30 * DAY,
    )
    for owner_kind, owner_id, terminal in (
        (4, 1, BOOKSHOP_TERMINAL),
        (2, 14130, TOWN_HALL_TERMINAL),
    ):
        filled.add(
            "Consortium",
            "TerminalRegistered",
            {
                "ownerKind": owner_kind,
                "ownerId": owner_id,
                "terminal": terminal,
                "kind": 3,
                "management": False,
            },
            at=START - 30 * DAY,
        )
    # TANAKA01: used, expired, usable at the town hall, usable from a terminal no event names.
    filled.voucher_issued(
        1, "TANAKA01", 500, terminal=BOOKSHOP_TERMINAL, at=START - 20 * DAY, expires_at=START + DAY
    )
    filled.voucher_issued(
        2, "TANAKA01", 300, terminal=BOOKSHOP_TERMINAL, at=START - 10 * DAY, expires_at=START
    )
    filled.voucher_redeemed(1, 500, at=START - 5 * DAY)
    filled.voucher_issued(
        3, "TANAKA01", 1200, terminal=TOWN_HALL_TERMINAL, at=START - 2 * DAY, expires_at=START + 1
    )
    filled.voucher_issued(
        5, "TANAKA01", 40, terminal=UNKNOWN_TERMINAL, at=START - DAY, expires_at=START + 9 * DAY
    )
    # SUZUKI02: one voucher, redeemed, with a value TANAKA01 has nowhere.
    filled.voucher_issued(
        4, "SUZUKI02", 7777, terminal=BOOKSHOP_TERMINAL, at=START - 3 * DAY, expires_at=START + DAY
    )
    filled.voucher_redeemed(4, 7777, at=START - 2 * DAY)
    yield filled


def voucher_rows(html: str) -> dict[str, list[str]]:
    """Return {voucher id: [status, issued at, issuer, municipality, value, end, status words]}."""
    rows = {}
    for voucher_id, status, body in re.findall(
        r'<tr id="voucher-(\d+)" data-status="(\w+)">(.*?)</tr>', html, re.S
    ):
        cells = [
            re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", body, re.S)
        ]
        rows[voucher_id] = [status, *cells]
    return rows


def log_in(client: TestClient, mykey_id: str, language: str = "ja") -> str:
    page = client.post("/my/login", data={"mykey_id": mykey_id, "password": RESIDENT_PASSWORD})
    assert page.status_code == 200, page.text
    if language != "ja":
        page = client.get(f"/my?lang={language}")
    text: str = page.text
    return text


def test_the_resident_sees_their_own_vouchers_newest_first_with_status(
    site: PageWorld, index: Index
) -> None:
    register(site.client, "TANAKA01")
    page = log_in(site.client, "TANAKA01")
    ordered = re.findall(r'<tr id="voucher-(\d+)"', page)
    assert ordered == ["5", "3", "2", "1"]
    rows = voucher_rows(page)
    assert rows["1"][0] == "redeemed" and "利用済み" in rows["1"][-1]
    assert rows["2"][0] == "expired" and "有効期限切れ" in rows["2"][-1]  # expiresAt == now
    assert rows["3"][0] == "usable" and "利用できます" in rows["3"][-1]
    assert rows["1"][2] == "かわさき書店" and rows["3"][2] == "川崎市の窓口"
    assert rows["5"][2] == "不明な端末"
    assert rows["3"][3] == "川崎市" and rows["3"][4] == "1,200"
    assert rows["1"][5] == "2026-09-22まで"  # the last day it can be used (JST)
    assert "V-4" not in page and "7,777" not in page


def test_two_residents_never_see_each_others_vouchers(site: PageWorld, index: Index) -> None:
    register(site.client, "TANAKA01")
    site.client.post("/my/logout")
    register(site.client, "SUZUKI02")
    site.client.post("/my/logout")
    suzuki = log_in(site.client, "SUZUKI02", "en")
    assert re.findall(r'<tr id="voucher-(\d+)" data-status="(\w+)">', suzuki) == [("4", "redeemed")]
    assert "Redeemed" in suzuki and "7,777" in suzuki
    site.client.post("/my/logout")
    tanaka = log_in(site.client, "TANAKA01")
    assert "voucher-4" not in tanaka and "7,777" not in tanaka
    assert set(re.findall(r'<tr id="voucher-(\d+)"', tanaka)) == {"1", "2", "3", "5"}


def test_a_voucher_becomes_expired_when_its_day_is_over(site: PageWorld, index: Index) -> None:
    register(site.client, "TANAKA01")
    assert voucher_rows(log_in(site.client, "TANAKA01"))["3"][0] == "usable"
    site.clock.advance(1)  # voucher 3 ends at START + 1
    assert voucher_rows(log_in(site.client, "TANAKA01"))["3"][0] == "expired"


def test_without_vouchers_the_page_says_so(site: PageWorld) -> None:
    register(site.client, "TANAKA01")
    page = log_in(site.client, "TANAKA01")
    assert 'id="no-vouchers"' in page and "ポイント券はまだありません。" in page
    assert 'id="voucher-list"' not in page
