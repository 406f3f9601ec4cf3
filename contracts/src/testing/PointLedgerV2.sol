// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {PointLedger} from "../PointLedger.sol";

/// @title PointLedgerV2: a test-only next version, proving an upgrade keeps every balance.
/// @dev Adds behaviour, no storage: the layout rule for real upgrades (append only) holds trivially.
contract PointLedgerV2 is PointLedger {
    function version() external pure override returns (uint256) {
        return 2;
    }
}
