"""Services built from `mykey net init` data directories find each other over real TLS."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from pathlib import Path

import pytest

from network.cli import main
from network.config import ChainIdentity, PeerEndpoint
from network.datadir import NetworkSetupError, open_network, reload_permissions
from network.identity import NodeKey
from network.permissions import PermissionList
from network.settings import load_settings
from network.transport import NetworkService

from .conftest import FakeChain
from .support import FAST, eventually, free_port, logged

CHAIN = ChainIdentity(chain_id=1337, genesis_hash=b"\x11" * 32)


def consortium_on_free_ports(folder: Path, count: int) -> list[Path]:
    """Run `net init`, then move every node to a free loopback port (tests never fix ports)."""
    assert main(["init", str(folder), "-n", str(count)]) == 0
    datadirs = [folder / f"node{index + 1}" for index in range(count)]
    ports = {load_settings(d).port: free_port() for d in datadirs}
    for datadir in datadirs:
        settings = load_settings(datadir)
        moved = replace(
            settings,
            port=ports[settings.port],
            peers=tuple(
                PeerEndpoint(peer.address, peer.host, ports[peer.port]) for peer in settings.peers
            ),
        )
        moved.save(datadir)
    return datadirs


def open_from(datadir: Path, chain: FakeChain) -> NetworkService:
    return open_network(
        datadir,
        chain=CHAIN,
        block_source=chain,
        tx_sink=chain,
        consensus_sink=chain,
        block_importer=chain,
        config=FAST,
    )


def test_a_net_init_consortium_connects_gossips_and_applies_revocations(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="network")
    datadirs = consortium_on_free_ports(tmp_path / "c", 3)
    chains = [FakeChain() for _ in datadirs]

    async def scenario() -> None:
        services = [open_from(d, chain) for d, chain in zip(datadirs, chains, strict=True)]
        for running in services:
            await running.start()
        try:
            for running in services:
                await running.wait_for_peers(2, 10)
            services[0].broadcast_transactions([b"raw-tx"])
            await eventually(lambda: all(len(chain.transactions) == 1 for chain in chains[1:]))

            third = services[2].address
            permissions = PermissionList.load(datadirs[0] / "permissions.toml")
            permissions.with_revoked([third]).save(datadirs[0] / "permissions.toml")
            reload_permissions(services[0], datadirs[0])
            await eventually(lambda: third not in {peer.address for peer in services[0].peers()})
            assert logged(caplog, "dropping peer", "revoked")
            assert len(services[1].peers()) == 2  # the others keep it until they revoke it too
        finally:
            for running in services:
                await running.stop()

    asyncio.run(scenario())


def test_a_node_key_that_does_not_match_the_certificate_is_caught(tmp_path: Path) -> None:
    (datadir,) = consortium_on_free_ports(tmp_path / "c", 1)
    key_path = datadir / "keys" / "node.key"
    key_path.unlink()
    NodeKey.generate().save(key_path)
    with pytest.raises(NetworkSetupError, match="binds"):
        open_from(datadir, FakeChain())


def test_a_missing_permission_file_is_named(tmp_path: Path) -> None:
    (datadir,) = consortium_on_free_ports(tmp_path / "c", 1)
    (datadir / "permissions.toml").unlink()
    with pytest.raises(NetworkSetupError, match=r"permissions\.toml"):
        open_from(datadir, FakeChain())
