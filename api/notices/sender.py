"""The outbox sender: claims due notices with a lease, sends them over SMTP, marks them sent.

Invariants:
- A notice is never lost: a row leaves `pending` only when the SMTP server accepted it (`sent`)
  or refused it permanently / too often (`failed`, with the reason kept). A sender that dies
  holding a lease simply lets it run out; another sender (or the same one, restarted) takes the
  row again.
- A notice is sent at most once per lease: claiming is one conditional UPDATE (`state` pending
  and no live lease), so two senders, or two threads, never hold the same row at once. Each row is
  marked sent in its own commit right after the server's 250 reply, so a crash repeats at most the
  one notice in flight, and that repeat carries the same Message-ID (fixed at enqueue time).
- Transient failures (server down, 4xx replies) back off exponentially per row; the row stays
  `pending` so a restart of the server or of the sender loses nothing.
"""

from __future__ import annotations

import smtplib
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from api.clock import Clock
from api.notices.outbox import OutboxState
from api.store.models import OutboxMessage

SMTP_TIMEOUT_SECONDS = 10
BACKOFF_BASE_SECONDS = 5
BACKOFF_MAX_SECONDS = 15 * 60


@dataclass(frozen=True)
class SmtpTarget:
    """Where and as whom to send."""

    host: str
    port: int
    mail_from: str
    username: str | None = None
    password: str | None = None


@dataclass(frozen=True)
class SendReport:
    """What one pass of the sender did."""

    claimed: int
    sent: int
    retrying: int
    failed: int


def backoff_seconds(attempts: int) -> int:
    """Return the wait before retry number `attempts + 1`: 5 s doubling, at most 15 min."""
    return int(min(BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0), BACKOFF_MAX_SECONDS))


def build_email(row: OutboxMessage, mail_from: str, now: int) -> EmailMessage:
    """Return the RFC 5322 message for an outbox row, with its fixed Message-ID."""
    message = EmailMessage()
    message["From"] = mail_from
    message["To"] = row.recipient
    message["Subject"] = row.subject
    message["Message-ID"] = row.message_id
    message["Date"] = formatdate(now, usegmt=True)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(row.body, charset="utf-8")
    return message


