// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

// What the contracts ask of each other. Keeping these narrow lets each contract be upgraded alone.

struct MunicipalitySettings {
    bool admitted;
    bool paused;
    bool acceptsConversions;
    uint16 validityDays; // points expire at the end of the JST day `validityDays` after they land
    uint16 voucherValidityDays;
    uint32 refundWindow; // seconds after a redemption during which its business may refund it
    address managementTerminal;
    uint32 eventAccounts; // event accounts opened so far (their ids are 1..eventAccounts)
}

struct Terminal {
    uint8 kind;
    uint8 ownerKind;
    uint64 ownerId; // municipality code, partner id or business id
    bool management;
}

struct EventAccount {
    uint64 startsAt;
    uint64 endsAt;
    uint8 uses; // bit mask of Kinds.USE_*
}

interface IConsortium {
    function isPlatform(address account) external view returns (bool);
    function isVerifier(address account) external view returns (bool);
    function municipality(uint32 code) external view returns (MunicipalitySettings memory);
    function terminal(address account) external view returns (Terminal memory);
    function accountOf(address account)
        external
        view
        returns (uint8 memberKind, uint64 memberId, uint8 roles);
    function acceptedUses(uint32 code, uint64 business) external view returns (uint8);
    function eventAccount(uint32 code, uint32 account) external view returns (EventAccount memory);
    function partnerRate(uint64 partner) external view returns (uint64 numerator, uint64 denominator);
    function grantBudget(uint32 code, uint16 fiscalYear) external view returns (bool capped, uint256 cap);
    function reservePeriod() external view returns (uint64);
}

interface IMykeyRegistry {
    function statusOf(bytes8 mykeyId) external view returns (uint8 status, uint32 homeMunicipality);
}

interface IPointLedgerForSettlement {
    function sweepReserves(uint32 municipality, uint256 maxSteps) external returns (bool due);
}

interface ISettlement {
    function recordRedemption(uint32 municipality, uint64 business, uint256 amount)
        external
        returns (uint32 period);
    function recordRefund(uint32 municipality, uint64 business, uint256 amount)
        external
        returns (uint32 period);
    function recordVoucherRedemption(uint32 municipality, uint64 business, uint256 amount)
        external
        returns (uint32 period);
    function recordConversion(uint32 municipality, uint64 partner, uint256 amount)
        external
        returns (uint32 period);
}
