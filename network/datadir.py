"""Build a node's `NetworkService` from its data directory, as `mykey net init` laid it out.

This is the one call the node integration needs: it reads `network.toml`, the TLS files under
`keys/`, the permission file and the CA's revocation list, checks that `keys/node.key` is the key
the TLS certificate binds (a swapped key would otherwise surface only as every peer refusing us),
and returns a service ready to `start()`. `reload_permissions` re-reads the permission file and CRL
and applies them to a running service (connected peers they no longer admit are dropped).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from cryptography import x509

from network.config import ChainIdentity, TransportConfig
from network.identity import NodeKey, NodeKeyError, format_address
from network.permissions import OnChainPermissions, PeerGate, PermissionFileError, PermissionList
from network.pki import BindingError, NodeTlsFiles, PkiError, read_certificate, read_crl
from network.pki import read_node_binding as read_binding
from network.ports import BlockImporter, BlockSource, ConsensusSink, TxSink
from network.settings import NetworkSettings, SettingsError, load_settings
from network.transport import NetworkService

NODE_KEY_FILE = Path("keys") / "node.key"


class NetworkSetupError(Exception):
    """The data directory's network files are missing or disagree; the message names the file."""


def _revocation_list(
    settings: NetworkSettings, ca_certificate: x509.Certificate
) -> x509.CertificateRevocationList | None:
    if settings.revocation_list is None:
        return None
    return read_crl(settings.revocation_list, ca_certificate)


def open_network(
    datadir: Path,
    *,
    chain: ChainIdentity,
    block_source: BlockSource,
    tx_sink: TxSink,
    consensus_sink: ConsensusSink,
    block_importer: BlockImporter | None = None,
    on_chain: OnChainPermissions | None = None,
    config: TransportConfig | None = None,
) -> NetworkService:
    """Return the NetworkService for `datadir` (not started).

    `config`, when given, supplies limits and timeouts; host, port and static peers always come
    from `network.toml`. Raises NetworkSetupError naming the file that is missing or wrong.
    """
    try:
        settings = load_settings(datadir)
        tls_files = NodeTlsFiles.in_keys_folder(datadir / "keys")
        ca_certificate = read_certificate(tls_files.ca_certificate)
        own = read_binding(read_certificate(tls_files.certificate))
        node_key = NodeKey.load(datadir / NODE_KEY_FILE)
        permissions = PermissionList.load(settings.permissions)
        revocation_list = _revocation_list(settings, ca_certificate)
    except (SettingsError, PkiError, BindingError, PermissionFileError) as error:
        raise NetworkSetupError(str(error)) from error
    except (NodeKeyError, OSError) as error:
        raise NetworkSetupError(f"node key {datadir / NODE_KEY_FILE}: {error}") from error
    if node_key.address != own.address:
        raise NetworkSetupError(
            f"{datadir / NODE_KEY_FILE} is the key of {format_address(node_key.address)} but "
            f"{tls_files.certificate} binds {format_address(own.address)}; restore the matching "
            "key or have the consortium CA issue a certificate for this one"
        )
    gate = PeerGate(
        ca_certificate=ca_certificate,
        permissions=permissions,
        revocation_list=revocation_list,
        on_chain=on_chain,
    )
    base = config or TransportConfig()
    return NetworkService(
        tls_files=tls_files,
        gate=gate,
        chain=chain,
        block_source=block_source,
        tx_sink=tx_sink,
        consensus_sink=consensus_sink,
        block_importer=block_importer,
        config=replace(base, host=settings.host, port=settings.port, static_peers=settings.peers),
    )


def reload_permissions(service: NetworkService, datadir: Path) -> None:
    """Re-read the permission file and CRL of `datadir` and apply them to `service`.

    Raises NetworkSetupError (and changes nothing) when either file is unreadable.
    """
    try:
        settings = load_settings(datadir)
        ca_certificate = read_certificate(datadir / "keys" / "ca.crt")
        permissions = PermissionList.load(settings.permissions)
        revocation_list = _revocation_list(settings, ca_certificate)
    except (SettingsError, PkiError, PermissionFileError) as error:
        raise NetworkSetupError(str(error)) from error
    service.update_permissions(permissions, revocation_list)
