"""The staff console: login, one grant, a CSV batch with a result per line, the daily chart,
and the municipality's day-by-day figures (the explorer's numbers, for the staff member's own
municipality only)."""

from __future__ import annotations

import json
import re

import pytest

from api.indexer.follower import CURSOR_NAME
from api.pages.outstanding import daily_figures
from api.store.database import Store
from api.store.models import ChainCursor, ChainEvent
from tests.api.conftest import START
from tests.pages.conftest import STAFF_PASSWORD, PageWorld, add_staff, field_error, register

KAWASAKI = 14130
TOSHIMA = 13116

Row = tuple[str, ...]
"""A table row as printed: its date, then its numbers."""

CSV = (
    "mykey_id,points,activity\n"
    "TANAKA01,200,volunteering\n"
    "NOBODY99,100,volunteering\n"
    "bad,0,dancing\n"
    "TANAKA01,50,health-walk-rally\n"
)


def staff_login(site: PageWorld) -> None:
    add_staff(site.store, "kawasaki.staff", "14130")
    page = site.client.post(
        "/staff/login", data={"login_name": "kawasaki.staff", "password": STAFF_PASSWORD}
    )
    assert page.status_code == 200, page.text
    assert "職員コンソール" in page.text


def cell_text(cell: str) -> str:
    """The visible text of one table cell, tags removed and spaces folded."""
    return " ".join(re.sub(r"<[^>]+>", " ", cell).split())


