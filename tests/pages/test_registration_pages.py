"""Registration in the browser pages: every rule of deck screen 16 and its message on the page."""

from __future__ import annotations

import re

from sqlalchemy import select

from api.store.models import CardChallenge
from card_bridge.browser_helper.registration_statement import parse_registration_statement
from tests.pages.conftest import (
    COMPLETE_FORM,
    RESIDENT_PASSWORD,
    PageWorld,
    field_error,
    open_card_step,
)


def test_card_step_offers_the_virtual_card_only_as_a_labelled_test_facility(
    site: PageWorld,
) -> None:
    page = site.client.get("/my/register")
    assert page.status_code == 200
    assert "仮想カードで認証する（テスト・開発用）" in page.text
    assert "本番では表示されません" in page.text


def test_wrong_pin_is_refused_with_the_tries_left_then_the_right_pin_opens_the_form(
    site: PageWorld,
) -> None:
    wrong = site.client.post("/my/register/virtual-card", data={"pin": "9999"})
    assert wrong.status_code == 422
    assert field_error(wrong, "pin") == "暗証番号が正しくありません（残り2回）。"
    form = open_card_step(site.client)
    assert "手順2／2" in form.text
    assert re.search(r'id="generations-left">3<', form.text)


def test_auto_generate_three_times_fixes_the_third_candidate(site: PageWorld) -> None:
    site.generator.values = ["GENA0001", "GENB0002", "GENC0003"]
    open_card_step(site.client)
    first = site.client.post("/my/register", data={"action": "generate"})
    assert 'value="GENA0001"' in first.text
    assert re.search(r'id="generations-left">2<', first.text)
    site.client.post("/my/register", data={"action": "generate"})
    third = site.client.post("/my/register", data={"action": "generate"})
    assert 'value="GENC0003"' in third.text
    assert "3回目に自動生成された候補がマイキーIDになります（変更できません）。" in third.text
    assert re.search(r'value="generate"[^>]*disabled', third.text)
    fourth = site.client.post("/my/register", data={"action": "generate"})
    assert fourth.status_code == 422
    assert field_error(fourth, "candidate") == (
        "マイキーID候補の自動生成は3回までです。3回目に生成された候補がマイキーIDになります。"
    )
    own = site.client.post("/my/register", data={"action": "check", "candidate": "TANAKA01"})
    assert field_error(own, "candidate") == (
        "3回目に自動生成されたマイキーID候補がマイキーIDとなるため、変更できません。"
    )
    done = site.client.post("/my/register", data=COMPLETE_FORM)
    assert done.status_code == 201
    assert 'id="registered-id">GENC0003<' in done.text
    assert site.ledger.registered == [("GENC0003", "14130")]


def test_own_candidate_duplicate_errors_then_a_generated_one_on_the_third(
    site: PageWorld,
) -> None:
    site.ledger.taken.update({"TAKEN001", "TAKEN002", "TAKEN003"})
    site.generator.values = ["AUTO0001"]
    open_card_step(site.client)
    malformed = site.client.post("/my/register", data={"action": "check", "candidate": "abc"})
    assert field_error(malformed, "candidate") == (
        "マイキーID候補は8ケタの半角大文字英数字で入力してください。"
    )
    for attempt, candidate in enumerate(("TAKEN001", "TAKEN002"), start=1):
        taken = site.client.post("/my/register", data={"action": "check", "candidate": candidate})
        assert taken.status_code == 422
        assert field_error(taken, "candidate") == (
            "このマイキーID候補は既に他の人に使用されています。別の候補を入力してください。"
        )
        assert re.search(rf'id="duplicate-errors">{attempt}<', taken.text)
    third = site.client.post("/my/register", data={"action": "check", "candidate": "TAKEN003"})
    assert "重複エラーが3回となったため、マイキーID候補を自動生成して表示しました。" in third.text
    assert 'value="AUTO0001"' in third.text
    free = site.client.post("/my/register", data={"action": "check", "candidate": "TANAKA01"})
    assert free.status_code == 200
    assert "このマイキーID候補は使用できます。" in free.text


