"""`mykey net init` and its genesis, checked against Besu's vector and the node's reader."""

from __future__ import annotations

import datetime
import json
import stat
from pathlib import Path

import pytest
import rlp
from cryptography.hazmat.primitives import serialization

from network.cli import main
from network.genesis import GenesisSpecError, consortium_genesis, encode_genesis_extra_data
from network.identity import NodeKey, parse_address
from network.permissions import PeerGate, PermissionList
from network.pki import Role, read_certificate, read_crl, read_node_binding
from network.settings import SettingsError, load_settings

BESU_DOCS_VALIDATORS = [
    "64a702e6263b7297a96638cac6ae65e6541f4169",
    "3923390ad55e90c237593b3b0e401f3b08a03185",
    "aefdb9a738c9f433e5b6b212a6d62f6370c2f692",
    "c7eeb9a4e00ce683cf93039b212648e01c6c6b78",
]
BESU_DOCS_EXTRA_DATA = (
    "f87aa0" + "00" * 32 + "f854" + "".join("94" + v for v in BESU_DOCS_VALIDATORS) + "c080c0"
)


def test_genesis_extra_data_matches_the_besu_documentation_vector() -> None:
    validators = [bytes.fromhex(v) for v in BESU_DOCS_VALIDATORS]
    assert encode_genesis_extra_data(validators).hex() == BESU_DOCS_EXTRA_DATA


def test_genesis_extra_data_refuses_impossible_sets() -> None:
    with pytest.raises(GenesisSpecError, match="at least one validator"):
        encode_genesis_extra_data([])
    with pytest.raises(GenesisSpecError, match="listed twice"):
        encode_genesis_extra_data([b"\x01" * 20, b"\x01" * 20])
    with pytest.raises(GenesisSpecError, match="not a 20-byte address"):
        encode_genesis_extra_data([b"\x01" * 19])


def test_the_genesis_document_sorts_validators_and_keeps_zero_base_fee() -> None:
    high, low = parse_address("0x" + "ff" * 20), parse_address("0x" + "01" * 20)
    document = consortium_genesis(chain_id=4242, validators=[high, low])
    extra = rlp.decode(bytes.fromhex(str(document["extraData"])[2:]))
    assert extra[1] == [low, high]
    assert document["baseFeePerGas"] == "0x0"
    with pytest.raises(GenesisSpecError, match="chain id must be positive"):
        consortium_genesis(chain_id=0, validators=[low])


def test_net_init_makes_a_consortium_every_part_agrees_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "consortium"
    code = main(
        [
            "init",
            str(folder),
            "--org",
            "MyKey Platform",
            "--org",
            "Yokohama City:validator",
            "--org",
            "Partner Airline:member",
            "--chain-id",
            "4242",
            "--p2p-port",
            "40000",
        ]
    )
    assert code == 0
    assert "validator" in capsys.readouterr().out
    permissions = PermissionList.load(folder / "permissions.toml")
    assert [node.organisation for node in permissions.nodes] == [
        "MyKey Platform",
        "Yokohama City",
        "Partner Airline",
    ]
    assert [node.role for node in permissions.nodes] == [
        Role.VALIDATOR,
        Role.VALIDATOR,
        Role.MEMBER,
    ]

    genesis = json.loads((folder / "genesis.json").read_text())
    assert genesis["config"]["chainId"] == 4242
    extra = rlp.decode(bytes.fromhex(genesis["extraData"][2:]))
    assert extra[1] == sorted(permissions.validators)

    ca_certificate = read_certificate(folder / "ca" / "ca.crt")
    assert stat.S_IMODE((folder / "ca" / "ca.key").stat().st_mode) == 0o600
    gate = PeerGate(
        ca_certificate=ca_certificate,
        permissions=permissions,
        revocation_list=read_crl(folder / "revoked.crl.pem", ca_certificate),
    )
    for index, (slug, node) in enumerate(
        zip(["mykey-platform", "yokohama-city", "partner-airline"], permissions.nodes, strict=True)
    ):
        datadir = folder / slug
        key_path = datadir / "keys" / "node.key"
        assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
        assert stat.S_IMODE((datadir / "keys" / "tls.key").stat().st_mode) == 0o600
        assert NodeKey.load(key_path).address == node.address
        certificate = read_certificate(datadir / "keys" / "tls.crt")
        assert read_node_binding(certificate).address == node.address
        der = certificate.public_bytes(serialization.Encoding.DER)
        assert gate.admit(der, datetime.datetime.now(datetime.UTC)).entry == node
        assert (datadir / "genesis.json").read_text() == (folder / "genesis.json").read_text()
        settings = load_settings(datadir)
        assert settings.port == 40000 + index
        assert {peer.address for peer in settings.peers} == {
            other.address for other in permissions.nodes if other.address != node.address
        }
        assert PermissionList.load(settings.permissions) == permissions
        assert settings.revocation_list is not None and settings.revocation_list.exists()


def test_the_node_initialises_a_net_init_data_directory_keeping_its_key(tmp_path: Path) -> None:
    from node import genesis as node_genesis  # what `mykey node init` runs

    assert main(["init", str(tmp_path / "c"), "-n", "4"]) == 0
    genesis = node_genesis.load_genesis(tmp_path / "c" / "genesis.json")
    permissions = PermissionList.load(tmp_path / "c" / "permissions.toml")
    assert list(genesis.validators) == sorted(permissions.validators)
    assert genesis.chain_id == 1337
    datadir = tmp_path / "c" / "node2"
    node_genesis.init_datadir(datadir, datadir / "genesis.json")
    key = node_genesis.load_node_key(datadir)
    assert node_genesis.node_address(key) == permissions.nodes[1].address
    assert (datadir / "chain").is_dir()
    from node.config import load_config

    config = load_config(datadir / "config.toml", genesis.qbft.block_period_seconds)
    assert (config.rpc.http_port, config.rpc.ws_port) == (8547, 8548)


def test_net_init_never_overwrites_an_existing_consortium(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init", str(tmp_path / "c"), "-n", "1"]) == 0
    key_before = (tmp_path / "c" / "node1" / "keys" / "node.key").read_text()
    assert main(["init", str(tmp_path / "c"), "-n", "1"]) == 1
    assert "is not empty" in capsys.readouterr().err
    assert (tmp_path / "c" / "node1" / "keys" / "node.key").read_text() == key_before


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--org", "A:member"], "at least one organisation must be a validator"),
        (["--org", "A", "--org", "a"], "organisation names must differ"),
        (["--org", "A:boss"], "role must be validator or member"),
    ],
)
def test_net_init_explains_what_to_change(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], arguments: list[str], message: str
) -> None:
    assert main(["init", str(tmp_path / "c"), *arguments]) == 1
    assert message in capsys.readouterr().err


def test_network_settings_name_the_bad_key(tmp_path: Path) -> None:
    (tmp_path / "network.toml").write_text('[p2p]\npeers = ["nobody"]\n')
    with pytest.raises(SettingsError, match=r"\[p2p\] peers"):
        load_settings(tmp_path)
    (tmp_path / "network.toml").write_text("[p2p]\nprot = 1\n")
    with pytest.raises(SettingsError, match="unknown key"):
        load_settings(tmp_path)
    (tmp_path / "network.toml").write_text("[p2p]\nport = 70000\n")
    with pytest.raises(SettingsError, match=r"0\.\.65535"):
        load_settings(tmp_path)
