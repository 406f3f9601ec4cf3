"""E-mail notices driven by indexed chain events, end to end on a real node and a real SMTP server.

A conversion (reserve landed, then gone home), a grant by a granting terminal straight on-chain,
an expiry sweep and a revocation each reach an opted-in resident once; an opted-out resident and
one without an address get nothing; an indexer that crashes mid-range, restarts and re-polls adds
no second notice; and a grant through the API still makes exactly one.
"""

from __future__ import annotations

import secrets
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from email.message import EmailMessage

import pytest
from eth_utils.address import to_checksum_address
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.clock import SystemClock
from api.indexer.follower import AfterStore, ChainIndexer
from api.notices.chain_notices import ChainNoticeHook, enqueue_chain_notices, notice_for
from api.notices.render import render_notice
from api.notices.sender import OutboxSender, SmtpTarget
from api.store.database import Store
from api.store.models import Account, ChainEvent, OutboxMessage
from contracts.client import LedgerClient
from contracts.domain import MunicipalityCode
from contracts.transactions import send_transaction
from tests.api.smtp_server import SmtpServer
from tests.api_chain.conftest import (
    KAWASAKI,
    TOSHIMA,
    ChainWorld,
    grant,
    new_card,
    register,
    running_world,
    staff_token,
)

MAIL_DOMAIN = "mykey.test"
RESERVE_PERIOD_DAYS = 14
USE_ANY = 1
EVENT_SECONDS = 15
"""How long the test event account stays open: long enough for six grants to be sealed."""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainWorld]:
    """This module's own node: it shortens the reserve period, and reserve deadlines in one home
    queue never decrease (PointLedger.convert), so another module's 14-day reserve in the same
    home municipality would hold a 3-second reserve back for 14 days."""
    with running_world(tmp_path_factory) as own:
        yield own


class IndexerCrashed(RuntimeError):
    """Raised by the test hook after it enqueued notices, as a crash before commit would."""


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


def _tick(world: ChainWorld) -> None:
    """Seal one more block with a transfer between dev accounts (touches no ledger contract)."""
    sender, receiver = world.node.dev_accounts[8], world.node.dev_accounts[9]
    send_transaction(
        world.w3, sender.private_key, to=to_checksum_address(receiver.address), data=b"", gas=21_000
    )


def _block_time(world: ChainWorld) -> int:
    return int(world.w3.eth.get_block("latest")["timestamp"])


def _wait_for_block_time(world: ChainWorld, after: int) -> None:
    """Seal blocks until block time is past `after` (the dev node seals only on transactions)."""
    for _ in range(60):
        if _block_time(world) > after:
            return
        _tick(world)
        time.sleep(0.3)
    raise AssertionError(f"block time did not pass {after}")


def _resident(
    world: ChainWorld, api: TestClient, store: Store, *, email: str | None, opted_in: bool
) -> str:
    mykey_id = register(api, new_card(world), home=str(TOSHIMA))
    with store.sessions() as db:
        account = db.scalars(select(Account).where(Account.mykey_id == mykey_id)).one()
        account.email = email
        account.notify_points_granted = opted_in
        account.notify_points_expired = opted_in
        account.notify_password_changed = opted_in
        account.notify_mykey_id_changes = opted_in
        db.commit()
    return mykey_id


def _convert(api: TestClient, token: str, mykey_id: str, units: int) -> dict[str, object]:
    response = api.post(
        "/conversions",
        json={"mykey_id": mykey_id, "partner_units": units, "reference": secrets.token_hex(8)},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


def _indexer(world: ChainWorld, store: Store, hook: AfterStore | None) -> ChainIndexer:
    return ChainIndexer(
        world.w3,
        world.demo.deployment,
        store,
        now=SystemClock().now,
        batch_blocks=50,
        after_store=hook,
    )


def _sender(store: Store, smtp: SmtpServer) -> OutboxSender:
    return OutboxSender(
        sessions=store.sessions,
        target=SmtpTarget(host="127.0.0.1", port=smtp.port, mail_from=f"noreply@{MAIL_DOMAIN}"),
        clock=SystemClock(),
        owner="notices-test",
    )


def _mail_to(smtp: SmtpServer, address: str) -> list[EmailMessage]:
    return [m for m in smtp.handler.accepted if str(m["To"]) == address]


def _english_subjects(messages: Sequence[EmailMessage]) -> Counter[str]:
    return Counter(str(m["Subject"]).split(" / ")[1] for m in messages)


def _chain_rows(store: Store) -> int:
    with store.sessions() as db:
        count = db.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.idempotency_key.like("chain:%"))
        )
    return int(count or 0)


