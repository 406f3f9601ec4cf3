"""The keepers on a real node (LevelDB, sub-second blocks) with the demo consortium.

The module moves the block clock forward (14 days for reserves, then past the 365-day validity),
so it runs on a dev node of its OWN (`running_world`), never the session node others share.
The tests run in file order on that one chain: reserves first, then expiry, then the command
line and the in-process thread.

Proved here: a reserve past its deadline is recorded by one keeper pass (ReservePlaced with
automatic=true indexed, one "reserve went home" e-mail queued, `totalsOf.converted` up by its
amount); an expired grant is recorded (PointsExpired indexed, one "points expired" e-mail queued,
`totalsOf.expired` up by exactly the indexed expired amounts); a second pass adds nothing; after
each pass the explorer's outstanding figure (totalsOf) equals the sum of spendable balances again;
`mykey api keep --once` and the app's keeper thread run the same passes.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.app import create_app
from api.chain.demo import write_demo_chain
from api.chain.side import ChainSide, build_chain_side
from api.cli import main as api_main
from api.clock import SystemClock
from api.identifiers import MunicipalityCode, MykeyId
from api.indexer.follower import ChainIndexer, events_named
from api.keepers.ports import Web3KeeperLedger
from api.keepers.runner import KeeperRunner, PassReport
from api.pages.outstanding import LedgerTotals
from api.ports import Points
from api.settings import ApiSettings
from api.store.database import Store, open_store
from api.store.models import Account, ChainEvent, OutboxMessage
from contracts.client import LedgerClient
from tests.api_chain.conftest import (
    FAST_HASHING,
    KAWASAKI,
    TOSHIMA,
    ChainWorld,
    random_mykey_id,
    running_world,
    staff_token,
)

DAY = 86_400
RESERVE_PERIOD = 14 * DAY
VALIDITY = 365 * DAY
CREDIT_EVENTS = ("PointsGranted", "ReservePlaced", "PointsRefunded")


class DevClockRefused(RuntimeError):
    """The node refused an evm_ request (is it a dev node with clock control?)."""


@dataclass
class Keeping:
    """This module's node, API, store and keeper runner."""

    world: ChainWorld
    side: ChainSide
    api: TestClient
    store: Store
    settings: ApiSettings
    runner: KeeperRunner
    client: LedgerClient

    def move_block_time(self, seconds: int) -> None:
        for method, params in (("evm_increaseTime", [seconds]), ("evm_mine", [])):
            answer = self.world.w3.provider.make_request(method, params)  # type: ignore[arg-type]
            if "error" in answer:
                raise DevClockRefused(f"{method} failed: {answer['error']}")

    def resident(self, home: int = KAWASAKI) -> str:
        """A MyKey ID registered on-chain, with an account that wants every notice by e-mail."""
        mykey_id = random_mykey_id()
        self.side.ledger.register_mykey_id(
            mykey_id=MykeyId(mykey_id), home_municipality=MunicipalityCode(str(home))
        )
        now = SystemClock().now()
        with self.store.sessions() as db, db.begin():
            db.add(
                Account(
                    mykey_id=mykey_id,
                    certificate_fingerprint=secrets.token_hex(32),
                    certificate_not_after=now + VALIDITY,
                    password_hash="not used by these tests",
                    email=f"{mykey_id.lower()}@example.test",
                    notify_points_granted=True,
                    notify_points_expired=True,
                    notify_password_changed=True,
                    notify_mykey_id_changes=True,
                    home_prefecture=str(home)[:2],
                    home_municipality=str(home),
                    failed_login_count=0,
                    locked_until=None,
                    created_at=now,
                    password_changed_at=now,
                )
            )
        return mykey_id

    def grant(self, mykey_id: str, municipality: int, points: int, reference: bytes) -> None:
        """Grant through the municipality's granting terminal (regular account, final)."""
        self.side.ledger.grant_points(
            mykey_id=MykeyId(mykey_id),
            municipality=MunicipalityCode(str(municipality)),
            points=Points(points),
            activity="volunteering",
            reference=reference,
        )

    def notices(self, mykey_id: str, kind: str) -> int:
        with self.store.sessions() as db:
            return int(
                db.scalar(
                    select(func.count(OutboxMessage.id)).where(
                        OutboxMessage.recipient == f"{mykey_id.lower()}@example.test",
                        OutboxMessage.kind == kind,
                    )
                )
                or 0
            )

    def indexed(self, name: str, mykey_id: str | None = None) -> list[ChainEvent]:
        with self.store.sessions() as db:
            events = events_named(db, name)
        return [e for e in events if mykey_id is None or e.mykey_id == mykey_id]

    def totals(self, municipality: int) -> LedgerTotals:
        raw = self.client.totals_of(municipality)
        return LedgerTotals(
            granted=raw["granted"],
            converted=raw["converted"],
            redeemed=raw["redeemed"],
            refunded=raw["refunded"],
            vouchered=raw["vouchered"],
            expired=raw["expired"],
            vouchers_redeemed=raw["vouchersRedeemed"],
        )

    def sum_of_balances(self, municipality: int) -> int:
        """Spendable points of every account the index knows at `municipality`."""
        accounts: set[tuple[str, int]] = set()
        for name in (*CREDIT_EVENTS, "PointsConverted"):
            for event in self.indexed(name):
                if event.mykey_id is None:
                    continue
                args: dict[str, Any] = json.loads(event.args_json)
                # A pending reserve counts at home (regular account) once its deadline passed.
                accounts.add((event.mykey_id, int(args.get("account", 0))))
        return sum(
            self.client.balance_of(mykey_id, municipality, account)
            for mykey_id, account in accounts
        )

    def run(self) -> PassReport:
        report = self.runner.run_once()
        assert report.held_elsewhere == []
        assert [run.error for run in report.runs] == [None, None], report
        return report


