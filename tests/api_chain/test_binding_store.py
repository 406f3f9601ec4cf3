"""The SQL BindingStore behind card_bridge's BindingService, run beside the memory one."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from api.store.bindings import SqlBindingStore
from api.store.database import open_store
from card_bridge.platform_checks.authentication import AuthenticatedCard
from card_bridge.platform_checks.binding import (
    BindingService,
    BindingStore,
    CardAlreadyBound,
    CardNotBound,
    MemoryBindingStore,
    MykeyId,
    MykeyIdAlreadyBound,
)
from card_bridge.platform_checks.certificates import Purpose
from card_bridge.virtual_card.issuance import TestAuthority, issue_card

SECRET = b"test platform binding secret, 32+ bytes long"
NOW = datetime(2027, 4, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def authority() -> TestAuthority:
    return TestAuthority.create(NOW)


def _card(authority: TestAuthority, purpose: Purpose = Purpose.AUTHENTICATION) -> AuthenticatedCard:
    return AuthenticatedCard(issue_card(authority, NOW).auth_certificate, purpose, NOW)


@pytest.fixture(params=["sql", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BindingStore]:
    if request.param == "memory":
        yield MemoryBindingStore()
        return
    opened = open_store(f"sqlite:///{tmp_path / 'bindings.sqlite'}")
    yield SqlBindingStore(opened)
    opened.close()


def test_bind_identify_and_conflicts(store: BindingStore, authority: TestAuthority) -> None:
    service = BindingService(store, SECRET)
    card, other = _card(authority), _card(authority)
    service.bind(card, MykeyId("TANAKA01"))

    assert service.identify(card) == "TANAKA01"
    with pytest.raises(CardAlreadyBound):
        service.bind(card, MykeyId("SUZUKI02"))
    with pytest.raises(MykeyIdAlreadyBound):
        service.bind(other, MykeyId("TANAKA01"))
    with pytest.raises(CardNotBound):
        service.identify(other)


def test_rebind_after_renewal_retires_the_old_card(
    store: BindingStore, authority: TestAuthority
) -> None:
    service = BindingService(store, SECRET)
    old = _card(authority)
    service.bind(old, MykeyId("TANAKA01"))
    previous = AuthenticatedCard(old.certificate, Purpose.PROVE_PREVIOUS_BINDING, NOW)
    renewed = AuthenticatedCard(
        _card(authority).certificate, Purpose.AUTHENTICATION, NOW + timedelta(days=1)
    )

    binding = service.rebind_with_previous_card(previous, renewed)

    assert binding.mykey_id == "TANAKA01"
    assert service.identify(renewed) == "TANAKA01"
    with pytest.raises(CardNotBound):
        service.identify(old)
    active = store.active_by_mykey_id(MykeyId("TANAKA01"))
    assert active is not None
    assert active.bound_at == NOW + timedelta(days=1)


def test_sql_bindings_survive_reopening(tmp_path: Path, authority: TestAuthority) -> None:
    url = f"sqlite:///{tmp_path / 'bindings.sqlite'}"
    first = open_store(url)
    card = _card(authority)
    BindingService(SqlBindingStore(first), SECRET).bind(card, MykeyId("TANAKA01"))
    first.close()
    second = open_store(url)
    try:
        assert BindingService(SqlBindingStore(second), SECRET).identify(card) == "TANAKA01"
    finally:
        second.close()