def rows(html: str) -> list[list[str]]:
    """The result table's body rows as lists of cell texts."""
    table = re.search(r'<table id="batch-results">(.*?)</table>', html, re.S)
    assert table is not None
    body = table.group(1).split("<tbody>")[1]
    return [
        [cell_text(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


def test_console_needs_a_staff_login(site: PageWorld) -> None:
    page = site.client.get("/staff", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/staff/login"
    wrong = site.client.post("/staff/login", data={"login_name": "x.y", "password": "nope"})
    assert wrong.status_code == 401
    assert "ログイン名またはパスワードが正しくありません。" in wrong.text


def test_csv_batch_reports_every_line_and_a_second_upload_grants_nothing_twice(
    site: PageWorld,
) -> None:
    register(site.client, "TANAKA01")
    staff_login(site)
    files = {"csv_file": ("day.csv", CSV.encode("utf-8"), "text/csv")}
    report = site.client.post("/staff/grants/batch", files=files)
    assert report.status_code == 200, report.text
    lines = rows(report.text)
    assert [line[0] for line in lines] == ["2", "3", "4", "5"]
    assert lines[0][4] == "付与しました"
    assert lines[1][4] == "付与できません" and "未登録のマイキーID" in lines[1][5]
    assert lines[2][4] == "付与できません"
    assert "マイキーID候補は8ケタの半角大文字英数字で入力してください。" in lines[2][5]
    assert "ポイント数は1～100,000の半角数字で入力してください。" in lines[2][5]
    assert "活動の種類が正しくありません。" in lines[2][5]
    assert lines[3][4] == "付与しました"
    assert [(g[0], g[2]) for g in site.points.grants] == [("TANAKA01", 200), ("TANAKA01", 50)]
    again = site.client.post("/staff/grants/batch", files=files)
    assert rows(again.text)[0][4] == "付与済み（二重付与なし）"
    assert len(site.points.grants) == 2
    # the chart and its table show the day's 250 points
    assert '<svg class="chart" id="granted-per-day" role="img"' in again.text
    assert "250ポイント" in again.text


def test_shift_jis_csv_is_read_and_a_wrong_header_is_one_clear_error(site: PageWorld) -> None:
    register(site.client, "TANAKA01")
    staff_login(site)
    sjis = "mykey_id,points,activity\nTANAKA01,10,other\n".encode("cp932")
    ok = site.client.post("/staff/grants/batch", files={"csv_file": ("a.csv", sjis, "text/csv")})
    assert rows(ok.text)[0][4] == "付与しました"
    bad = site.client.post(
        "/staff/grants/batch", files={"csv_file": ("b.csv", b"id,pts\nX,1\n", "text/csv")}
    )
    assert bad.status_code == 422
    assert field_error(bad, "csv_file") == (
        "CSVの1行目は「mykey_id,points,activity」にしてください。"
    )


def test_single_grant_errors_then_grant_once_per_form(site: PageWorld) -> None:
    register(site.client, "TANAKA01")
    staff_login(site)
    wrong = site.client.post(
        "/staff/grants", data={"mykey_id": "TANAKA01", "points": "0", "activity": "volunteering"}
    )
    assert field_error(wrong, "points") == "ポイント数は1～100,000の半角数字で入力してください。"
    form = {
        "mykey_id": "tanaka01",
        "points": "300",
        "activity": "volunteering",
        "idempotency_key": "form-1",
    }
    first = site.client.post("/staff/grants", data=form)
    assert "付与しました" in first.text
    second = site.client.post("/staff/grants", data=form)
    assert "付与済み（二重付与なし）" in second.text
    assert len(site.points.grants) == 1


def test_other_roles_see_no_grant_forms(site: PageWorld) -> None:
    add_staff(site.store, "platform.admin", None, role="platform-admin")
    page = site.client.post(
        "/staff/login", data={"login_name": "platform.admin", "password": STAFF_PASSWORD}
    )
    assert "この職員アカウントの役割の画面は準備中です。" in page.text
    assert 'action="/staff/grants"' not in page.text


# --- the municipality's figures: the explorer's numbers, the staff member's own municipality ---

DAY = 86400
JST_MIDNIGHT_OF_START = START - (START + 9 * 3600) % DAY
"""00:00 in Japan on the day of START (2026-09-21), the fake clock's day."""


def add_event(store: Store, name: str, amount: int, at: int, municipality: int = KAWASAKI) -> None:
    """Store one ledger event as the indexer stores it, moving its cursor in the same commit."""
    with store.sessions() as db:
        block = db.query(ChainEvent).count() + 1
        db.add(
            ChainEvent(
                block_number=block,
                log_index=0,
                block_timestamp=at,
                transaction_hash="0x" + f"{block:064x}",
                contract="PointLedger",
                name=name,
                mykey_id="TANAKA01",
                municipality=municipality,
                counterparty=None,
                amount=amount,
                period=None,
                args_json=json.dumps({"amount": amount, "municipality": municipality}),
            )
        )
        db.merge(ChainCursor(name=CURSOR_NAME, next_block=block + 1, updated_at=START))
        db.commit()


def fill_a_month(store: Store) -> None:
    """Events of both municipalities over the 30 days up to START's day, and one before them."""
    first_of_30 = JST_MIDNIGHT_OF_START - 29 * DAY
    add_event(store, "PointsGranted", 1000, first_of_30 - 1)  # before any window
    add_event(store, "PointsGranted", 300, first_of_30 + 2 * DAY)  # in 30 days, not in 14
    add_event(store, "PointsRedeemed", 120, first_of_30 + 10 * DAY)
    add_event(store, "PointsGranted", 200, JST_MIDNIGHT_OF_START - 13 * DAY)  # 14 days' first
    add_event(store, "PointsRedeemed", 50, JST_MIDNIGHT_OF_START - 8 * DAY)
    add_event(store, "VoucherIssued", 30, JST_MIDNIGHT_OF_START - 8 * DAY)
    add_event(store, "ReservePlaced", 70, JST_MIDNIGHT_OF_START - 7 * DAY)
    add_event(store, "PointsExpired", 10, JST_MIDNIGHT_OF_START - 7 * DAY)
    add_event(store, "PointsGranted", 400, JST_MIDNIGHT_OF_START - 1)  # last second of a day
    add_event(store, "PointsRedeemed", 25, START)
    add_event(store, "PointsGranted", 5000, START - DAY, municipality=TOSHIMA)
    add_event(store, "PointsRedeemed", 4321, START, municipality=TOSHIMA)


def log_in_as(site: PageWorld, login_name: str, organisation: str, role: str) -> None:
    add_staff(site.store, login_name, organisation, role=role)
    page = site.client.post(
        "/staff/login", data={"login_name": login_name, "password": STAFF_PASSWORD}
    )
    assert page.status_code == 200, page.text


def table_rows(html: str, table_id: str) -> list[Row]:
    """The (date, number, number) rows of one of the figures' tables, numbers as printed."""
    table = re.search(rf'<table id="{table_id}">(.*?)</table>', html, re.S)
    assert table is not None, f"no table {table_id}"
    return [
        (row[0], *(cell_text(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row[1])))
        for row in re.findall(r'<tr><th scope="row">([0-9-]+)</th>(.*?)</tr>', table.group(1))
    ]


def expected_rows(site: PageWorld, municipality: int, days: int) -> tuple[list[Row], list[Row]]:
    """The two tables as `daily_figures` (the explorer's source) says they must read."""
    with site.store.sessions() as db:
        figures = daily_figures(db=db, municipality=municipality, now=site.clock.now(), days=days)
    movement: list[Row] = [(day.day, f"{day.granted:,}", f"{day.redeemed:,}") for day in figures]
    outstanding: list[Row] = [
        (day.day, f"{day.other_change:+,}" if day.other_change else "0", f"{day.outstanding:,}")
        for day in figures
    ]
    return movement, outstanding


@pytest.mark.parametrize("days", [14, 30])
def test_the_console_prints_the_explorers_figures_for_its_municipality(
    site: PageWorld, days: int
) -> None:
    fill_a_month(site.store)
    log_in_as(site, "kawasaki.staff", "14130", "municipal-staff")
    page = site.client.get("/staff", params={"days": str(days)})
    assert page.status_code == 200
    movement, outstanding = expected_rows(site, KAWASAKI, days)
    assert len(movement) == days
    assert table_rows(page.text, "granted-redeemed-table") == movement
    assert table_rows(page.text, "outstanding-table") == outstanding
    # the window decides what is in it: 300 granted 27 days ago is only in the 30-day view
    assert ("300" in [row[1] for row in movement]) is (days == 30)
    assert movement[-1] == ("2026-09-21", "0", "25")
    assert outstanding[-1][2] == "1,735"  # the same running total whichever window is shown
    # each chart is an image with a title and a description, and its numbers in a <details>
    for chart_id in ("staff-granted-redeemed", "staff-outstanding"):
        assert f'aria-labelledby="{chart_id}-title {chart_id}-desc"' in page.text
    assert '<details id="granted-redeemed-numbers">' in page.text
    assert '<details id="outstanding-numbers">' in page.text
    assert f'<option value="{days}" selected>直近{days}日</option>' in page.text
    assert "ブロック 12 までの台帳のできごとから作っています。" in page.text  # 12 events stored
    assert "<script" not in page.text.split('<main id="main"')[1]


def test_the_outstanding_chart_ends_at_the_ledgers_running_total(site: PageWorld) -> None:
    fill_a_month(site.store)
    log_in_as(site, "kawasaki.staff", "14130", "municipal-staff")
    page = site.client.get("/staff")
    desc = re.search(r'<desc id="staff-outstanding-desc">(.*?)</desc>', page.text)
    assert desc is not None
    # 1000 + 300 - 120 before the 14 days, then 200, -50 - 30, +70 - 10, +400, -25
    assert desc.group(1).startswith("09-08: 1,380ポイント")
    assert desc.group(1).endswith("09-21: 1,735ポイント")
    movement = re.search(r'<desc id="staff-granted-redeemed-desc">(.*?)</desc>', page.text)
    assert movement is not None and "09-20: 付与 400ポイント、利用 0ポイント" in movement.group(1)


def test_a_toshima_treasurer_sees_toshima_and_never_kawasaki(site: PageWorld) -> None:
    fill_a_month(site.store)
    log_in_as(site, "toshima.treasurer", "13116", "treasurer")
    page = site.client.get("/staff", params={"days": "30", "municipality": "14130"})
    assert page.status_code == 200
    assert "ポイントの推移（豊島区）" in page.text
    movement, outstanding = expected_rows(site, TOSHIMA, 30)
    assert table_rows(page.text, "granted-redeemed-table") == movement
    assert table_rows(page.text, "outstanding-table") == outstanding
    assert movement[-2:] == [("2026-09-20", "5,000", "0"), ("2026-09-21", "0", "4,321")]
    shown = " ".join(value for row in movement + outstanding for value in row[1:])
    for kawasaki_only in ("1,000", "300", "120", "200", "400", "1,475", "1,735"):
        assert kawasaki_only not in shown
    assert "川崎市" not in page.text.split('id="municipality-figures"')[1]
    assert 'action="/staff/grants"' not in page.text  # a treasurer does not grant


def test_english_switch_and_an_unknown_period_falls_back_to_14_days(site: PageWorld) -> None:
    fill_a_month(site.store)
    log_in_as(site, "kawasaki.staff", "14130", "municipal-staff")
    page = site.client.get("/staff", params={"days": "9999", "lang": "en"})
    assert page.status_code == 200
    assert "Points over time (Kawasaki City)" in page.text
    assert "Kawasaki City: points granted and redeemed per day (last 14 days)" in page.text
    assert "Show outstanding points as a table" in page.text
    assert "from ledger events recorded up to block 12." in page.text
    assert len(table_rows(page.text, "granted-redeemed-table")) == 14
    assert '<option value="14" selected>Last 14 days</option>' in page.text


def test_thirty_days_label_the_axis_with_the_day_of_the_month(site: PageWorld) -> None:
    fill_a_month(site.store)
    log_in_as(site, "kawasaki.staff", "14130", "municipal-staff")
    page = site.client.get("/staff", params={"days": "30"})
    chart = re.search(r'<svg class="chart" id="staff-outstanding".*?</svg>', page.text, re.S)
    assert chart is not None
    labels = re.findall(r'text-anchor="middle">([^<]*)</text>', chart.group(0))
    assert labels[0] == "23" and labels[-1] == "21" and len(labels) == 30  # 08-23 .. 09-21


def test_without_indexed_events_the_console_says_so_instead_of_drawing(site: PageWorld) -> None:
    add_event(site.store, "PointsGranted", 5000, START, municipality=TOSHIMA)
    log_in_as(site, "kawasaki.staff", "14130", "municipal-staff")
    page = site.client.get("/staff")
    assert 'id="no-figures"' in page.text
    assert "staff-outstanding" not in page.text and "staff-granted-redeemed" not in page.text
