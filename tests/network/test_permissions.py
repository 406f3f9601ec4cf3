"""Admission: each kind of unwelcome peer is refused with its own reason word."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from network.identity import NodeAddress, format_address
from network.permissions import (
    PeerGate,
    PeerRefused,
    PermissionFileError,
    PermissionList,
    RefusalReason,
)
from network.pki import ConsortiumCA, Role, read_certificate

from .conftest import NOW, Consortium


class OnChainList:
    """The on-chain consortium list, as a set the test controls."""

    def __init__(self, permitted: set[NodeAddress]) -> None:
        self.permitted = permitted

    def is_node_permitted(self, address: NodeAddress) -> bool:
        return address in self.permitted


def refusal(
    gate: PeerGate,
    der: bytes,
    now: datetime.datetime = NOW,
    expected: NodeAddress | None = None,
) -> PeerRefused:
    with pytest.raises(PeerRefused) as caught:
        gate.admit(der, now, expected)
    return caught.value


def test_a_listed_member_is_admitted_with_its_entry(consortium: Consortium) -> None:
    node = consortium.make_node("Yokohama City", Role.VALIDATOR)
    gate = PeerGate(ca_certificate=consortium.ca.certificate, permissions=consortium.permissions())
    admitted = gate.admit(node.certificate_der, NOW, expected=node.address)
    assert admitted.address == node.address
    assert admitted.entry.organisation == "Yokohama City"


def test_a_strangers_self_made_certificate_is_refused(
    consortium: Consortium, tmp_path: Path
) -> None:
    stranger_ca = ConsortiumCA.create("Stranger", NOW)
    stranger = Consortium(root=tmp_path / "stranger", ca=stranger_ca).make_node("Stranger")
    gate = PeerGate(ca_certificate=consortium.ca.certificate, permissions=consortium.permissions())
    assert refusal(gate, stranger.certificate_der).reason is RefusalReason.NOT_CONSORTIUM_CA


def test_garbage_instead_of_a_certificate_is_refused(consortium: Consortium) -> None:
    gate = PeerGate(ca_certificate=consortium.ca.certificate, permissions=consortium.permissions())
    assert refusal(gate, b"\x30\x03junk").reason is RefusalReason.NOT_CONSORTIUM_CA


def test_an_expired_certificate_is_refused(consortium: Consortium) -> None:
    node = consortium.make_node("Yokohama City")
    gate = PeerGate(ca_certificate=consortium.ca.certificate, permissions=consortium.permissions())
    later = NOW + datetime.timedelta(days=1000)
    assert refusal(gate, node.certificate_der, now=later).reason is (
        RefusalReason.CERTIFICATE_EXPIRED
    )


def test_a_node_revoked_by_crl_is_refused(consortium: Consortium) -> None:
    node = consortium.make_node("Yokohama City")
    serial = read_certificate(node.files.certificate).serial_number
    gate = PeerGate(
        ca_certificate=consortium.ca.certificate,
        permissions=consortium.permissions(),
        revocation_list=consortium.ca.issue_crl([serial], NOW),
    )
    caught = refusal(gate, node.certificate_der)
    assert caught.reason is RefusalReason.REVOKED
    assert "revocation list" in str(caught)


def test_a_node_revoked_in_the_permission_file_is_refused(consortium: Consortium) -> None:
    node = consortium.make_node("Yokohama City")
    permissions = consortium.permissions().with_revoked([node.address])
    gate = PeerGate(ca_certificate=consortium.ca.certificate, permissions=permissions)
    assert refusal(gate, node.certificate_der).reason is RefusalReason.REVOKED


def test_a_member_not_on_the_list_is_refused(consortium: Consortium) -> None:
    listed = consortium.make_node("Yokohama City")
    unlisted = consortium.make_node("Shibuya")
    gate = PeerGate(
        ca_certificate=consortium.ca.certificate, permissions=consortium.permissions([listed])
    )
    caught = refusal(gate, unlisted.certificate_der)
    assert caught.reason is RefusalReason.NOT_PERMITTED
    assert format_address(unlisted.address) in str(caught)


def test_a_role_the_list_does_not_grant_is_refused(consortium: Consortium) -> None:
    node = consortium.make_node("Partner", Role.VALIDATOR)
    permissions = PermissionList.parse(
        consortium.permissions().to_toml().replace('"validator"', '"member"')
    )
    gate = PeerGate(ca_certificate=consortium.ca.certificate, permissions=permissions)
    assert refusal(gate, node.certificate_der).reason is RefusalReason.ROLE_MISMATCH


def test_the_on_chain_list_is_consulted_too(consortium: Consortium) -> None:
    node = consortium.make_node("Yokohama City")
    on_chain = OnChainList(set())
    gate = PeerGate(
        ca_certificate=consortium.ca.certificate,
        permissions=consortium.permissions(),
        on_chain=on_chain,
    )
    assert refusal(gate, node.certificate_der).reason is RefusalReason.NOT_PERMITTED_ON_CHAIN
    on_chain.permitted.add(node.address)
    assert gate.admit(node.certificate_der, NOW).address == node.address


def test_dialing_one_node_and_meeting_another_is_refused(consortium: Consortium) -> None:
    dialed = consortium.make_node("Yokohama City")
    answered = consortium.make_node("Shibuya")
    gate = PeerGate(ca_certificate=consortium.ca.certificate, permissions=consortium.permissions())
    caught = refusal(gate, answered.certificate_der, expected=dialed.address)
    assert caught.reason is RefusalReason.UNEXPECTED_NODE


def test_updating_permissions_applies_to_the_next_admission(consortium: Consortium) -> None:
    node = consortium.make_node("Yokohama City")
    gate = PeerGate(ca_certificate=consortium.ca.certificate, permissions=consortium.permissions())
    gate.admit(node.certificate_der, NOW)
    gate.update_permissions(PermissionList(nodes=()))
    assert refusal(gate, node.certificate_der).reason is RefusalReason.NOT_PERMITTED


def test_the_permission_file_round_trips(consortium: Consortium, tmp_path: Path) -> None:
    consortium.make_node("Yokohama City", Role.VALIDATOR)
    member = consortium.make_node("Partner", Role.MEMBER)
    permissions = consortium.permissions().with_revoked([member.address])
    path = tmp_path / "permissions.toml"
    permissions.save(path)
    loaded = PermissionList.load(path)
    assert loaded == permissions
    assert loaded.validators == [consortium.nodes[0].address]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nodes = [", "not valid TOML"),
        ("version = 2", "version 2"),
        ('[[nodes]]\norganisation = "x"', "lacks 'address'"),
        ('[[nodes]]\naddress = "0x12"\norganisation = "x"', "must be 20 bytes"),
        (
            f'[[nodes]]\naddress = "0x{"11" * 20}"\norganisation = "x"\nrole = "boss"',
            "'boss' is not a valid Role",
        ),
        (
            f'[[nodes]]\naddress = "0x{"11" * 20}"\norganisation = "x"\n'
            f'[[nodes]]\naddress = "0x{"11" * 20}"\norganisation = "y"',
            "listed twice",
        ),
    ],
)
def test_a_malformed_permission_file_names_the_problem(text: str, message: str) -> None:
    with pytest.raises(PermissionFileError, match=message):
        PermissionList.parse(text)
