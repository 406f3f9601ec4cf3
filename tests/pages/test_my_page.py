"""My Page in the browser pages: login, the account, notices, password change, logout, language."""

from __future__ import annotations

from tests.pages.conftest import RESIDENT_PASSWORD, PageWorld, field_error, register


def log_in(site: PageWorld, mykey_id: str = "TANAKA01") -> None:
    page = site.client.post("/my/login", data={"mykey_id": mykey_id, "password": RESIDENT_PASSWORD})
    assert page.status_code == 200, page.text


def test_my_page_needs_a_login(site: PageWorld) -> None:
    page = site.client.get("/my", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/my/login"


def test_wrong_password_is_refused_without_saying_which_part_was_wrong(site: PageWorld) -> None:
    register(site.client, "TANAKA01")
    page = site.client.post("/my/login", data={"mykey_id": "TANAKA01", "password": "Wrong123"})
    assert page.status_code == 401
    assert "マイキーIDまたはパスワードが正しくありません。" in page.text
    empty = site.client.post("/my/login", data={"mykey_id": "", "password": ""})
    assert field_error(empty, "mykey_id") == "マイキーIDを入力してください。"
    assert field_error(empty, "password") == "パスワードを入力してください。"


def test_five_wrong_passwords_lock_the_account(site: PageWorld) -> None:
    register(site.client, "TANAKA01")
    for _ in range(4):
        site.client.post("/my/login", data={"mykey_id": "TANAKA01", "password": "Wrong123"})
    locked = site.client.post("/my/login", data={"mykey_id": "TANAKA01", "password": "Wrong123"})
    assert locked.status_code == 423
    refused = site.client.post(
        "/my/login", data={"mykey_id": "TANAKA01", "password": RESIDENT_PASSWORD}
    )
    assert refused.status_code == 423


def test_my_page_shows_the_account_and_no_made_up_balances(site: PageWorld) -> None:
    register(site.client, "TANAKA01")
    log_in(site)
    page = site.client.get("/my")
    assert 'id="my-mykey-id">TANAKA01<' in page.text
    assert "神奈川県 川崎市" in page.text
    assert "resident@example.jp" in page.text
    assert "ポイント台帳とはまだ接続されていません。" in page.text
    assert "ポイント残高" not in page.text


def test_notice_settings_are_saved(site: PageWorld) -> None:
    register(site.client, "TANAKA01")
    log_in(site)
    saved = site.client.post("/my/notices", data={"notify_points_expired": "true"})
    assert "お知らせの設定を保存しました。" in saved.text
    assert (
        'id="notify_points_expired" name="notify_points_expired" value="true" checked' in saved.text
    )
    assert 'id="notify_points_granted" name="notify_points_granted" value="true">' in saved.text


def test_password_change_shows_each_error_then_changes(site: PageWorld) -> None:
    register(site.client, "TANAKA01")
    log_in(site)
    wrong = site.client.post(
        "/my/password",
        data={
            "current_password": "Nope1234",
            "new_password": "x",
            "new_password_confirmation": "y",
        },
    )
    assert wrong.status_code == 422
    assert field_error(wrong, "current_password") == "現在のパスワードが正しくありません。"
    assert field_error(wrong, "new_password") == (
        "パスワードは6～16ケタの半角英数字で入力してください。"
    )
    changed = site.client.post(
        "/my/password",
        data={
            "current_password": RESIDENT_PASSWORD,
            "new_password": "Xyz98765",
            "new_password_confirmation": "Xyz98765",
        },
    )
    assert "パスワードを変更しました。" in changed.text
    site.client.post("/my/logout")
    relogin = site.client.post("/my/login", data={"mykey_id": "TANAKA01", "password": "Xyz98765"})
    assert 'id="my-mykey-id">TANAKA01<' in relogin.text


def test_logout_ends_the_session(site: PageWorld) -> None:
    register(site.client, "TANAKA01")
    log_in(site)
    out = site.client.post("/my/logout")
    assert "ログアウトしました。" in out.text
    assert site.client.get("/my", follow_redirects=False).status_code == 303


def test_english_switch_is_remembered(site: PageWorld) -> None:
    english = site.client.get("/my/login?lang=en")
    assert '<html lang="en">' in english.text
    assert "Log in to My Page" in english.text
    assert site.client.cookies.get("lang") == "en"
    later = site.client.get("/my/register")
    assert "Register a MyKey ID" in later.text
    back = site.client.get("/my/register?lang=ja")
    assert '<html lang="ja">' in back.text and "マイキーIDの登録" in back.text


def test_every_page_has_a_skip_link_a_main_landmark_and_one_h1(site: PageWorld) -> None:
    for path in ("/", "/my/login", "/my/register", "/staff/login", "/explorer"):
        page = site.client.get(path)
        assert '<a class="skip-link" href="#main">' in page.text, path
        assert '<main id="main"' in page.text, path
        assert page.text.count("<h1") == 1, path
