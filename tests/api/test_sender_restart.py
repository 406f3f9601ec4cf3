"""The notice sender as a real process against a real SMTP server, killed in mid-batch.

The server holds one message unanswered; the test kills the sender process (SIGKILL) while it
waits, then lets the server refuse that message (it was never accepted). A restarted sender
process picks up every notice not yet accepted once the dead one's lease runs out. In the end
the server has accepted every notice exactly once, and the outbox marks every one sent.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from api.settings import ApiSettings
from api.store.database import open_store
from api.store.models import OutboxMessage
from tests.api.conftest import FakeClock
from tests.api.smtp_server import SmtpServer
from tests.api.test_outbox_sender import add_account, enqueue

ROOT = Path(__file__).resolve().parents[2]
NOTICES = 8


def wait_for(condition: Callable[[], bool], what: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def start_sender(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    environment = {
        **os.environ,
        "MYKEY_API_OUTBOX_LEASE_SECONDS": "2",
        "MYKEY_API_MAIL_FROM": "noreply@mykey.test",
    }
    return subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "mykey_cli.py"),
            "api",
            "send-notices",
            "--data-dir",
            str(data_dir),
            "--smtp-host",
            "127.0.0.1",
            "--smtp-port",
            str(port),
            "--poll-seconds",
            "0.05",
        ],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_killed_sender_loses_nothing_and_sends_nothing_twice(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    store = open_store(ApiSettings.for_data_dir(data_dir).database_url)
    add_account(store)
    enqueue(store, FakeClock(int(time.time())), NOTICES)
    server = SmtpServer().start()
    server.handler.hold_at = 4
    first = start_sender(data_dir, server.port)
    second: subprocess.Popen[bytes] | None = None
    try:
        wait_for(server.handler.holding.is_set, "the 4th message to reach the server")
        first.kill()
        first.wait(timeout=10)
        server.handler.release.set()
        assert sum(server.handler.message_ids().values()) == 3
        with store.sessions() as db:
            states = db.scalars(select(OutboxMessage.state).order_by(OutboxMessage.id)).all()
        assert states == ["sent"] * 3 + ["pending"] * (NOTICES - 3)

        second = start_sender(data_dir, server.port)
        wait_for(
            lambda: sum(server.handler.message_ids().values()) >= NOTICES,
            "the restarted sender to deliver the rest",
        )
        second.terminate()
        assert second.wait(timeout=10) == 0, second.stderr.read() if second.stderr else b""
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(timeout=10)
        server.stop()
    with store.sessions() as db:
        rows = db.scalars(select(OutboxMessage)).all()
        assert [row.state for row in rows] == ["sent"] * NOTICES
        expected = {row.message_id for row in rows}
    store.close()
    assert server.handler.message_ids() == {message_id: 1 for message_id in expected}
