"""Keccak-256 for the whole process: the C implementation from safe-pysha3 when it is installed.

py-evm, py-trie and eth-utils all hash through the one `eth_hash.auto.keccak` object, whose
automatic backend choice prefers pycryptodome, a Python wrapper costing about 10 µs a call; a
block of 1,000 contract calls makes tens of thousands of such calls. `use_fast_keccak()` points
that shared object at eth-hash's own "pysha3" backend (the `sha3` module of safe-pysha3, about
1.5 µs a call). Both compute the same function, so nothing else changes; without safe-pysha3 the
default stays. Importing this module applies the choice once.
"""

from __future__ import annotations

from eth_hash import auto
from eth_hash.utils import load_backend


def use_fast_keccak() -> str:
    """Switch eth_hash.auto.keccak to the C backend if available; return the backend's name."""
    try:
        backend = load_backend("pysha3")
    except ImportError:
        return "pycryptodome"
    # Keccak256 keeps the chosen function in `hasher` after its first call; set it directly.
    auto.keccak.hasher = backend.keccak256
    auto.keccak.preimage = backend.preimage
    return "pysha3"


KECCAK_BACKEND = use_fast_keccak()
