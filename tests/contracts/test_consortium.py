"""Consortium and roles: the platform admits members; members run their accounts and terminals."""

from __future__ import annotations

import pytest

from contracts.domain import (
    InvalidMunicipalityCodeError,
    MemberKind,
    Role,
    TerminalKind,
    Use,
    check_digit,
    parse_municipality_code,
    uses_mask,
)
from contracts.transactions import address_of
from tests.contracts.harness import KAWASAKI, TOSHIMA, Harness, refused


@pytest.mark.parametrize(
    ("text", "code"), [("14130", 14130), ("141305", 14130), ("131164", 13116), ("011002", 1100)]
)
def test_municipality_codes_in_both_forms(text: str, code: int) -> None:
    assert parse_municipality_code(text) == code


@pytest.mark.parametrize("text", ["141306", "1413", "48000", "00100", "14a30", "1413055"])
def test_bad_municipality_codes_are_refused_in_python(text: str) -> None:
    with pytest.raises(InvalidMunicipalityCodeError):
        parse_municipality_code(text)


def test_check_digit_matches_published_codes() -> None:
    # Chiyoda 131016, Sapporo 011002, Kawasaki 141305, Toshima 131164, Naha 472018.
    assert [check_digit(c) for c in ("13101", "01100", "14130", "13116", "47201")] == [
        6,
        2,
        5,
        4,
        8,
    ]


def test_platform_admits_a_municipality_by_six_digit_code(ledger: Harness) -> None:
    admin = ledger.new_key()
    code = ledger.client.admit_municipality(ledger.platform, "131016", address_of(admin))
    assert code == 13101
    settings = ledger.client.call("Consortium", "municipality", 13101)
    assert settings[0] is True  # admitted
    with refused("MunicipalityAlreadyAdmitted"):
        ledger.client.admit_municipality(ledger.platform, "13101", address_of(ledger.new_key()))


@pytest.mark.parametrize("text", ["131017", "4800", "48001", "1310X"])
def test_chain_refuses_bad_municipality_codes(ledger: Harness, text: str) -> None:
    with refused("InvalidMunicipalityCode", repr(text)):
        ledger.client.admit_municipality(ledger.platform, text, address_of(ledger.new_key()))


def test_only_the_platform_admits_members(ledger: Harness) -> None:
    stranger = ledger.new_key()
    with refused("NotPlatform", address_of(stranger)):
        ledger.client.admit_municipality(stranger, "13101", address_of(stranger))
    with refused("NotPlatform"):
        ledger.client.admit_business(
            ledger.municipality(KAWASAKI).admin_key, "Shop", address_of(stranger)
        )
    with refused("NotPlatform"):
        ledger.client.admit_partner(stranger, "Air", address_of(stranger))
    with refused("NotPlatform"):
        ledger.client.set_verifier(stranger, address_of(stranger))


def test_members_register_their_own_terminals_by_kind(ledger: Harness) -> None:
    store = ledger.demo.businesses["store"]
    terminal = ledger.new_key()
    sent = ledger.client.register_terminal(
        store.admin_key, address_of(terminal), TerminalKind.POINT_USE
    )
    event = sent.event("TerminalRegistered")
    assert (event.args["ownerKind"], event.args["ownerId"]) == (
        MemberKind.BUSINESS,
        store.business_id,
    )
    with refused("TerminalTaken"):
        ledger.client.register_terminal(
            store.admin_key, address_of(terminal), TerminalKind.POINT_USE
        )
    with refused("TerminalKindNotAllowed", "business member cannot register a granting terminal"):
        ledger.client.register_terminal(
            store.admin_key, address_of(ledger.new_key()), TerminalKind.GRANTING
        )
    with refused("TerminalKindNotAllowed", "municipality member cannot register a point use"):
        ledger.client.register_terminal(
            ledger.municipality(KAWASAKI).admin_key,
            address_of(ledger.new_key()),
            TerminalKind.POINT_USE,
        )
    with refused("NotMemberAdmin"):
        ledger.client.register_terminal(
            terminal, address_of(ledger.new_key()), TerminalKind.POINT_USE
        )
    with refused("TerminalOfAnotherMember"):
        ledger.client.deregister_terminal(
            ledger.demo.businesses["museum"].admin_key, address_of(terminal)
        )
    ledger.client.deregister_terminal(store.admin_key, address_of(terminal))
    assert (
        ledger.client.call("Consortium", "terminal", address_of(terminal))[0] == TerminalKind.NONE
    )


