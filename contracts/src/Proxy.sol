// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {ERC1967Proxy} from "@openzeppelin/contracts/proxy/ERC1967/ERC1967Proxy.sol";

/// @title LedgerProxy: the ERC-1967 proxy each contract lives behind (upgrade path: UUPS).
/// @notice Addresses users and the API keep never change; `upgradeToAndCall` on the proxy, allowed
/// only to a platform account, swaps the implementation while storage (balances) stays here.
contract LedgerProxy is ERC1967Proxy {
    constructor(address implementation, bytes memory data) payable ERC1967Proxy(implementation, data) {}
}