@pytest.fixture(scope="module")
def keeper_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainWorld]:
    with running_world(tmp_path_factory, block_period=0.1) as own:
        yield own


@pytest.fixture(scope="module")
def keeping(
    keeper_world: ChainWorld, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Keeping]:
    settings = ApiSettings.for_data_dir(
        tmp_path_factory.mktemp("keepers-api") / "data",
        password_hashing=FAST_HASHING,
        mail_from="noreply@mykey.test",
        follow_chain=False,
    )
    side = build_chain_side(keeper_world.config, keeper_world.keys, SystemClock())
    app = create_app(settings, chain=side)
    with TestClient(app, raise_server_exceptions=False) as api:
        store = open_store(settings.database_url)
        indexer: ChainIndexer = app.state.indexer
        runner = KeeperRunner(
            Web3KeeperLedger(side.ledger), store, SystemClock(), owner="test", indexer=indexer
        )
        try:
            yield Keeping(
                keeper_world,
                side,
                api,
                store,
                settings,
                runner,
                LedgerClient(keeper_world.w3, keeper_world.config.deployment),
            )
        finally:
            store.close()


def test_a_reserve_past_its_deadline_is_recorded_and_noticed_once(keeping: Keeping) -> None:
    resident = keeping.resident()
    partner = keeping.world.demo.partner.partner_id
    converted = keeping.side.ledger.convert(partner, resident, 700, b"keeper reserve")
    reserve_id = int(converted.event("PointsConverted").args["reserveId"])
    keeping.run()  # index what exists; the reserve is not due yet
    assert keeping.indexed("ReservePlaced", resident) == []
    converted_before = keeping.totals(KAWASAKI).converted
    placed_before = len(keeping.indexed("ReservePlaced"))

    keeping.move_block_time(RESERVE_PERIOD + 1)
    assert keeping.side.ledger.balance_of(resident, KAWASAKI) == 700  # home at once, lazily
    assert keeping.totals(KAWASAKI).outstanding != keeping.sum_of_balances(KAWASAKI)
    first = keeping.run()
    second = keeping.run()

    placed = keeping.indexed("ReservePlaced", resident)
    assert len(placed) == 1
    assert json.loads(placed[0].args_json)["automatic"] is True
    assert keeping.side.ledger.reserve(reserve_id).state == 3  # gone home, recorded
    assert keeping.notices(resident, "reserve-went-home") == 1
    # The demo's own waiting reserve (DEMOC003, also Kawasaki) goes home in the same pass.
    assert first.runs[0].swept >= 1
    new_placed = keeping.indexed("ReservePlaced")[placed_before:]
    homed = sum(e.amount or 0 for e in new_placed if e.municipality == KAWASAKI)
    assert keeping.totals(KAWASAKI).converted - converted_before == homed
    assert homed >= 700
    assert second.runs[0].swept == 0
    assert second.runs[0].transactions == 0
    assert keeping.totals(KAWASAKI).outstanding == keeping.sum_of_balances(KAWASAKI)