def test_chain_events_mail_each_opted_in_resident_once_across_crash_restart_and_api_grants(
    world: ChainWorld, api: TestClient, store: Store, smtp: SmtpServer
) -> None:
    client = LedgerClient(world.w3, world.demo.deployment, gas_limit=3_000_000)
    kawasaki = world.demo.municipalities[MunicipalityCode(KAWASAKI)]
    opted_in = _resident(world, api, store, email="hana@example.jp", opted_in=True)
    opted_out = _resident(world, api, store, email="taro@example.jp", opted_in=False)
    no_address = _resident(world, api, store, email=None, opted_in=True)
    residents = (opted_in, opted_out, no_address)
    partner = staff_token(
        store, api, role="partner-operator", organisation=str(world.demo.partner.partner_id)
    )

    # a conversion whose reserve goes home 3 s later. Home is Toshima: a home queue's deadlines
    # never decrease, and the demo consortium's conversion put a 14-day one in Kawasaki's.
    client.set_reserve_period(world.demo.platform_key, 3)
    try:
        deadlines = [int(str(_convert(api, partner, r, 40)["deadline"])) for r in residents]
    finally:
        client.set_reserve_period(world.demo.platform_key, RESERVE_PERIOD_DAYS * 86_400)
    # points in an event account that closes in a few seconds, granted by a mobile granting
    # terminal straight on-chain (not through the API)
    opens = _block_time(world)
    event_account = client.open_event_account(
        kawasaki.admin_key, KAWASAKI, opens, opens + EVENT_SECONDS, USE_ANY
    )
    for resident in residents:
        client.grant(
            kawasaki.mobile_terminal_key,
            resident,
            KAWASAKI,
            25,
            activity=2,
            reference=secrets.token_bytes(32),
            account=event_account,
        )
        client.grant(
            kawasaki.mobile_terminal_key,
            resident,
            KAWASAKI,
            300,
            activity=1,
            reference=secrets.token_bytes(32),
        )
    _wait_for_block_time(world, max([*deadlines, opens + EVENT_SECONDS]))
    client.sweep_reserves(world.demo.platform_key, TOSHIMA)
    for resident in residents:
        client.sweep_expired(world.demo.platform_key, resident, KAWASAKI, event_account)
    # a grant through the API: its service enqueues the notice itself
    token = staff_token(store, api, role="municipal-staff", organisation="14130")
    for resident in residents:
        grant(api, token, resident, 70)
    client.revoke_mykey(world.demo.platform_key, opted_in)
    hook = ChainNoticeHook(mail_domain=MAIL_DOMAIN, now=SystemClock().now)

    # 1. an indexer that dies after enqueuing, before its range commits: nothing stays
    def crashing(db: Session, events: Sequence[ChainEvent]) -> None:
        if enqueue_chain_notices(db, events, now=SystemClock().now(), mail_domain=MAIL_DOMAIN):
            raise IndexerCrashed("simulated crash inside the range's transaction")

    crashed = _indexer(world, store, crashing)
    with pytest.raises(IndexerCrashed):
        crashed.catch_up()
    stopped_at = crashed.next_block()
    assert _chain_rows(store) == 0
    with store.sessions() as db:
        assert (
            db.scalar(
                select(func.count())
                .select_from(ChainEvent)
                .where(ChainEvent.block_number >= stopped_at)
            )
            == 0
        )

    # 2. the restarted indexer redoes that range and the rest; the sender mails them
    _indexer(world, store, hook).catch_up()
    report = _sender(store, smtp).run_once()
    assert report.failed == 0 and report.retrying == 0

    mine = _mail_to(smtp, "hana@example.jp")
    assert _english_subjects(mine) == Counter(
        {
            "Points converted and reserved": 1,
            "Reserved points went to your home municipality": 1,
            # the 25 in the event account, the 300 on-chain, the 70 through the API
            "Municipal points granted": 3,
            "Municipal points expired": 1,
            "MyKey ID revoked": 1,
        }
    )
    assert _mail_to(smtp, "taro@example.jp") == []
    assert len(smtp.handler.accepted) == len(mine)
    converted = next(m for m in mine if "Points converted" in str(m["Subject"]))
    body = converted.get_content()
    assert body.index("予約ポイント") < body.index("reserved for MyKey ID")  # Japanese first
    assert opted_in in body and "40 ポイント" in body and "(JST)" in body
    granted = [m.get_content() for m in mine if "granted" in str(m["Subject"])]
    assert sorted(int(b.split(" ポイント")[0].split()[-1]) for b in granted) == [25, 70, 300]
    expired = next(m for m in mine if "expired" in str(m["Subject"]))
    assert "25 ポイントが失効しました" in expired.get_content()

    # 3. another restart, a re-poll of every stored event, another sender pass: nothing new
    _indexer(world, store, hook).catch_up()
    with store.sessions() as db, db.begin():
        stored = list(db.scalars(select(ChainEvent)))
        assert (
            enqueue_chain_notices(db, stored, now=SystemClock().now(), mail_domain=MAIL_DOMAIN) == 0
        )
    assert _sender(store, smtp).run_once().sent == 0
    assert len(smtp.handler.accepted) == len(mine)
    assert smtp.handler.message_ids().most_common(1)[0][1] == 1


