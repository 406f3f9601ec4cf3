"""Two-party spending: a registered terminal of the right kind AND a fresh verifier attestation."""

from __future__ import annotations

from eth_account import Account

from contracts.domain import Action, TerminalKind, Use
from tests.contracts.harness import KAWASAKI, TOSHIMA, Harness, refused


def _funded_resident(ledger: Harness, points: int = 1_000, code: int = KAWASAKI) -> str:
    resident = ledger.new_resident(code)
    ledger.grant(resident, code, points)
    return resident


def test_redeem_with_terminal_and_attestation_moves_points_and_books_the_payable(
    ledger: Harness,
) -> None:
    resident = _funded_resident(ledger)
    sent = ledger.redeem(resident, KAWASAKI, 300)
    event = sent.event("PointsRedeemed")
    assert event.args["mykeyId"] == resident
    assert event.args["municipality"] == KAWASAKI
    assert event.args["business"] == ledger.business_id("store")
    assert event.args["amount"] == 300
    assert event.args["evidenceHash"] == b"\x11" * 32
    assert ledger.client.balance_of(resident, KAWASAKI) == 700
    period = event.args["period"]
    assert ledger.client.payable_to(KAWASAKI, period, ledger.business_id("store")) >= 300


def test_terminal_alone_spends_nothing(ledger: Harness) -> None:
    resident = _funded_resident(ledger)
    store = ledger.business_id("store")
    forged_key = "0x" + bytes(Account.create().key).hex()
    attestation, signature = ledger.attest(
        Action.REDEEM, resident, KAWASAKI, 100, business=store, signer=forged_key
    )
    with refused("UnknownVerifier", "not signed by a platform verifier"):
        ledger.client.redeem(
            ledger.terminal("store", TerminalKind.POINT_USE),
            attestation,
            signature,
            use=Use.LOCAL_STORE,
        )
    with refused("UnknownVerifier"):
        ledger.client.redeem(
            ledger.terminal("store", TerminalKind.POINT_USE),
            attestation,
            b"\x00" * 65,
            use=Use.LOCAL_STORE,
        )
    assert ledger.client.balance_of(resident, KAWASAKI) == 1_000


def test_platform_alone_spends_nothing(ledger: Harness) -> None:
    resident = _funded_resident(ledger)
    attestation, signature = ledger.attest(
        Action.REDEEM, resident, KAWASAKI, 100, business=ledger.business_id("store")
    )
    with refused("UnregisteredTerminal"):
        ledger.client.redeem(ledger.platform, attestation, signature, use=Use.LOCAL_STORE)
    with refused("UnregisteredTerminal"):
        ledger.client.redeem(ledger.demo.verifier_key, attestation, signature, use=Use.LOCAL_STORE)


def test_wrong_terminal_kind_is_refused(ledger: Harness) -> None:
    resident = _funded_resident(ledger)
    attestation, signature = ledger.attest(
        Action.REDEEM, resident, KAWASAKI, 100, business=ledger.business_id("store")
    )
    with refused("WrongTerminalKind", "voucher issue terminal", "point use terminal"):
        ledger.client.redeem(
            ledger.terminal("store", TerminalKind.VOUCHER_ISSUE),
            attestation,
            signature,
            use=Use.LOCAL_STORE,
        )


def test_expired_attestation_is_refused(ledger: Harness) -> None:
    resident = _funded_resident(ledger)
    attestation, signature = ledger.attest(
        Action.REDEEM,
        resident,
        KAWASAKI,
        100,
        business=ledger.business_id("store"),
        deadline=ledger.now() - 1,
    )
    with refused("AttestationExpired", "confirm with the card again"):
        ledger.client.redeem(
            ledger.terminal("store", TerminalKind.POINT_USE),
            attestation,
            signature,
            use=Use.LOCAL_STORE,
        )