def test_one_management_terminal_per_municipality_any_number_of_mobile_ones(
    ledger: Harness,
) -> None:
    kawasaki = ledger.municipality(KAWASAKI)
    with refused("ManagementTerminalExists", "register further granting terminals as mobile"):
        ledger.client.register_terminal(
            kawasaki.admin_key, address_of(ledger.new_key()), TerminalKind.GRANTING, management=True
        )
    for _ in range(3):
        ledger.client.register_terminal(
            kawasaki.admin_key, address_of(ledger.new_key()), TerminalKind.GRANTING
        )
    ledger.client.deregister_terminal(
        kawasaki.admin_key, address_of(kawasaki.management_terminal_key)
    )
    ledger.client.register_terminal(
        kawasaki.admin_key, address_of(ledger.new_key()), TerminalKind.GRANTING, management=True
    )


def test_members_manage_their_own_accounts(ledger: Harness) -> None:
    kawasaki = ledger.municipality(KAWASAKI)
    treasurer = ledger.new_key()
    ledger.client.set_member_account(kawasaki.admin_key, address_of(treasurer), Role.TREASURER)
    kind, member, roles = ledger.client.call("Consortium", "accountOf", address_of(treasurer))
    assert (kind, member, roles) == (MemberKind.MUNICIPALITY, KAWASAKI, Role.TREASURER)
    with refused("AccountTaken"):
        ledger.client.set_member_account(
            ledger.municipality(TOSHIMA).admin_key, address_of(treasurer), Role.STAFF
        )
    with refused("NotMemberAdmin"):
        ledger.client.set_member_account(treasurer, address_of(ledger.new_key()), Role.ADMIN)


def test_municipality_decides_which_businesses_accept_its_points_for_which_uses(
    ledger: Harness,
) -> None:
    kawasaki, toshima = ledger.municipality(KAWASAKI), ledger.municipality(TOSHIMA)
    library = ledger.business_id("library")
    ledger.client.set_business_acceptance(
        toshima.admin_key, TOSHIMA, library, uses_mask(Use.FACILITY, Use.CROWDFUNDING)
    )
    assert ledger.client.call("Consortium", "acceptedUses", TOSHIMA, library) == 0b100001
    with refused("NotMunicipalityStaff"):
        ledger.client.set_business_acceptance(kawasaki.admin_key, TOSHIMA, library, 0)
    with refused("BusinessNotAdmitted"):
        ledger.client.set_business_acceptance(toshima.admin_key, TOSHIMA, 999, 1)
    with refused("InvalidUse"):
        ledger.client.set_business_acceptance(toshima.admin_key, TOSHIMA, library, 0x80)


def test_node_permission_list(ledger: Harness) -> None:
    node_a, node_b = address_of(ledger.new_key()), address_of(ledger.new_key())
    ledger.client.set_node_allowed(ledger.platform, node_a)
    ledger.client.set_node_allowed(ledger.platform, node_b)
    assert set(ledger.client.call("Consortium", "allowedNodes")) == {node_a, node_b}
    ledger.client.set_node_allowed(ledger.platform, node_a, False)
    assert ledger.client.call("Consortium", "allowedNodes") == [node_b]
    assert ledger.client.call("Consortium", "isNodeAllowed", node_a) is False
    with refused("NotPlatform"):
        ledger.client.set_node_allowed(ledger.municipality(KAWASAKI).admin_key, node_a)


def test_partner_rates_are_set_by_the_platform(ledger: Harness) -> None:
    partner = ledger.demo.partner
    with refused("InvalidRate"):
        ledger.client.set_partner_rate(ledger.platform, partner.partner_id, 0, 1)
    with refused("NotPlatform"):
        ledger.client.set_partner_rate(partner.admin_key, partner.partner_id, 2, 1)
    ledger.client.set_partner_rate(ledger.platform, partner.partner_id, 1, 2)
    resident = ledger.new_resident(KAWASAKI)
    reserve = ledger.client.convert(partner.admin_key, resident, 1_001)
    assert ledger.client.call("PointLedger", "reserve", reserve)[-1] == 500
