"""A bounded set of recently seen message hashes, for gossip de-duplication.

Gossip floods: every node forwards what is new to it, so each message reaches a node once per
neighbour. The seen-set makes the second and later copies cheap no-ops. It forgets the oldest
entries beyond `capacity` (insertion order), so memory stays bounded; a message old enough to be
forgotten is simply handled again, and the txpool or consensus driver drops it as already known.
"""

from __future__ import annotations

from collections import OrderedDict

from eth_utils.crypto import keccak


def message_digest(*parts: bytes) -> bytes:
    """Return the 32-byte keccak-256 of the length-prefixed parts (unambiguous for any split)."""
    return keccak(b"".join(len(part).to_bytes(8, "big") + part for part in parts))


class SeenSet:
    """Remembers up to `capacity` digests; `add` says whether a digest is new."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"seen-set capacity must be at least 1, got {capacity}")
        self._capacity = capacity
        self._entries: OrderedDict[bytes, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, digest: object) -> bool:
        return digest in self._entries

    def add(self, digest: bytes) -> bool:
        """Record `digest`; return True when it was not already remembered."""
        if digest in self._entries:
            return False
        self._entries[digest] = None
        if len(self._entries) > self._capacity:
            self._entries.popitem(last=False)
        return True