class OutboxSender:
    """Sends due outbox rows. One instance per process; `owner` names it in the leases."""

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        target: SmtpTarget,
        clock: Clock,
        owner: str,
        lease_seconds: int = 60,
        max_attempts: int = 20,
        batch_size: int = 50,
    ) -> None:
        self._sessions = sessions
        self._target = target
        self._clock = clock
        self._owner = owner
        self._lease_seconds = lease_seconds
        self._max_attempts = max_attempts
        self._batch_size = batch_size

    def claim(self) -> list[int]:
        """Lease up to `batch_size` due rows to this sender; return their ids, oldest first."""
        now = self._clock.now()
        claimable = and_(
            OutboxMessage.state == OutboxState.PENDING,
            OutboxMessage.next_attempt_at <= now,
            or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until < now),
        )
        claimed: list[int] = []
        with self._sessions() as db:
            candidates = db.scalars(
                select(OutboxMessage.id)
                .where(claimable)
                .order_by(OutboxMessage.id)
                .limit(self._batch_size)
            ).all()
            for row_id in candidates:
                result = db.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id == row_id, claimable)
                    .values(
                        lease_owner=self._owner,
                        lease_until=now + self._lease_seconds,
                        attempts=OutboxMessage.attempts + 1,
                    )
                )
                db.commit()
                if result.rowcount == 1:  # type: ignore[attr-defined]
                    claimed.append(row_id)
        return claimed

    def run_once(self) -> SendReport:
        """Claim due rows and try to send each; return what happened."""
        claimed = self.claim()
        if not claimed:
            return SendReport(0, 0, 0, 0)
        sent = retrying = failed = 0
        try:
            connection = self._connect()
        except (OSError, smtplib.SMTPException) as error:
            for row_id in claimed:
                if self._release_for_retry(row_id, f"cannot reach SMTP server: {error}"):
                    retrying += 1
                else:
                    failed += 1
            return SendReport(len(claimed), 0, retrying, failed)
        try:
            for row_id in claimed:
                outcome = self._send_one(connection, row_id)
                sent += outcome == OutboxState.SENT
                failed += outcome == OutboxState.FAILED
                retrying += outcome == OutboxState.PENDING
        finally:
            try:
                connection.quit()
            except (OSError, smtplib.SMTPException):
                connection.close()
        return SendReport(len(claimed), sent, retrying, failed)

    def run_forever(self, stop: threading.Event, poll_seconds: float = 1.0) -> None:
        """Send until `stop` is set, waiting `poll_seconds` whenever nothing was due."""
        while not stop.is_set():
            report = self.run_once()
            if report.claimed == 0:
                stop.wait(poll_seconds)

    def _connect(self) -> smtplib.SMTP:
        connection = smtplib.SMTP(
            self._target.host, self._target.port, timeout=SMTP_TIMEOUT_SECONDS
        )
        if self._target.username is not None and self._target.password is not None:
            connection.starttls()
            connection.login(self._target.username, self._target.password)
        return connection

    def _send_one(self, connection: smtplib.SMTP, row_id: int) -> str:
        """Send one leased row; return the state it is left in."""
        with self._sessions() as db:
            row = db.get(OutboxMessage, row_id)
            if (
                row is None
                or row.lease_owner != self._owner
                or row.state != OutboxState.PENDING
                or row.lease_until is None
                or row.lease_until <= self._clock.now()
            ):
                # someone else's now, or our lease ran out while earlier rows were slow: another
                # sender may hold it, so sending it here could send it twice
                return OutboxState.PENDING
            message = build_email(row, self._target.mail_from, self._clock.now())
        try:
            refused = connection.send_message(message)
        except smtplib.SMTPRecipientsRefused as error:
            return self._settle(row_id, f"recipient refused: {error.recipients!r}", permanent=True)
        except smtplib.SMTPResponseException as error:
            reason = f"SMTP {error.smtp_code}: {error.smtp_error!r}"
            return self._settle(row_id, reason, permanent=error.smtp_code >= 500)
        except (OSError, smtplib.SMTPException) as error:
            return self._settle(row_id, f"SMTP connection failed: {error}", permanent=False)
        if refused:
            return self._settle(row_id, f"recipient refused: {refused!r}", permanent=True)
        self._mark_sent(row_id)
        return OutboxState.SENT

    def _settle(self, row_id: int, reason: str, *, permanent: bool) -> str:
        """Record a failed attempt; return the state the row is left in."""
        if permanent:
            self._mark_failed(row_id, reason)
            return OutboxState.FAILED
        if self._release_for_retry(row_id, reason):
            return OutboxState.PENDING
        return OutboxState.FAILED

    def _mark_sent(self, row_id: int) -> None:
        with self._sessions() as db:
            db.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row_id, OutboxMessage.lease_owner == self._owner)
                .values(
                    state=OutboxState.SENT,
                    sent_at=self._clock.now(),
                    lease_owner=None,
                    lease_until=None,
                    last_error=None,
                )
            )
            db.commit()

    def _mark_failed(self, row_id: int, reason: str) -> None:
        with self._sessions() as db:
            db.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row_id, OutboxMessage.lease_owner == self._owner)
                .values(
                    state=OutboxState.FAILED, lease_owner=None, lease_until=None, last_error=reason
                )
            )
            db.commit()

    def _release_for_retry(self, row_id: int, reason: str) -> bool:
        """Give the row back for a later attempt; return False when attempts are used up."""
        with self._sessions() as db:
            row = db.get(OutboxMessage, row_id)
            if row is None or row.lease_owner != self._owner:
                return True
            if row.attempts >= self._max_attempts:
                row.state = OutboxState.FAILED
                row.last_error = f"gave up after {row.attempts} attempts; last: {reason}"
                kept = False
            else:
                row.next_attempt_at = self._clock.now() + backoff_seconds(row.attempts)
                row.last_error = reason
                kept = True
            row.lease_owner = None
            row.lease_until = None
            db.commit()
            return kept
