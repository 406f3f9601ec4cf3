"""The operator's cap on the QBFT round timer: parsed from the command line, given to consensus."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.cli import main as node_main
from node.consortium import ConsortiumNode, ConsortiumOptions
from node.consortium_cli import round_timeout_cap_ms
from node.genesis import CHAIN_DIR, GENESIS_FILE, init_datadir
from node.ledger import open_ledger
from tests.consortium.harness import make_consortium


def test_the_cap_is_read_in_seconds_and_must_be_positive() -> None:
    assert round_timeout_cap_ms(None) is None
    assert round_timeout_cap_ms(2.5) == 2500
    with pytest.raises(ValueError, match="positive"):
        round_timeout_cap_ms(0)


def test_node_run_refuses_a_cap_that_is_not_positive(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    node = make_consortium(tmp_path / "net", ["platform", "kawasaki"])[0]
    assert node_main(["run", "--datadir", str(node.datadir), "--round-timeout-cap", "-1"]) == 2
    assert "--round-timeout-cap must be positive" in capsys.readouterr().err


def test_the_consensus_driver_gets_the_cap(tmp_path: Path) -> None:
    node = make_consortium(tmp_path / "net", ["platform", "kawasaki"])[0]
    if not (node.datadir / CHAIN_DIR).exists():
        init_datadir(node.datadir, node.datadir / GENESIS_FILE)
    ledger = open_ledger(node.datadir)
    try:
        capped = ConsortiumNode(node.datadir, ledger, ConsortiumOptions(round_timeout_cap_ms=4000))
        assert capped.driver is not None
        assert capped.driver._context.config.round_timeout_cap_ms == 4000
        capped.driver.close()
    finally:
        ledger.close()
