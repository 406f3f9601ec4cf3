"""Everything the chain side of one running API holds, built once from a `ChainConfig`.

`create_app(settings, chain=...)` takes a `ChainSide`; without one, the terminal, treasurer and
conversion endpoints answer 503 problems (as the ledger ports do) and the rest still serves.

Invariant: a chain side built from settings (`chain_side_from_settings`, what `mykey api serve`
and `mykey dev` use) talks to a node whose chain ID is the deployment's; it is checked once
there, because the lean web3 of `connect` no longer asks the node on every call.
"""

from __future__ import annotations

from dataclasses import dataclass

from requests.exceptions import RequestException
from web3 import Web3
from web3.exceptions import Web3Exception

from api.chain.attestation import PlatformAttestor
from api.chain.config import ChainConfig
from api.chain.keys import KeyRing, load_key_ring
from api.chain.ledger import Web3Ledger, connect
from api.chain.sender import DEFAULT_GAS_LIMIT, TransactionSender
from api.clock import Clock
from api.settings import ApiSettings, SettingsError, read_secret


class ChainSideError(Exception):
    """The chain side cannot start; the message names the node and what to fix."""


class ChainIdMismatch(ChainSideError):
    """The node answers with another chain ID than the deployment was made on."""


class NodeUnreachable(ChainSideError):
    """The node's JSON-RPC did not answer at start."""


@dataclass(frozen=True)
class ChainSide:
    """The chain adapters of one app: web3, the ledger ports, the attestation signer."""

    config: ChainConfig
    w3: Web3
    ledger: Web3Ledger
    attestor: PlatformAttestor


def build_chain_side(
    config: ChainConfig,
    keys: KeyRing,
    clock: Clock,
    *,
    gas_limit: int = DEFAULT_GAS_LIMIT,
    rpc_trust_env: bool = False,
    receipt_poll_seconds: float | None = None,
) -> ChainSide:
    """Connect to `config.rpc_url` (lazily: nothing is sent yet) and build the adapters.

    `rpc_trust_env` and `receipt_poll_seconds`: see ApiSettings. Raises KeystoreError when the
    key ring lacks the platform or verifier key.
    """
    w3 = connect(config.rpc_url, trust_env=rpc_trust_env)
    keys.key_of(config.platform)
    sender = TransactionSender(
        w3, config.deployment, keys, gas_limit=gas_limit, receipt_poll_seconds=receipt_poll_seconds
    )
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


def check_chain_id(side: ChainSide) -> None:
    """Ask the node once for its chain ID and compare it with the deployment's.

    Raises ChainIdMismatch (both IDs named) or NodeUnreachable (the URL named).
    """
    expected = side.config.deployment.chain_id
    try:
        actual = int(side.w3.eth.chain_id)
    except (RequestException, Web3Exception, OSError, ValueError) as error:
        raise NodeUnreachable(
            f"the node at {side.config.rpc_url} did not answer eth_chainId "
            f"({type(error).__name__}): start it or fix rpc_url in the chain config"
        ) from None
    if actual != expected:
        raise ChainIdMismatch(
            f"the node at {side.config.rpc_url} serves chain ID {actual}, but the deployment in "
            f"the chain config was made on chain ID {expected}: point rpc_url at that chain's node"
        )


def chain_side_from_settings(settings: ApiSettings, clock: Clock) -> ChainSide | None:
    """Build the chain side named by settings (`mykey api`); None when no chain is configured.

    The node's chain ID is checked once here (check_chain_id). Raises SettingsError when the
    configuration is incomplete (MYKEY_API_KEYSTORE_* without MYKEY_API_CHAIN_CONFIG or the
    reverse), ChainConfigError or KeystoreError when its files are unreadable, ChainSideError
    when the node is unreachable or on another chain.
    """
    keystore = (settings.keystore_dir, settings.keystore_password_file)
    if settings.chain_config_file is None:
        if keystore != (None, None):
            raise SettingsError(
                "MYKEY_API_KEYSTORE_DIR/MYKEY_API_KEYSTORE_PASSWORD_FILE are set but "
                "MYKEY_API_CHAIN_CONFIG is not: set it too, or unset them to run without a chain"
            )
        return None
    if settings.keystore_dir is None or settings.keystore_password_file is None:
        raise SettingsError(
            "MYKEY_API_CHAIN_CONFIG needs MYKEY_API_KEYSTORE_DIR and "
            "MYKEY_API_KEYSTORE_PASSWORD_FILE as well"
        )
    password = read_secret(settings.keystore_password_file).decode("utf-8").rstrip("\n")
    keys = load_key_ring(settings.keystore_dir, password)
    side = build_chain_side(
        ChainConfig.load(settings.chain_config_file),
        keys,
        clock,
        rpc_trust_env=settings.rpc_trust_env,
        receipt_poll_seconds=settings.receipt_poll_seconds,
    )
    check_chain_id(side)
    return side