def test_expired_points_are_recorded_noticed_once_and_counted_in_the_totals(
    keeping: Keeping,
) -> None:
    resident = keeping.resident()
    keeping.grant(resident, KAWASAKI, 300, b"keeper expiry")
    keeping.run()
    expired_before = {m: keeping.totals(m).expired for m in (KAWASAKI, TOSHIMA)}
    indexed_before = len(keeping.indexed("PointsExpired"))

    keeping.move_block_time(VALIDITY + 2 * DAY)
    assert keeping.side.ledger.balance_of(resident, KAWASAKI) == 0  # expired at once, lazily
    fresh = keeping.resident()
    keeping.grant(fresh, KAWASAKI, 50, b"keeper fresh grant")
    assert keeping.totals(KAWASAKI).outstanding != keeping.sum_of_balances(KAWASAKI)
    first = keeping.run()
    second = keeping.run()

    mine = keeping.indexed("PointsExpired", resident)
    assert [event.amount for event in mine] == [300]
    assert keeping.notices(resident, "points-expired") == 1
    new_expired = keeping.indexed("PointsExpired")[indexed_before:]
    for municipality in (KAWASAKI, TOSHIMA):
        recorded = sum(e.amount or 0 for e in new_expired if e.municipality == municipality)
        rise = keeping.totals(municipality).expired - expired_before[municipality]
        assert rise == recorded
        assert keeping.totals(municipality).outstanding == keeping.sum_of_balances(municipality)
    assert keeping.sum_of_balances(KAWASAKI) == 50  # only the fresh grant is left
    assert first.runs[1].expired_points >= 300
    assert (second.runs[1].swept, second.runs[1].transactions) == (0, 0)
    assert len(keeping.indexed("PointsExpired")) == indexed_before + len(new_expired)


def test_the_operator_page_shows_the_last_runs(keeping: Keeping) -> None:
    operator = staff_token(keeping.store, keeping.api, role="node-operator", organisation=None)
    staff = staff_token(keeping.store, keeping.api, role="municipal-staff", organisation="14130")

    shown = keeping.api.get("/operator/keepers", headers={"Authorization": f"Bearer {operator}"})
    refused = keeping.api.get("/operator/keepers", headers={"Authorization": f"Bearer {staff}"})

    assert shown.status_code == 200, shown.text
    assert refused.status_code == 403
    keepers = {item["name"]: item for item in shown.json()["keepers"]}
    assert set(keepers) == {"reserves", "expiry"}
    assert keepers["expiry"]["last_error"] is None
    assert keepers["expiry"]["holder"] == "test"
    assert keepers["reserves"]["last_finished_at"] is not None


def test_the_keep_command_runs_one_pass_against_the_configured_chain(
    keeping: Keeping,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config_file, keystore, password_file = write_demo_chain(
        tmp_path / "chain", keeping.world.node.http_url, keeping.world.demo
    )
    monkeypatch.setenv("MYKEY_API_DATABASE_URL", keeping.settings.database_url)
    monkeypatch.setenv("MYKEY_API_CHAIN_CONFIG", str(config_file))
    monkeypatch.setenv("MYKEY_API_KEYSTORE_DIR", str(keystore))
    monkeypatch.setenv("MYKEY_API_KEYSTORE_PASSWORD_FILE", str(password_file))
    resident = keeping.resident()
    keeping.grant(resident, TOSHIMA, 40, b"keeper command")
    keeping.move_block_time(VALIDITY + 2 * DAY)
    expired_before = len(keeping.indexed("PointsExpired"))

    code = api_main(["keep", "--data-dir", str(tmp_path / "data"), "--once"])

    out = capsys.readouterr().out
    assert code == 0, out
    new_expired = keeping.indexed("PointsExpired")[expired_before:]
    swept = len({(e.mykey_id, e.municipality) for e in new_expired})
    points = sum(e.amount or 0 for e in new_expired)
    assert f"expiry: swept {swept} expired_points {points} refused 0 backlog 0" in out
    assert [e.amount for e in keeping.indexed("PointsExpired", resident)] == [40]
    assert keeping.notices(resident, "points-expired") == 1


def test_the_keep_command_without_a_chain_says_what_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MYKEY_API_CHAIN_CONFIG", raising=False)

    code = api_main(["keep", "--data-dir", str(tmp_path / "data"), "--once"])

    assert code == 1
    assert "MYKEY_API_CHAIN_CONFIG" in capsys.readouterr().err


def test_the_app_runs_the_keepers_in_a_thread_when_asked(keeping: Keeping, tmp_path: Path) -> None:
    settings = ApiSettings.for_data_dir(
        tmp_path / "data",
        password_hashing=FAST_HASHING,
        follow_chain=False,
        run_keepers=True,
        keeper_interval_seconds=0.2,
    )
    side = build_chain_side(keeping.world.config, keeping.world.keys, SystemClock())
    with TestClient(create_app(settings, chain=side), raise_server_exceptions=False) as api:
        store = open_store(settings.database_url)
        try:
            operator = staff_token(store, api, role="node-operator", organisation=None)
            deadline = time.monotonic() + 60
            body: dict[str, Any] = {}
            while time.monotonic() < deadline:
                body = api.get(
                    "/operator/keepers", headers={"Authorization": f"Bearer {operator}"}
                ).json()
                names = {item["name"] for item in body["keepers"] if item["last_finished_at"]}
                if names == {"reserves", "expiry"}:
                    break
                time.sleep(0.2)
        finally:
            store.close()
    assert body["runs_in_this_process"] is True
    assert {item["name"] for item in body["keepers"]} == {"reserves", "expiry"}
    assert all(item["last_error"] is None for item in body["keepers"])
