"""Fixtures for the consensus tests: four real secp256k1 test keys and a toy chain per validator.

The keys are clearly named test keys, derived from a fixed phrase; they guard nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from eth_hash.auto import keccak

from node.consensus.crypto import KeySigner, recover_address
from node.consensus.events import StartHeight
from node.consensus.simulation import ToyChain
from node.consensus.state import ZERO_ADDRESS, Config, Context, ValidatorState, initial_state, step
from node.ports import Address

CONFIG = Config(block_period_ms=1000, request_timeout_ms=1000)


@dataclass
class Network:
    """Four validators sorted by address, each with its own chain and context."""

    signers: list[KeySigner]
    chains: list[ToyChain]
    contexts: list[Context]

    @property
    def validators(self) -> tuple[Address, ...]:
        return tuple(s.address for s in self.signers)

    def started(self, index: int, config: Config = CONFIG) -> ValidatorState:
        """Return validator `index` after StartHeight(1) at time 0."""
        context = Context(config, self.chains[index], self.signers[index], recover_address)
        state, _ = step(initial_state(context), StartHeight(1, self.validators, ZERO_ADDRESS, 0), 0)
        return state


def make_network(count: int = 4) -> Network:
    signers = sorted(
        (KeySigner(keccak(b"consensus unit test key %d" % i)) for i in range(count)),
        key=lambda s: s.address,
    )
    validators = tuple(s.address for s in signers)
    chains = [ToyChain(validators) for _ in signers]
    contexts = [
        Context(CONFIG, c, s, recover_address) for c, s in zip(chains, signers, strict=True)
    ]
    return Network(signers, chains, contexts)


@pytest.fixture
def network() -> Network:
    return make_network()