def test_reused_nonce_is_refused(ledger: Harness) -> None:
    resident = _funded_resident(ledger)
    store = ledger.business_id("store")
    terminal = ledger.terminal("store", TerminalKind.POINT_USE)
    attestation, signature = ledger.attest(Action.REDEEM, resident, KAWASAKI, 100, business=store)
    ledger.client.redeem(terminal, attestation, signature, use=Use.LOCAL_STORE)
    with refused("AttestationNonceUsed", "single-use"):
        ledger.client.redeem(terminal, attestation, signature, use=Use.LOCAL_STORE)
    again, again_signature = ledger.attest(
        Action.REDEEM, resident, KAWASAKI, 5, business=store, nonce=attestation.nonce
    )
    with refused("AttestationNonceUsed"):
        ledger.client.redeem(terminal, again, again_signature, use=Use.LOCAL_STORE)
    assert ledger.client.balance_of(resident, KAWASAKI) == 900


def test_attestation_for_another_action_or_business_is_refused(ledger: Harness) -> None:
    resident = _funded_resident(ledger)
    terminal = ledger.terminal("store", TerminalKind.POINT_USE)
    voucher_attestation, signature = ledger.attest(
        Action.ISSUE_VOUCHER, resident, KAWASAKI, 100, business=ledger.business_id("store")
    )
    with refused("AttestationMismatch", "action"):
        ledger.client.redeem(terminal, voucher_attestation, signature, use=Use.LOCAL_STORE)
    museum_attestation, signature = ledger.attest(
        Action.REDEEM, resident, KAWASAKI, 100, business=ledger.business_id("museum")
    )
    with refused("AttestationMismatch", "business"):
        ledger.client.redeem(terminal, museum_attestation, signature, use=Use.LOCAL_STORE)


def test_business_not_accepted_for_the_use_or_municipality_is_refused(ledger: Harness) -> None:
    resident = _funded_resident(ledger)
    with refused("BusinessNotAccepted", "transport"):
        ledger.redeem(resident, KAWASAKI, 100, use=Use.TRANSPORT)
    toshima_resident = _funded_resident(ledger, code=TOSHIMA)
    with refused("BusinessNotAccepted", "13116"):
        ledger.redeem(toshima_resident, TOSHIMA, 100, business="museum", use=Use.FACILITY)
    ledger.redeem(resident, KAWASAKI, 100, business="museum", use=Use.FACILITY)


def test_insufficient_and_another_municipalitys_points_are_refused(ledger: Harness) -> None:
    resident = _funded_resident(ledger, points=250)
    with refused("InsufficientPoints", "has 250 points", "1000 were asked for"):
        ledger.redeem(resident, KAWASAKI, 1_000)
    with refused("InsufficientPoints", "has 0 points", "13116"):
        ledger.redeem(resident, TOSHIMA, 100)
    assert ledger.client.balance_of(resident, KAWASAKI) == 250


def test_revoked_mykey_cannot_spend_and_rebinding_keeps_points(ledger: Harness) -> None:
    resident = _funded_resident(ledger, points=400)
    ledger.client.revoke_mykey(ledger.platform, resident)
    with refused("MykeyRevoked", resident):
        ledger.redeem(resident, KAWASAKI, 100)
    assert ledger.client.balance_of(resident, KAWASAKI) == 400
    sent = ledger.client.rebind_mykey(ledger.platform, resident)
    assert sent.event("MykeyRebound").args["bindings"] == 2
    ledger.redeem(resident, KAWASAKI, 100)
    assert ledger.client.balance_of(resident, KAWASAKI) == 300


