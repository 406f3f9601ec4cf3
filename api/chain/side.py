"""Everything the chain side of one running API holds, built once from a `ChainConfig`.

`create_app(settings, chain=...)` takes a `ChainSide`; without one, the terminal, treasurer and
conversion endpoints answer 503 problems (as the ledger ports do) and the rest still serves.
"""

from __future__ import annotations

from dataclasses import dataclass

from web3 import Web3

from api.chain.attestation import PlatformAttestor
from api.chain.config import ChainConfig
from api.chain.keys import KeyRing, load_key_ring
from api.chain.ledger import Web3Ledger, connect
from api.chain.sender import DEFAULT_GAS_LIMIT, TransactionSender
from api.clock import Clock
from api.settings import ApiSettings, SettingsError, read_secret


@dataclass(frozen=True)
class ChainSide:
    """The chain adapters of one app: web3, the ledger ports, the attestation signer."""

    config: ChainConfig
    w3: Web3
    ledger: Web3Ledger
    attestor: PlatformAttestor


def build_chain_side(
    config: ChainConfig, keys: KeyRing, clock: Clock, *, gas_limit: int = DEFAULT_GAS_LIMIT
) -> ChainSide:
    """Connect to `config.rpc_url` (lazily: nothing is sent yet) and build the adapters.

    Raises KeystoreError when the key ring lacks the platform or verifier key.
    """
    w3 = connect(config.rpc_url)
    keys.key_of(config.platform)
    sender = TransactionSender(w3, config.deployment, keys, gas_limit=gas_limit)
    ledger = Web3Ledger(
        sender,
        platform=config.platform,
        granting_terminals=dict(config.granting_terminals),
        treasurers=dict(config.treasurers),
        partners=dict(config.partners),
    )
    attestor = PlatformAttestor(
        keys, config.verifier, config.deployment, clock, config.attestation_ttl_seconds
    )
    return ChainSide(config=config, w3=w3, ledger=ledger, attestor=attestor)


def chain_side_from_settings(settings: ApiSettings, clock: Clock) -> ChainSide | None:
    """Build the chain side named by settings (`mykey api`); None when no chain is configured.

    Raises SettingsError when the configuration is incomplete, ChainConfigError or
    KeystoreError when its files are unreadable.
    """
    if settings.chain_config_file is None:
        return None
    if settings.keystore_dir is None or settings.keystore_password_file is None:
        raise SettingsError(
            "MYKEY_API_CHAIN_CONFIG needs MYKEY_API_KEYSTORE_DIR and "
            "MYKEY_API_KEYSTORE_PASSWORD_FILE as well"
        )
    password = read_secret(settings.keystore_password_file).decode("utf-8").rstrip("\n")
    keys = load_key_ring(settings.keystore_dir, password)
    return build_chain_side(ChainConfig.load(settings.chain_config_file), keys, clock)