def test_api_grant_mails_once_and_the_indexer_adds_no_second(
    world: ChainWorld, api: TestClient, store: Store, smtp: SmtpServer
) -> None:
    resident = _resident(world, api, store, email="jiro@example.jp", opted_in=True)
    token = staff_token(store, api, role="municipal-staff", organisation="14130")

    granted = grant(api, token, resident, 1_234)

    hook = ChainNoticeHook(mail_domain=MAIL_DOMAIN, now=SystemClock().now)
    _indexer(world, store, hook).catch_up()
    _indexer(world, store, hook).catch_up()  # a restart finds nothing more to do
    assert _sender(store, smtp).run_once().failed == 0
    mail = _mail_to(smtp, "jiro@example.jp")
    assert len(mail) == 1
    assert "1,234" in mail[0].get_content()
    with store.sessions() as db:
        event = db.scalars(
            select(ChainEvent).where(
                ChainEvent.transaction_hash == granted["transaction_hash"],
                ChainEvent.name == "PointsGranted",
            )
        ).one()
        assert event.mykey_id == resident  # the event was indexed, and still made no notice
    assert _chain_rows(store) == 0


def _event(name: str, args: dict[str, object]) -> ChainEvent:
    return ChainEvent(
        block_number=7,
        log_index=2,
        block_timestamp=0,
        transaction_hash="0x" + "ab" * 32,
        contract="PointLedger",
        name=name,
        mykey_id="HANA2026",
        municipality=TOSHIMA,
        counterparty=None,
        amount=1_500,
        period=None,
        args_json="{}",
    )


@pytest.mark.parametrize(
    ("name", "args", "kind"),
    [
        ("ReservePlaced", {"automatic": False, "expiresAt": 1_800_000_000}, "reserve-placed"),
        ("ReservePlaced", {"automatic": True, "expiresAt": 1_800_000_000}, "reserve-went-home"),
        ("PointsConverted", {"deadline": 1_800_000_000}, "points-converted"),
        ("MykeyRebound", {}, "mykey-id-changed"),
        ("MykeyHomeChanged", {}, "mykey-id-changed"),
        ("MykeyRevokedEvent", {}, "mykey-id-revoked"),
        ("MykeyRegistered", {}, None),  # the registration service notices it
        ("PointsRedeemed", {}, None),  # the resident is at the counter with a receipt
    ],
)
def test_each_event_maps_to_its_notice_with_every_fact_its_text_needs(
    name: str, args: dict[str, object], kind: str | None
) -> None:
    notice = notice_for(_event(name, args), args)
    assert (notice.kind.value if notice else None) == kind
    if notice is not None:
        rendered = render_notice(notice.kind, notice.facts)
        assert "HANA2026" in rendered.body
        japanese, english = rendered.subject.split(" / ")
        assert not japanese.isascii() and english.isascii()
    if notice is not None and "expires_at" in notice.facts:
        assert notice.facts["expires_at"] == "2027-01-15 17:00 (JST)"
        assert "1,500" in render_notice(notice.kind, notice.facts).body


def test_the_running_api_queues_notices_for_grants_made_on_chain(
    world: ChainWorld, api: TestClient, store: Store
) -> None:
    resident = _resident(world, api, store, email="mirai@example.jp", opted_in=True)
    client = LedgerClient(world.w3, world.demo.deployment)
    kawasaki = world.demo.municipalities[MunicipalityCode(KAWASAKI)]
    client.grant(
        kawasaki.mobile_terminal_key,
        resident,
        KAWASAKI,
        40,
        activity=1,
        reference=secrets.token_bytes(32),
    )

    api.app.state.indexer.catch_up()  # type: ignore[attr-defined]  # the app's own indexer

    with store.sessions() as db:
        queued = db.scalars(
            select(OutboxMessage).where(OutboxMessage.recipient == "mirai@example.jp")
        ).all()
    assert [message.kind for message in queued].count("points-granted") == 1