def test_every_wrong_field_gets_its_own_linked_message_then_fixing_them_registers(
    site: PageWorld,
) -> None:
    open_card_step(site.client)
    unchecked = site.client.post("/my/register", data={**COMPLETE_FORM, "candidate": "TANAKA01"})
    assert field_error(unchecked, "candidate") == (
        "マイキーID候補を「自動生成」または「重複チェック」で作成してください。"
    )
    site.client.post("/my/register", data={"action": "check", "candidate": "TANAKA01"})
    wrong = site.client.post(
        "/my/register",
        data={
            "action": "complete",
            "candidate": "TANAKA01",
            "password": "short",
            "password_confirmation": "different",
            "email": "resident@example.jp",
            "email_confirmation": "other@example.jp",
            "prefecture_code": "",
            "municipality_code": "",
        },
    )
    assert wrong.status_code == 422
    assert field_error(wrong, "password") == "パスワードは6～16ケタの半角英数字で入力してください。"
    assert field_error(wrong, "password_confirmation") == (
        "確認用パスワードが一致しません。もう一度入力してください。"
    )
    assert field_error(wrong, "email_confirmation") == (
        "確認用メールアドレスが一致しません。もう一度入力してください。"
    )
    assert field_error(wrong, "prefecture_code") == "都道府県を選択してください。"
    assert field_error(wrong, "municipality_code") == (
        "選択した都道府県の市区町村を選択してください。"
    )
    # the summary links each message to its field, and no password is sent back into the page
    for field in ("password", "password_confirmation", "email_confirmation", "prefecture_code"):
        assert f'href="#{field}"' in wrong.text
    assert "short" not in wrong.text and "different" not in wrong.text
    # what was typed (passwords excepted) is kept
    assert 'value="resident@example.jp"' in wrong.text
    mismatched_town = site.client.post(
        "/my/register", data={**COMPLETE_FORM, "prefecture_code": "13"}
    )
    assert field_error(mismatched_town, "municipality_code") == (
        "選択した都道府県の市区町村を選択してください。"
    )
    done = site.client.post("/my/register", data=COMPLETE_FORM)
    assert done.status_code == 201
    assert 'id="registered-id">TANAKA01<' in done.text
    assert site.ledger.registered == [("TANAKA01", "14130")]
    # the registration cookie is gone: the card step comes first again
    assert "手順1／2" in site.client.get("/my/register").text
    login = site.client.post(
        "/my/login", data={"mykey_id": "TANAKA01", "password": RESIDENT_PASSWORD}
    )
    assert login.status_code == 200 and 'id="my-mykey-id">TANAKA01<' in login.text


def test_confirmation_fields_refuse_paste_and_are_labelled(site: PageWorld) -> None:
    form = open_card_step(site.client)
    for field in ("password_confirmation", "email_confirmation"):
        control = re.search(rf'<input[^>]*id="{field}"[^>]*>', form.text)
        assert control is not None and "data-no-paste" in control.group(0)
        assert f'<label for="{field}">' in form.text


def test_a_card_that_already_has_an_id_cannot_register_again(site: PageWorld) -> None:
    open_card_step(site.client)
    site.client.post("/my/register", data={"action": "check", "candidate": "TANAKA01"})
    site.client.post("/my/register", data=COMPLETE_FORM)
    card = site.desk.issued[-1]
    site.desk._current = card  # the same card comes back to the reader
    again = site.client.post("/my/register/virtual-card", data={"pin": "1234"})
    assert again.status_code == 409
    assert "このカードには既にマイキーIDが登録されています。" in again.text


def test_an_expired_registration_sends_the_resident_back_to_the_card(site: PageWorld) -> None:
    open_card_step(site.client)
    site.clock.advance(31 * 60)
    late = site.client.post("/my/register", data={"action": "generate"})
    assert late.status_code == 410
    assert "登録の有効期限が切れました。カード認証からやり直してください。" in late.text


def test_the_virtual_card_signs_a_statement_bound_to_this_pages_origin(site: PageWorld) -> None:
    open_card_step(site.client)
    with site.store.sessions() as db:
        statements = [row.challenge for row in db.scalars(select(CardChallenge)).all()]
    assert [parse_registration_statement(data).origin for data in statements] == [
        "http://testserver"
    ]


def test_the_virtual_card_refuses_a_post_from_another_site(site: PageWorld) -> None:
    for headers in (
        {"Origin": "http://evil.example"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "http://testserver", "Sec-Fetch-Site": "cross-site"},
    ):
        planted = site.client.post(
            "/my/register/virtual-card", data={"pin": "1234"}, headers=headers
        )
        assert planted.status_code == 403, headers
        assert "このページ以外から送られたカードの応答" in planted.text
        assert not site.client.cookies.get("mykey_registration")
    assert site.desk.issued == []  # refused before any card was issued or asked
    same = site.client.post(
        "/my/register/virtual-card",
        data={"pin": "1234"},
        headers={"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"},
    )
    assert "手順2／2" in same.text
