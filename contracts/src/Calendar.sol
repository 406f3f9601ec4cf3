// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @notice Japan Standard Time calendar arithmetic for expiry dates and fiscal years.
/// @dev JST is UTC+9 with no daylight saving, so a fixed offset is exact. Days from the Unix epoch to
/// a civil date follow Howard Hinnant's `civil_from_days` (public domain), which is exact for
/// every date after 1970.
library Calendar {
    uint256 internal constant JST_OFFSET = 9 hours;

    /// @return The first JST midnight strictly after `t`: points valid "through" t's JST date.
    function endOfJstDay(uint256 t) internal pure returns (uint64) {
        return uint64(((t + JST_OFFSET) / 1 days + 1) * 1 days - JST_OFFSET);
    }

    /// @return The Japanese fiscal year (April to March) that contains `t`, e.g. 2026 for 2027-03-31.
    function fiscalYear(uint256 t) internal pure returns (uint16) {
        uint256 z = (t + JST_OFFSET) / 1 days + 719468;
        uint256 era = z / 146097;
        uint256 doe = z - era * 146097;
        uint256 yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        uint256 year = yoe + era * 400;
        uint256 doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        uint256 mp = (5 * doy + 2) / 153;
        uint256 month = mp < 10 ? mp + 3 : mp - 9;
        if (month <= 2) year += 1;
        return uint16(month >= 4 ? year : year - 1);
    }
}
