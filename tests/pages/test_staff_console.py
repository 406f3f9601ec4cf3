"""The staff console: login, one grant, a CSV batch with a result per line, the daily chart."""

from __future__ import annotations

import re

from tests.pages.conftest import STAFF_PASSWORD, PageWorld, add_staff, field_error, register

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
