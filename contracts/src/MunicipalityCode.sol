// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {InvalidMunicipalityCode} from "./Errors.sol";

/// @notice Parses a 全国地方公共団体コード (local government code) into its 5-digit number.
/// @dev Accepts "PPCCC" (prefecture 01-47, then three digits) or "PPCCCD" where D is the check
/// digit of JIS X 0401/0402: D = (11 - (6*d1 + 5*d2 + 4*d3 + 3*d4 + 2*d5) mod 11) mod 10.
/// The number keeps no leading zero (01100 -> 1100): the string form is the canonical one.
library MunicipalityCode {
    function parse(string memory code) internal pure returns (uint32) {
        bytes memory digits = bytes(code);
        if (digits.length != 5 && digits.length != 6) revert InvalidMunicipalityCode(code);
        uint32 value = 0;
        uint256 weighted = 0;
        for (uint256 i = 0; i < digits.length; ++i) {
            uint8 c = uint8(digits[i]);
            if (c < 0x30 || c > 0x39) revert InvalidMunicipalityCode(code);
            if (i < 5) {
                value = value * 10 + (c - 0x30);
                weighted += uint256(c - 0x30) * (6 - i);
            }
        }
        uint32 prefecture = value / 1000;
        if (prefecture < 1 || prefecture > 47) revert InvalidMunicipalityCode(code);
        if (digits.length == 6) {
            uint256 check = (11 - (weighted % 11)) % 10;
            if (uint8(digits[5]) - 0x30 != check) revert InvalidMunicipalityCode(code);
        }
        return value;
    }
}
