"""The on-chain node list (`Consortium.isNodeAllowed`) as the peer gate sees it, on a real node.

Before the contract exists the local permission file alone decides; once it exists a node must
be allowed there too, and the answer follows the platform's changes block by block.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from web3 import HTTPProvider, Web3
from web3.middleware import ExtraDataToPOAMiddleware

from contracts.client import LedgerClient
from contracts.deploy import deploy_ledger
from network.settings import SettingsError, load_settings
from node.chain import Chain
from node.devmode import start_embedded
from node.onchain_permissions import ContractNodePermissions
from node.ports import Address

MEMBER = bytes.fromhex("11" * 20)
STRANGER = bytes.fromhex("22" * 20)


def test_the_gate_follows_the_consortium_contract(tmp_path: Path) -> None:
    with start_embedded(tmp_path / "node") as node:
        w3 = Web3(HTTPProvider(node.http_url))
        w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
        platform_key = node.dev_accounts[0].private_key
        chain = node.service.ledger.chain
        assert isinstance(chain, Chain)
        # The address the deployment will use, known before it exists (the deployer's nonces).
        not_yet = ContractNodePermissions(chain, Address(bytes.fromhex("ab" * 20)))
        assert not not_yet.in_force()
        assert not_yet.is_node_permitted(STRANGER)  # no contract: the local file decides

        deployment = deploy_ledger(w3, platform_key)
        gate = ContractNodePermissions(chain, Address(bytes.fromhex(deployment.consortium[2:])))
        assert gate.in_force()
        assert not gate.is_node_permitted(MEMBER)  # in force, and nobody allowed yet

        client = LedgerClient(w3, deployment)
        client.set_node_allowed(platform_key, "0x" + MEMBER.hex(), True)
        assert gate.is_node_permitted(MEMBER)
        assert not gate.is_node_permitted(STRANGER)

        client.set_node_allowed(platform_key, "0x" + MEMBER.hex(), False)
        assert not gate.is_node_permitted(MEMBER)


def test_network_settings_read_and_check_the_contract_address(tmp_path: Path) -> None:
    (tmp_path / "network.toml").write_text(
        '[p2p]\npermissions_contract = "0x' + "ab" * 20 + '"\n', encoding="utf-8"
    )
    assert load_settings(tmp_path).permissions_contract == bytes.fromhex("ab" * 20)
    (tmp_path / "network.toml").write_text(
        '[p2p]\npermissions_contract = "0x1234"\n', encoding="utf-8"
    )
    with pytest.raises(SettingsError, match="permissions_contract"):
        load_settings(tmp_path)
    (tmp_path / "network.toml").write_text("[p2p]\n", encoding="utf-8")
    assert load_settings(tmp_path).permissions_contract is None
