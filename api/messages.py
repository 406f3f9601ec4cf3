"""Every message a person reads from the API, Japanese first with the English beside it.

Each message has a stable code (what a program keys on) and two texts. The Japanese text follows
the wording of deck screen 16 where the deck has one. Responses carry the Japanese text unless the
client asks for English (`Accept-Language: en`); see `api.problems`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Message:
    """One text in both languages."""

    ja: str
    en: str

    def in_language(self, language: str) -> str:
        """Return the text for `language` ("ja" or "en"); anything else gets Japanese."""
        return self.en if language == "en" else self.ja


FIELD_MESSAGES: dict[str, Message] = {
    "required": Message("必須項目です。入力してください。", "This field is required."),
    "invalid": Message("入力内容が正しくありません。", "This value is not valid."),
    "too-long": Message("入力が長すぎます。", "This value is too long."),
    "mykey-id-format": Message(
        "マイキーID候補は8ケタの半角大文字英数字で入力してください。",
        "A MyKey ID candidate is 8 half-width upper-case letters or digits.",
    ),
    "mykey-id-taken": Message(
        "このマイキーID候補は既に他の人に使用されています。別の候補を入力してください。",
        "This MyKey ID candidate is already in use. Please choose another.",
    ),
    "mykey-id-unchecked": Message(
        "マイキーID候補を「自動生成」または「重複チェック」で作成してください。",
        "Create a MyKey ID candidate with 'auto-generate' or 'duplicate check' first.",
    ),
    "password-format": Message(
        "パスワードは6～16ケタの半角英数字で入力してください。",
        "The password must be 6 to 16 half-width letters or digits.",
    ),
    "password-confirmation-mismatch": Message(
        "確認用パスワードが一致しません。もう一度入力してください。",
        "The password confirmation does not match. Please type it again.",
    ),
    "password-incorrect": Message(
        "現在のパスワードが正しくありません。", "The current password is not correct."
    ),
    "password-unchanged": Message(
        "新しいパスワードは現在のパスワードと異なるものにしてください。",
        "The new password must differ from the current one.",
    ),
    "email-format": Message(
        "メールアドレスの形式が正しくありません。", "This e-mail address is not valid."
    ),
    "email-confirmation-mismatch": Message(
        "確認用メールアドレスが一致しません。もう一度入力してください。",
        "The e-mail confirmation does not match. Please type it again.",
    ),
    "email-confirmation-missing": Message(
        "確認のためメールアドレスをもう一度入力してください。",
        "Please type the e-mail address a second time to confirm it.",
    ),
    "notices-need-email": Message(
        "メール通知を希望する場合はメールアドレスを入力してください。",
        "Enter an e-mail address to receive notices.",
    ),
    "prefecture-unknown": Message("都道府県を選択してください。", "Please choose a prefecture."),
    "municipality-unknown": Message(
        "選択した都道府県の市区町村を選択してください。",
        "Please choose a municipality in the chosen prefecture.",
    ),
    "municipality-code-format": Message(
        "自治体コードは5ケタ（またはチェックデジット付きの6ケタ）の数字です。",
        "A municipality code is 5 digits (or 6 with its check digit).",
    ),
    "role-unknown": Message("指定された権限はありません。", "There is no such role."),
    "login-name-format": Message(
        "ログイン名は3～64文字の半角英数字・記号(._-@)で入力してください。",
        "A login name is 3 to 64 half-width letters, digits or . _ - @.",
    ),
    "staff-password-format": Message(
        "職員のパスワードは12～128文字で入力してください。",
        "A staff password is 12 to 128 characters.",
    ),
    "points-range": Message(
        "ポイント数は1～100,000の半角数字で入力してください。",
        "Points are a whole number from 1 to 100,000.",
    ),
    "activity-unknown": Message(
        "活動の種類が正しくありません。", "This activity is not one of the known activities."
    ),
    "csv-header": Message(
        "CSVの1行目は「mykey_id,points,activity」にしてください。",
        "The CSV's first line must be `mykey_id,points,activity`.",
    ),
    "csv-too-long": Message(
        "CSVの行数が多すぎます（上限5,000行）。", "The CSV has too many lines (5,000 at most)."
    ),
    "csv-columns": Message(
        "この行の項目数が正しくありません（3項目）。", "This line does not have exactly 3 columns."
    ),
    "csv-format": Message(
        "CSVの形式が正しくありません（引用符や改行を確認してください）。",
        "The CSV is malformed (check its quotes and line breaks).",
    ),
    "csv-encoding": Message(
        "CSVはUTF-8またはShift_JISで保存してください。", "Save the CSV as UTF-8 or Shift_JIS."
    ),
    "idempotency-key-reused": Message(
        "同じ識別キーで異なる内容の付与が既に行われています。",
        "This idempotency key was already used for a different grant.",
    ),
}
"""Field-level messages, keyed by the code sent in each `errors[]` entry."""
