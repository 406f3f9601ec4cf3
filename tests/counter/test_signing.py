"""Terminal request signing: the canonical string, EIP-191 round trip, every tampering caught."""

from __future__ import annotations

import hashlib

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount

from card_bridge.counter.ports import ActionKind, PendingAction, Points
from card_bridge.counter.refusals import StatementMismatch
from card_bridge.counter.signing import (
    RequestSignatureInvalid,
    canonical_request,
    sign_request,
    verify_request,
)
from card_bridge.counter.statements import build_statement, check_statement

NOW = 1_806_541_200
BODY = b'{"amount":500}'


def signed(account: LocalAccount, **changes: object) -> dict[str, str]:
    return sign_request(
        account, method="POST", path="/terminal/v1/redemptions", body=BODY, timestamp=NOW
    ).as_dict() | {key: str(value) for key, value in changes.items()}


def test_canonical_request_is_the_documented_six_lines() -> None:
    text = canonical_request("post", "/terminal/v1/lookups?x=1", NOW, "ab" * 16, b"{}")
    assert text.split("\n") == [
        "MYKEY-TERMINAL-REQUEST-V1",
        "POST",
        "/terminal/v1/lookups?x=1",
        str(NOW),
        "ab" * 16,
        hashlib.sha256(b"{}").hexdigest(),
    ]


def test_the_signature_is_personal_sign_of_the_canonical_text(
    terminal_account: LocalAccount,
) -> None:
    headers = signed(terminal_account)
    text = canonical_request(
        "POST", "/terminal/v1/redemptions", NOW, headers["X-MyKey-Nonce"], BODY
    )
    recovered = Account.recover_message(
        encode_defunct(text=text), signature=headers["X-MyKey-Signature"]
    )
    assert recovered == terminal_account.address
    assert verify_request(
        method="POST", path="/terminal/v1/redemptions", body=BODY, headers=headers, now=NOW + 5
    ) == (terminal_account.address, headers["X-MyKey-Nonce"])


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/terminal/v1/redemptions", BODY),
        ("POST", "/terminal/v1/vouchers", BODY),
        ("POST", "/terminal/v1/redemptions", b'{"amount":5000}'),
    ],
)
def test_any_change_to_method_path_or_body_is_caught(
    terminal_account: LocalAccount, method: str, path: str, body: bytes
) -> None:
    with pytest.raises(RequestSignatureInvalid, match="not the named terminal"):
        verify_request(
            method=method, path=path, body=body, headers=signed(terminal_account), now=NOW
        )


def test_a_stale_timestamp_is_refused(terminal_account: LocalAccount) -> None:
    with pytest.raises(RequestSignatureInvalid, match="clock"):
        verify_request(
            method="POST",
            path="/terminal/v1/redemptions",
            body=BODY,
            headers=signed(terminal_account),
            now=NOW + 61,
        )


def test_another_terminal_named_in_the_header_is_refused(terminal_account: LocalAccount) -> None:
    other = Account.create().address
    with pytest.raises(RequestSignatureInvalid):
        verify_request(
            method="POST",
            path="/terminal/v1/redemptions",
            body=BODY,
            headers=signed(terminal_account, **{"X-MyKey-Terminal": other}),
            now=NOW,
        )


def test_missing_headers_are_refused() -> None:
    with pytest.raises(RequestSignatureInvalid, match="missing"):
        verify_request(method="GET", path="/", body=b"", headers={}, now=NOW)


def test_each_request_gets_a_fresh_nonce(terminal_account: LocalAccount) -> None:
    nonces = {signed(terminal_account)["X-MyKey-Nonce"] for _ in range(20)}
    assert len(nonces) == 20


def action(statement: bytes, amount: int = 500) -> PendingAction:
    return PendingAction("rd_1", ActionKind.REDEMPTION, Points(amount), statement, NOW + 120)


FIELDS = {
    "action": "redemption",
    "action_id": "rd_1",
    "terminal": "0xAbC0000000000000000000000000000000000001",
    "business": "kawasaki-books",
    "amount": "500",
    "challenge": "abc",
    "expires_at": str(NOW + 120),
}


def test_a_statement_that_says_what_was_asked_passes() -> None:
    check_statement(
        action(build_statement(FIELDS)),
        terminal="0xabc0000000000000000000000000000000000001",
        business="kawasaki-books",
    )


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("amount", "5000"),
        ("action", "voucher"),
        ("business", "other-shop"),
        ("terminal", "0x0000000000000000000000000000000000000002"),
        ("action_id", "rd_2"),
    ],
)
def test_a_statement_that_differs_is_refused(key: str, value: str) -> None:
    with pytest.raises(StatementMismatch, match=key):
        check_statement(
            action(build_statement(FIELDS | {key: value})),
            terminal=FIELDS["terminal"],
            business="kawasaki-books",
        )


def test_a_statement_without_a_challenge_or_header_is_refused() -> None:
    without = {key: value for key, value in FIELDS.items() if key != "challenge"}
    with pytest.raises(StatementMismatch, match="challenge"):
        check_statement(
            action(build_statement(without)), terminal=FIELDS["terminal"], business="kawasaki-books"
        )
    with pytest.raises(StatementMismatch, match="start"):
        check_statement(
            action(b"hello\namount=500"), terminal=FIELDS["terminal"], business="kawasaki-books"
        )
