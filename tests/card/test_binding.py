"""Binding a card to a MyKey ID: opaque keyed identifiers, one card per ID, re-binding."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from card_bridge.platform_checks.authentication import AuthenticatedCard
from card_bridge.platform_checks.binding import (
    BindingMethod,
    BindingService,
    CardAlreadyBound,
    CardNotBound,
    InvalidMykeyId,
    MemoryBindingStore,
    MykeyId,
    MykeyIdAlreadyBound,
    PreviousBindingNotProved,
    card_key_id,
    parse_mykey_id,
)
from card_bridge.platform_checks.certificates import Purpose
from card_bridge.virtual_card.issuance import issue_card
from tests.card.conftest import NOW, Pki

SECRET = bytes(range(32))
Cards = tuple[x509.Certificate, x509.Certificate, x509.Certificate]
Service = tuple[BindingService, MemoryBindingStore]
ALICE = MykeyId("A1B2C3D4")
BOB = MykeyId("ZZ990011")


def authenticated(
    certificate: x509.Certificate, purpose: Purpose = Purpose.AUTHENTICATION
) -> AuthenticatedCard:
    return AuthenticatedCard(certificate, purpose, NOW)


@pytest.fixture
def cards(pki: Pki) -> Cards:
    first = pki.card.auth_certificate
    second = issue_card(pki.authority, NOW, key=pki.keys[1]).auth_certificate
    third = issue_card(pki.authority, NOW, key=pki.keys[2]).auth_certificate
    return first, second, third


@pytest.fixture
def service() -> Service:
    store = MemoryBindingStore()
    return BindingService(store, SECRET), store


def test_card_key_id_is_a_keyed_hash_of_the_public_key_not_the_serial(pki: Pki) -> None:
    card = authenticated(pki.card.auth_certificate)
    identifier = card_key_id(card, SECRET)
    spki = pki.card.auth_certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    expected = hmac.new(SECRET, b"mykey-ledger/card-key-id/v1\x00" + spki, hashlib.sha256)
    assert identifier == expected.digest()
    assert card_key_id(card, bytes(32)) != identifier  # meaningless without the secret
    serial = pki.card.auth_certificate.serial_number.to_bytes(20, "big").lstrip(b"\x00")
    assert bytes(identifier).find(serial) == -1
    # A certificate re-issued for the same key keeps its identifier; the serial plays no part.
    same_key = pki.authority.issue_auth_certificate(
        pki.card.auth_certificate.public_key(),
        not_before=NOW,
        not_after=NOW + timedelta(days=1),
    )
    assert card_key_id(authenticated(same_key), SECRET) == identifier
    with pytest.raises(ValueError, match="32 bytes"):
        card_key_id(card, b"short")


def test_bind_and_identify(service: Service, cards: Cards) -> None:
    bindings, store = service
    first, second, _ = cards
    binding = bindings.bind(authenticated(first), ALICE)
    assert binding.method is BindingMethod.REGISTRATION
    assert bindings.identify(authenticated(first)) == ALICE
    with pytest.raises(CardNotBound):
        bindings.identify(authenticated(second))
    with pytest.raises(CardAlreadyBound):
        bindings.bind(authenticated(first), BOB)
    with pytest.raises(MykeyIdAlreadyBound):
        bindings.bind(authenticated(second), ALICE)
    assert len(store.rows) == 1


@pytest.mark.parametrize("text", ["a1b2c3d4", "A1B2C3D", "A1B2C3D45", "A1B2-3D4", "Ａ1B2C3D4"])
def test_mykey_ids_are_eight_upper_case_letters_and_digits(text: str) -> None:
    with pytest.raises(InvalidMykeyId):
        parse_mykey_id(text)
    assert parse_mykey_id("A1B2C3D4") == "A1B2C3D4"


def test_rebind_with_the_previous_card(service: Service, cards: Cards) -> None:
    bindings, store = service
    old, renewed, _ = cards
    bindings.bind(authenticated(old), ALICE)
    binding = bindings.rebind_with_previous_card(
        authenticated(old, Purpose.PROVE_PREVIOUS_BINDING), authenticated(renewed)
    )
    assert binding.method is BindingMethod.PREVIOUS_CARD
    assert bindings.identify(authenticated(renewed)) == ALICE
    with pytest.raises(CardNotBound):
        bindings.identify(authenticated(old))
    assert [row.retired_at is not None for row in store.rows] == [True, False]


def test_rebinding_needs_the_previous_card_checked_for_that_purpose(
    service: Service, cards: Cards
) -> None:
    bindings, _ = service
    old, renewed, stranger = cards
    bindings.bind(authenticated(old), ALICE)
    with pytest.raises(PreviousBindingNotProved):
        bindings.rebind_with_previous_card(authenticated(old), authenticated(renewed))
    with pytest.raises(CardNotBound):
        bindings.rebind_with_previous_card(
            authenticated(stranger, Purpose.PROVE_PREVIOUS_BINDING), authenticated(renewed)
        )
    with pytest.raises(PreviousBindingNotProved):
        bindings.identify(authenticated(old, Purpose.PROVE_PREVIOUS_BINDING))
    bindings.bind(authenticated(stranger), BOB)
    with pytest.raises(CardAlreadyBound):
        bindings.rebind_with_previous_card(
            authenticated(old, Purpose.PROVE_PREVIOUS_BINDING), authenticated(stranger)
        )
    assert bindings.identify(authenticated(old)) == ALICE  # nothing changed by the failure


def test_rebind_by_the_municipality(service: Service, cards: Cards) -> None:
    bindings, _ = service
    lost, renewed, _ = cards
    bindings.bind(authenticated(lost), ALICE)
    binding = bindings.rebind_by_municipality(
        ALICE, authenticated(renewed), municipality_code="14130"
    )
    assert binding.method is BindingMethod.MUNICIPALITY
    assert binding.municipality_code == "14130"
    assert bindings.identify(authenticated(renewed)) == ALICE
    with pytest.raises(CardNotBound):
        bindings.rebind_by_municipality(BOB, authenticated(lost), municipality_code="14130")