def test_paused_municipality_moves_no_points_and_resumes(ledger: Harness) -> None:
    resident = _funded_resident(ledger, points=400)
    kawasaki = ledger.municipality(KAWASAKI)
    ledger.client.set_paused(kawasaki.admin_key, KAWASAKI, True)
    with refused("MunicipalityPaused", "14130"):
        ledger.redeem(resident, KAWASAKI, 100)
    with refused("MunicipalityPaused"):
        ledger.grant(resident, KAWASAKI, 100)
    toshima_resident = _funded_resident(ledger, points=100, code=TOSHIMA)
    ledger.redeem(toshima_resident, TOSHIMA, 100)  # the pause is per municipality
    with refused("NotMunicipalityStaff"):
        ledger.client.set_paused(ledger.municipality(TOSHIMA).admin_key, KAWASAKI, False)
    ledger.client.set_paused(ledger.platform, KAWASAKI, False)
    ledger.redeem(resident, KAWASAKI, 100)


def test_refund_same_business_within_window(ledger: Harness) -> None:
    resident = _funded_resident(ledger)
    redemption = ledger.redeem(resident, KAWASAKI, 300).event("PointsRedeemed").args["redemptionId"]
    terminal = ledger.terminal("store", TerminalKind.POINT_USE)
    sent = ledger.client.refund(terminal, redemption, 100)
    assert sent.event("PointsRefunded").args["amount"] == 100
    assert ledger.client.balance_of(resident, KAWASAKI) == 800
    with refused("RefundExceedsRedemption", "has 200 points left"):
        ledger.client.refund(terminal, redemption, 201)
    with refused("RefundWrongBusiness"):
        ledger.client.refund(ledger.terminal("museum", TerminalKind.POINT_USE), redemption, 1)
    with refused("RedemptionUnknown"):
        ledger.client.refund(terminal, 10**9, 1)
    ledger.client.refund(terminal, redemption, 200)
    totals = ledger.client.totals_of(KAWASAKI)
    assert totals["refunded"] >= 300


def test_voucher_issue_and_single_redemption(ledger: Harness) -> None:
    resident = _funded_resident(ledger)
    store = ledger.business_id("store")
    secret = b"\x42" * 32
    attestation, signature = ledger.attest(
        Action.ISSUE_VOUCHER, resident, KAWASAKI, 500, business=store
    )
    sent = ledger.client.issue_voucher(
        ledger.terminal("store", TerminalKind.VOUCHER_ISSUE), attestation, signature, secret
    )
    voucher = sent.event("VoucherIssued").args["voucherId"]
    assert ledger.client.balance_of(resident, KAWASAKI) == 500
    terminal = ledger.terminal("store", TerminalKind.POINT_USE)
    with refused("VoucherSecretMismatch"):
        ledger.client.redeem_voucher(terminal, voucher, b"\x00" * 32, use=Use.LOCAL_STORE)
    with refused("BusinessNotAccepted"):
        ledger.client.redeem_voucher(
            ledger.terminal("library", TerminalKind.POINT_USE), voucher, secret, use=Use.LOCAL_STORE
        )
    redeemed = ledger.client.redeem_voucher(terminal, voucher, secret, use=Use.LOCAL_STORE)
    assert redeemed.event("VoucherRedeemed").args["amount"] == 500
    with refused("VoucherAlreadyRedeemed"):
        ledger.client.redeem_voucher(terminal, voucher, secret, use=Use.LOCAL_STORE)
    with refused("VoucherUnknown"):
        ledger.client.redeem_voucher(terminal, voucher + 1000, secret, use=Use.LOCAL_STORE)


def test_municipal_voucher_terminal_issues_only_its_own_points(ledger: Harness) -> None:
    resident = _funded_resident(ledger)
    kawasaki, toshima = ledger.municipality(KAWASAKI), ledger.municipality(TOSHIMA)
    attestation, signature = ledger.attest(Action.ISSUE_VOUCHER, resident, KAWASAKI, 100)
    with refused("TerminalOfAnotherMember"):
        ledger.client.issue_voucher(
            toshima.voucher_terminal_key, attestation, signature, b"\x01" * 32
        )
    ledger.client.issue_voucher(kawasaki.voucher_terminal_key, attestation, signature, b"\x01" * 32)
    assert ledger.client.totals_of(KAWASAKI)["vouchered"] >= 100
