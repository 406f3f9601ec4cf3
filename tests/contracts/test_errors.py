"""Every refusal any contract can raise decodes to a sentence a person can act on."""

from __future__ import annotations

from typing import Any

import pytest
from eth_abi.abi import encode
from eth_utils.abi import function_signature_to_4byte_selector

from contracts.artifacts import all_error_abis
from contracts.errors import MESSAGES, decode_revert

SAMPLES: dict[str, Any] = {
    "address": "0x" + "ab" * 20,
    "bytes8": b"A01B2C3D",
    "bytes32": b"\x01" * 32,
    "string": "141306",
    "bool": True,
}


def _sample(abi_type: str) -> Any:
    return SAMPLES.get(abi_type, 1)


@pytest.mark.parametrize("error", all_error_abis(), ids=lambda e: e["name"])
def test_every_contract_error_has_a_readable_message(error: dict[str, Any]) -> None:
    types = [i["type"] for i in error["inputs"]]
    selector = function_signature_to_4byte_selector(f"{error['name']}({','.join(types)})")
    refusal = decode_revert(selector + encode(types, [_sample(t) for t in types]))
    assert refusal.name == error["name"]
    assert error["name"] in MESSAGES
    assert refusal.message and "{" not in refusal.message


def test_readable_arguments() -> None:
    selector = function_signature_to_4byte_selector(
        "InsufficientPoints(bytes8,uint32,uint32,uint256,uint256)"
    )
    refusal = decode_revert(
        selector
        + encode(["bytes8", "uint32", "uint32", "uint256", "uint256"], [b"A01B2C3D", 1100, 0, 5, 9])
    )
    assert (
        refusal.message
        == "MyKey ID A01B2C3D has 5 points in account 0 of municipality 01100; 9 were asked for"
    )


def test_string_reasons_panics_and_unknown_data_decode_without_raising() -> None:
    error_string = function_signature_to_4byte_selector("Error(string)") + encode(
        ["string"], ["nope"]
    )
    assert decode_revert(error_string).message == "nope"
    panic = function_signature_to_4byte_selector("Panic(uint256)") + encode(["uint256"], [0x11])
    assert "overflow" in decode_revert(panic).message
    assert decode_revert(b"\xde\xad\xbe\xef").name == "Unknown"
