"""Node keys, node certificates and the node binding that ties them together."""

from __future__ import annotations

import datetime
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from network.identity import NodeKey, NodeKeyError, address_of, format_address, parse_address
from network.pki import (
    NODE_BINDING_OID,
    BindingError,
    CertificateOutOfValidity,
    ConsortiumCA,
    PkiError,
    Role,
    generate_tls_key,
    read_certificate,
    read_crl,
    read_node_binding,
    verify_issued_by,
    write_crl,
)

from .conftest import NOW, Consortium
from .support import forged_certificate


def test_address_of_private_key_one_is_the_well_known_one() -> None:
    key = NodeKey((1).to_bytes(32, "big"))
    assert format_address(key.address) == "0x7e5f4552091a69125d5dfcb7b8c2659029395bdf"


def test_node_key_file_is_hex_mode_0600_and_loads_back(tmp_path: Path) -> None:
    key = NodeKey.generate()
    path = tmp_path / "keys" / "node.key"
    key.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() == key.secret.hex()
    assert NodeKey.load(path) == key
    assert key.secret.hex() not in repr(key)


def test_malformed_keys_and_addresses_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.key"
    path.write_text("not hex")
    with pytest.raises(NodeKeyError, match="does not hold hexadecimal"):
        NodeKey.load(path)
    with pytest.raises(NodeKeyError, match="32 bytes, got 3"):
        NodeKey(b"abc")
    with pytest.raises(NodeKeyError, match="must be 20 bytes"):
        parse_address("0x1234")
    with pytest.raises(NodeKeyError, match="64 bytes, got 65"):
        address_of(b"\x04" + b"\x00" * 64)


def test_a_node_certificate_names_its_node_key_role_and_organisation(
    consortium: Consortium,
) -> None:
    node = consortium.make_node("Yokohama City", Role.VALIDATOR)
    certificate = read_certificate(node.files.certificate)
    binding = read_node_binding(certificate)
    assert binding.address == node.address
    assert binding.node_public_key == node.key.public_key
    assert binding.role is Role.VALIDATOR
    assert binding.organisation == "Yokohama City"
    verify_issued_by(certificate, consortium.ca.certificate, NOW)
    assert stat.S_IMODE(node.files.private_key.stat().st_mode) == 0o600


def test_a_certificate_naming_another_nodes_key_is_refused(consortium: Consortium) -> None:
    victim = consortium.make_node("Yokohama City")
    thief_key = NodeKey.generate()
    forged, _ = forged_certificate(consortium.ca, named=victim.key, signer=thief_key)
    verify_issued_by(forged, consortium.ca.certificate, NOW)  # the CA did sign it ...
    with pytest.raises(BindingError, match=f"made by {format_address(thief_key.address)}"):
        read_node_binding(forged)  # ... but the victim's key never endorsed that TLS key


def test_a_binding_copied_onto_another_tls_key_is_refused(consortium: Consortium) -> None:
    node = consortium.make_node("Shibuya")
    original = read_certificate(node.files.certificate)
    binding = original.extensions.get_extension_for_oid(NODE_BINDING_OID).value
    assert isinstance(binding, x509.UnrecognizedExtension)
    copied = (
        x509.CertificateBuilder()
        .subject_name(original.subject)
        .issuer_name(consortium.ca.certificate.subject)
        .public_key(generate_tls_key().public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(days=1))
        .not_valid_after(NOW + datetime.timedelta(days=1))
        .add_extension(binding, critical=False)
        .sign(consortium.ca.key, hashes.SHA256())
    )
    with pytest.raises(BindingError, match="TLS key was not endorsed"):
        read_node_binding(copied)


def test_a_certificate_without_binding_is_refused(consortium: Consortium) -> None:
    with pytest.raises(BindingError, match="no node-binding extension"):
        read_node_binding(consortium.ca.certificate)


def test_another_cas_certificate_and_expiry_are_refused(
    consortium: Consortium, tmp_path: Path
) -> None:
    node = consortium.make_node("Yokohama City")
    certificate = read_certificate(node.files.certificate)
    stranger_ca = ConsortiumCA.create("Stranger", NOW)
    with pytest.raises(PkiError, match="is not the consortium CA"):
        verify_issued_by(certificate, stranger_ca.certificate, NOW)
    with pytest.raises(CertificateOutOfValidity, match="valid from"):
        verify_issued_by(certificate, consortium.ca.certificate, NOW + datetime.timedelta(days=900))


def test_a_crl_lists_revoked_serials_and_must_be_signed_by_the_ca(
    consortium: Consortium, tmp_path: Path
) -> None:
    node = consortium.make_node("Yokohama City")
    serial = read_certificate(node.files.certificate).serial_number
    path = tmp_path / "revoked.crl.pem"
    write_crl(path, consortium.ca.issue_crl([serial], NOW))
    crl = read_crl(path, consortium.ca.certificate)
    assert crl.get_revoked_certificate_by_serial_number(serial) is not None
    with pytest.raises(PkiError, match="not signed by the consortium CA"):
        read_crl(path, ConsortiumCA.create("Stranger", NOW).certificate)


def test_the_ca_saves_and_loads_with_a_private_key_mode_0600(tmp_path: Path) -> None:
    ca = ConsortiumCA.create("Test", NOW)
    ca.save(tmp_path / "ca")
    assert stat.S_IMODE((tmp_path / "ca" / "ca.key").stat().st_mode) == 0o600
    loaded = ConsortiumCA.load(tmp_path / "ca")
    assert loaded.certificate == ca.certificate
