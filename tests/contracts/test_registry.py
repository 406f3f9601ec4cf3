"""MyKey registry: 8 upper-case letters or digits checked on-chain, platform-only writes."""

from __future__ import annotations

import pytest

from contracts.domain import InvalidMykeyIdError, parse_mykey_id
from tests.contracts.harness import KAWASAKI, TOSHIMA, Harness, refused


@pytest.mark.parametrize(
    "raw", [b"abcd1234", b"ABCD-123", b"ABCD 123", b"ABCD\x00123", "ＡBCD1234".encode()[:8]]
)
def test_chain_refuses_bad_mykey_id_characters(ledger: Harness, raw: bytes) -> None:
    with refused("InvalidMykeyId", "upper-case letters or digits"):
        ledger.client.send(
            ledger.platform, ledger.client.registry.functions.register(raw, KAWASAKI)
        )


@pytest.mark.parametrize("text", ["abcd1234", "ABC123", "ABCD12345", "ＡＢＣＤ1234"])
def test_python_refuses_bad_mykey_ids(text: str) -> None:
    with pytest.raises(InvalidMykeyIdError):
        parse_mykey_id(text)


def test_register_is_platform_only_unique_and_needs_an_admitted_home(ledger: Harness) -> None:
    sent = ledger.client.register_mykey(ledger.platform, "A01B2C3D", KAWASAKI)
    assert sent.event("MykeyRegistered").args == {
        "mykeyId": "A01B2C3D",
        "homeMunicipality": KAWASAKI,
    }
    assert ledger.client.mykey_status("A01B2C3D") == (1, KAWASAKI)
    with refused("MykeyTaken", "choose another"):
        ledger.client.register_mykey(ledger.platform, "A01B2C3D", TOSHIMA)
    with refused("NotPlatform"):
        ledger.client.register_mykey(ledger.municipality(KAWASAKI).admin_key, "ZZZZ0000", KAWASAKI)
    with refused("MunicipalityNotAdmitted", "13101"):
        ledger.client.register_mykey(ledger.platform, "ZZZZ0000", 13101)


def test_revoke_rebind_and_home_change(ledger: Harness) -> None:
    resident = ledger.new_resident(KAWASAKI)
    ledger.grant(resident, KAWASAKI, 123)
    ledger.client.revoke_mykey(ledger.platform, resident)
    assert ledger.client.mykey_status(resident) == (2, KAWASAKI)
    with refused("MykeyRevoked"):
        ledger.client.set_home(ledger.platform, resident, TOSHIMA)
    with refused("NotPlatform"):
        ledger.client.rebind_mykey(ledger.municipality(KAWASAKI).admin_key, resident)
    ledger.client.rebind_mykey(ledger.platform, resident)
    ledger.client.set_home(ledger.platform, resident, TOSHIMA)
    assert ledger.client.mykey_status(resident) == (1, TOSHIMA)
    assert ledger.client.balance_of(resident, KAWASAKI) == 123
    with refused("MykeyUnknown"):
        ledger.client.revoke_mykey(ledger.platform, "NOBODY00")
