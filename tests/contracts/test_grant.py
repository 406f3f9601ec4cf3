"""Grant: administrative points from a municipality's granting terminals, with budget caps."""

from __future__ import annotations

from contracts.domain import TerminalKind, Use, fiscal_year, uses_mask
from tests.contracts.harness import KAWASAKI, TOSHIMA, Harness, refused


def test_management_and_mobile_terminals_grant_with_activity_and_reference(ledger: Harness) -> None:
    resident = ledger.new_resident(KAWASAKI)
    kawasaki = ledger.municipality(KAWASAKI)
    sent = ledger.client.grant(
        kawasaki.management_terminal_key,
        resident,
        KAWASAKI,
        200,
        activity=1,
        reference=b"\x07" * 32,
    )
    ledger.client.grant(kawasaki.mobile_terminal_key, resident, KAWASAKI, 100, activity=2)
    event = sent.event("PointsGranted")
    assert event.args["mykeyId"] == resident
    assert event.args["municipality"] == KAWASAKI
    assert event.args["amount"] == 200
    assert event.args["activity"] == 1
    assert event.args["referenceHash"] == b"\x07" * 32
    assert ledger.client.balance_of(resident, KAWASAKI) == 300
    assert ledger.client.balance_of(resident, TOSHIMA) == 0
    assert ledger.client.totals_of(KAWASAKI)["granted"] == 300


def test_grant_from_another_municipalitys_terminal_is_refused(ledger: Harness) -> None:
    resident = ledger.new_resident(KAWASAKI)
    with refused("TerminalOfAnotherMember", "belongs to municipality 13116"):
        ledger.client.grant(
            ledger.municipality(TOSHIMA).management_terminal_key,
            resident,
            KAWASAKI,
            100,
            activity=1,
        )


def test_grant_from_wrong_kind_or_unregistered_terminal_is_refused(ledger: Harness) -> None:
    resident = ledger.new_resident(KAWASAKI)
    with refused("WrongTerminalKind", "point use terminal", "granting terminal"):
        ledger.client.grant(
            ledger.terminal("store", TerminalKind.POINT_USE), resident, KAWASAKI, 1, activity=1
        )
    with refused("UnregisteredTerminal", "not a registered terminal"):
        ledger.client.grant(ledger.new_key(), resident, KAWASAKI, 1, activity=1)
    with refused("UnregisteredTerminal"):
        ledger.client.grant(
            ledger.municipality(KAWASAKI).admin_key, resident, KAWASAKI, 1, activity=1
        )


def test_grant_to_revoked_unknown_or_zero_is_refused(ledger: Harness) -> None:
    resident = ledger.new_resident(KAWASAKI)
    terminal = ledger.municipality(KAWASAKI).management_terminal_key
    with refused("ZeroAmount"):
        ledger.client.grant(terminal, resident, KAWASAKI, 0, activity=1)
    with refused("MykeyUnknown", "ZZZZ9999"):
        ledger.client.grant(terminal, "ZZZZ9999", KAWASAKI, 1, activity=1)
    ledger.client.revoke_mykey(ledger.platform, resident)
    with refused("MykeyRevoked", resident):
        ledger.client.grant(terminal, resident, KAWASAKI, 1, activity=1)


def test_yearly_budget_cap_refuses_the_grant_that_would_exceed_it(ledger: Harness) -> None:
    kawasaki = ledger.municipality(KAWASAKI)
    resident = ledger.new_resident(KAWASAKI)
    year = fiscal_year(ledger.now())
    already = ledger.client.call("PointLedger", "grantedInFiscalYear", KAWASAKI, year)
    ledger.client.set_grant_budget(kawasaki.admin_key, KAWASAKI, year, already + 500)
    ledger.grant(resident, KAWASAKI, 300)
    ledger.grant(resident, KAWASAKI, 200)
    with refused("OverBudget", "budget of", f"fiscal year {year}"):
        ledger.grant(resident, KAWASAKI, 1)
    ledger.client.set_grant_budget(kawasaki.admin_key, KAWASAKI, year, None)
    ledger.grant(resident, KAWASAKI, 1)
    assert ledger.client.balance_of(resident, KAWASAKI) == 501


def test_only_the_municipality_admin_sets_its_budget(ledger: Harness) -> None:
    with refused("NotMunicipalityStaff", "14130"):
        ledger.client.set_grant_budget(ledger.municipality(TOSHIMA).admin_key, KAWASAKI, 2026, 1)


def test_event_account_has_its_own_balance_dates_and_uses(ledger: Harness) -> None:
    kawasaki = ledger.municipality(KAWASAKI)
    now = ledger.now()
    account = ledger.client.open_event_account(
        kawasaki.admin_key,
        KAWASAKI,
        now - 10,
        now + 30 * 86_400,
        uses_mask(Use.SOCIAL_CONTRIBUTION),
    )
    resident = ledger.new_resident(KAWASAKI)
    ledger.grant(resident, KAWASAKI, 700, account=account)
    assert ledger.client.balance_of(resident, KAWASAKI, account) == 700
    assert ledger.client.balance_of(resident, KAWASAKI) == 0
    # The store is accepted for local-store use, which this event account does not allow.
    with refused("UseNotAllowedInEventAccount", "local store"):
        ledger.redeem(resident, KAWASAKI, 100, account=account)
    store = ledger.business_id("store")
    ledger.client.set_business_acceptance(
        kawasaki.admin_key, KAWASAKI, store, uses_mask(Use.LOCAL_STORE, Use.SOCIAL_CONTRIBUTION)
    )
    ledger.redeem(resident, KAWASAKI, 100, account=account, use=Use.SOCIAL_CONTRIBUTION)
    assert ledger.client.balance_of(resident, KAWASAKI, account) == 600
    with refused("EventAccountUnknown"):
        ledger.grant(resident, KAWASAKI, 1, account=account + 1)


def test_event_account_not_yet_open_refuses_grants(ledger: Harness) -> None:
    kawasaki = ledger.municipality(KAWASAKI)
    now = ledger.now()
    account = ledger.client.open_event_account(
        kawasaki.admin_key, KAWASAKI, now + 86_400, now + 2 * 86_400, uses_mask(Use.FACILITY)
    )
    resident = ledger.new_resident(KAWASAKI)
    with refused("EventAccountClosed", "open only from"):
        ledger.grant(resident, KAWASAKI, 10, account=account)
