"""The consortium contract's node permission list, read from this node's own finalized state.

`network.permissions.PeerGate` asks `is_node_permitted(address)` for every peer it admits (and
again for connected peers when the list changes). The answer comes from `Consortium.isNodeAllowed`
evaluated with `eth_call` semantics at this node's head: no RPC, no other node is trusted.

Rules this module keeps:
- Until the contract has code at the configured address (a new consortium before its contracts
  are deployed), the on-chain list is not in force and the local permission file alone decides;
  this is logged once. Once the code exists, a peer must be on both lists.
- Any other failure of the call (a revert, a malformed answer) refuses the peer: fail closed.
"""

from __future__ import annotations

import logging

from eth_hash.auto import keccak

from node.chain import Chain
from node.ports import Address, CallRequest, LedgerError

IS_NODE_ALLOWED = keccak(b"isNodeAllowed(address)")[:4]
"""The 4-byte selector of `Consortium.isNodeAllowed(address) returns (bool)`."""

NODE_ALLOWED_EVENT = keccak(b"NodeAllowed(address,bool)")
"""The topic of `Consortium.NodeAllowed`: a block carrying it may change who is permitted."""

log = logging.getLogger(__name__)


class ContractNodePermissions:
    """`OnChainPermissions` (network.permissions) over this node's chain state."""

    def __init__(self, chain: Chain, contract: Address) -> None:
        self.chain = chain
        self.contract = contract
        self._announced_absent = False

    def in_force(self) -> bool:
        """Return True once the consortium contract has code at the head."""
        head = self.chain.head_header.block_number
        if self.chain.code(self.contract, head):
            return True
        if not self._announced_absent:
            log.warning(
                "no consortium contract at 0x%s yet: the local permission file alone admits peers",
                self.contract.hex(),
            )
            self._announced_absent = True
        return False

    def is_node_permitted(self, address: bytes) -> bool:
        """Return what `isNodeAllowed(address)` says at the head (True while not in force)."""
        if not self.in_force():
            return True
        head = self.chain.head_header.block_number
        data = IS_NODE_ALLOWED + bytes(12) + bytes(address)
        try:
            output = self.chain.call(CallRequest(to=self.contract, data=data), head)
        except LedgerError as error:
            log.warning("isNodeAllowed(0x%s) failed, refusing: %s", bytes(address).hex(), error)
            return False
        if len(output) != 32 or int.from_bytes(output, "big") > 1:
            log.warning("isNodeAllowed(0x%s) gave a malformed answer, refusing", address.hex())
            return False
        return output[-1] == 1
