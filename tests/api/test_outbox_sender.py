"""The outbox and its sender against a real local SMTP server (aiosmtpd), with a fake clock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from api.notices.outbox import OutboxState, enqueue_notice
from api.notices.render import NoticeKind
from api.notices.sender import OutboxSender, SmtpTarget
from api.settings import ApiSettings
from api.store.database import Store, open_store
from api.store.models import Account, OutboxMessage
from tests.api.conftest import FakeClock
from tests.api.smtp_server import SmtpServer, free_port


@pytest.fixture
def outbox_store(settings: ApiSettings) -> Iterator[Store]:
    store = open_store(settings.database_url)
    yield store
    store.close()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


def add_account(store: Store, *, email: str | None = "resident@example.jp") -> int:
    with store.sessions() as db:
        account = Account(
            mykey_id="TANAKA01",
            certificate_fingerprint="f" * 64,
            certificate_not_after=0,
            password_hash="x",
            email=email,
            notify_points_granted=True,
            notify_points_expired=False,
            notify_password_changed=True,
            notify_mykey_id_changes=True,
            home_prefecture="14",
            home_municipality="14130",
            failed_login_count=0,
            locked_until=None,
            created_at=0,
            password_changed_at=0,
        )
        db.add(account)
        db.commit()
        return account.id


def enqueue(
    store: Store, clock: FakeClock, count: int, kind: NoticeKind = NoticeKind.POINTS_GRANTED
) -> None:
    with store.sessions() as db:
        account = db.scalars(select(Account)).one()
        for number in range(count):
            enqueue_notice(
                db=db,
                account=account,
                kind=kind,
                idempotency_key=f"grant:{number}",
                facts={"mykey_id": account.mykey_id, "municipality": "川崎市", "points": "200"},
                now=clock.now(),
                mail_domain="mykey.test",
            )
        db.commit()


def sender(store: Store, clock: FakeClock, port: int, owner: str = "test") -> OutboxSender:
    return OutboxSender(
        sessions=store.sessions,
        target=SmtpTarget(host="127.0.0.1", port=port, mail_from="noreply@mykey.test"),
        clock=clock,
        owner=owner,
        lease_seconds=60,
        max_attempts=3,
    )


def states(store: Store) -> list[str]:
    with store.sessions() as db:
        return list(db.scalars(select(OutboxMessage.state).order_by(OutboxMessage.id)).all())


def test_each_notice_is_sent_once_with_its_message_id(
    outbox_store: Store, clock: FakeClock, smtp: SmtpServer
) -> None:
    add_account(outbox_store)
    enqueue(outbox_store, clock, 5)
    report = sender(outbox_store, clock, smtp.port).run_once()
    assert (report.claimed, report.sent) == (5, 5)
    assert sender(outbox_store, clock, smtp.port).run_once().claimed == 0
    with outbox_store.sessions() as db:
        expected = set(db.scalars(select(OutboxMessage.message_id)).all())
    assert smtp.handler.message_ids() == {message_id: 1 for message_id in expected}
    message = smtp.handler.accepted[0]
    assert message["To"] == "resident@example.jp"
    assert str(message["Subject"]).startswith("自治体ポイントが付与されました")
    assert "TANAKA01" in message.get_content()
    assert states(outbox_store) == [OutboxState.SENT] * 5


def test_enqueuing_the_same_event_twice_makes_one_notice(
    outbox_store: Store, clock: FakeClock
) -> None:
    add_account(outbox_store)
    enqueue(outbox_store, clock, 2)
    enqueue(outbox_store, clock, 2)
    assert len(states(outbox_store)) == 2


def test_unwanted_kinds_and_missing_addresses_are_not_queued(
    outbox_store: Store, clock: FakeClock
) -> None:
    add_account(outbox_store)
    enqueue(outbox_store, clock, 1, kind=NoticeKind.POINTS_EXPIRED)
    assert states(outbox_store) == []


def test_server_down_keeps_notices_until_it_is_back(outbox_store: Store, clock: FakeClock) -> None:
    add_account(outbox_store)
    enqueue(outbox_store, clock, 3)
    port = free_port()
    down = sender(outbox_store, clock, port).run_once()
    assert (down.claimed, down.retrying, down.sent) == (3, 3, 0)
    assert states(outbox_store) == [OutboxState.PENDING] * 3
    assert sender(outbox_store, clock, port).run_once().claimed == 0  # backing off
    server = SmtpServer(port).start()
    try:
        clock.advance(5)
        back = sender(outbox_store, clock, port).run_once()
        assert back.sent == 3
        assert sum(server.handler.message_ids().values()) == 3
    finally:
        server.stop()


def test_temporary_refusal_retries_and_permanent_refusal_fails(
    outbox_store: Store, clock: FakeClock, smtp: SmtpServer
) -> None:
    add_account(outbox_store)
    enqueue(outbox_store, clock, 2)
    smtp.handler.replies = ["451 4.3.2 try later", "550 5.1.1 no such user"]
    first = sender(outbox_store, clock, smtp.port).run_once()
    assert (first.retrying, first.failed, first.sent) == (1, 1, 0)
    with outbox_store.sessions() as db:
        failed = db.scalars(select(OutboxMessage).where(OutboxMessage.state == "failed")).one()
        assert failed.last_error is not None and "550" in failed.last_error
    clock.advance(5)
    assert sender(outbox_store, clock, smtp.port).run_once().sent == 1
    assert states(outbox_store) == [OutboxState.SENT, OutboxState.FAILED]


def test_gives_up_after_max_attempts(outbox_store: Store, clock: FakeClock) -> None:
    add_account(outbox_store)
    enqueue(outbox_store, clock, 1)
    port = free_port()
    for _ in range(3):
        sender(outbox_store, clock, port).run_once()
        clock.advance(3600)
    assert states(outbox_store) == [OutboxState.FAILED]


def test_two_senders_never_hold_the_same_notice(
    outbox_store: Store, clock: FakeClock, smtp: SmtpServer
) -> None:
    add_account(outbox_store)
    enqueue(outbox_store, clock, 4)
    first, second = (
        sender(outbox_store, clock, smtp.port, "a"),
        sender(outbox_store, clock, smtp.port, "b"),
    )
    assert len(first.claim()) == 4
    assert second.claim() == []
    clock.advance(61)  # first died holding the lease: it runs out, second takes over
    assert second.run_once().sent == 4
    assert first.run_once().claimed == 0
    assert sum(smtp.handler.message_ids().values()) == 4


def test_a_crash_after_acceptance_repeats_the_same_message_id(
    outbox_store: Store, clock: FakeClock, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one window no sender can close (server said 250, we died before recording it):
    the repeat carries the same Message-ID, so the receiving side can drop it."""
    add_account(outbox_store)
    enqueue(outbox_store, clock, 1)
    crashing = sender(outbox_store, clock, smtp.port, "crashing")

    def die(row_id: int) -> None:
        raise SystemExit("killed between 250 and the commit")

    monkeypatch.setattr(crashing, "_mark_sent", die)
    with pytest.raises(SystemExit):
        crashing.run_once()
    clock.advance(61)
    assert sender(outbox_store, clock, smtp.port, "restarted").run_once().sent == 1
    assert list(smtp.handler.message_ids().values()) == [2]
    assert states(outbox_store) == [OutboxState.SENT]
