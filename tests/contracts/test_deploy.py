"""Deployment records and event decoding helpers."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_account import Account

from contracts.deploy import Deployment, DeploymentFileError
from contracts.events import decode_logs
from contracts.transactions import create_address
from tests.contracts.harness import KAWASAKI, Harness


def test_deployment_round_trips_through_its_json_file(ledger: Harness, tmp_path: Path) -> None:
    path = tmp_path / "deployment.json"
    ledger.client.deployment.save(path)
    assert Deployment.load(path) == ledger.client.deployment
    with pytest.raises(DeploymentFileError, match=r"lacks .registry."):
        Deployment.from_json({"chain_id": 1, "consortium": "0x" + "00" * 20})


def test_create_address_matches_the_chain(ledger: Harness) -> None:
    deployment = ledger.client.deployment
    # The deployment's first two transactions created the Consortium implementation and its
    # proxy, from the deployer's nonce before it.
    creator = Account.from_key(ledger.funder_key).address
    assert create_address(creator, ledger.deployer_first_nonce + 1) == deployment.consortium
    assert create_address(creator, ledger.deployer_first_nonce + 2) != deployment.consortium


def test_decode_logs_skips_foreign_logs_and_keeps_order(ledger: Harness) -> None:
    resident = ledger.new_resident(KAWASAKI)
    sent = ledger.client.grant(
        ledger.municipality(KAWASAKI).management_terminal_key, resident, KAWASAKI, 5, activity=3
    )
    logs = list(sent.receipt["logs"])
    foreign = dict(logs[0])
    foreign["address"] = "0x" + "12" * 20
    decoded = decode_logs(ledger.client.deployment, [foreign, *logs])
    assert [event.name for event in decoded] == [event.name for event in sent.events]
    assert decoded[-1].args["activity"] == 3
