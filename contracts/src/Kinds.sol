// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

// The small vocabularies shared by the contracts and mirrored in contracts/types.py: member kinds,
// terminal kinds, account roles, uses of points and attestation actions. Numbers are part of the ABI:
// never renumber, only append.

library Kinds {
    uint8 internal constant MEMBER_NONE = 0;
    uint8 internal constant MEMBER_PLATFORM = 1;
    uint8 internal constant MEMBER_MUNICIPALITY = 2;
    uint8 internal constant MEMBER_PARTNER = 3;
    uint8 internal constant MEMBER_BUSINESS = 4;

    uint8 internal constant TERMINAL_NONE = 0;
    uint8 internal constant TERMINAL_SERVICE_ID_LOOKUP = 1;
    uint8 internal constant TERMINAL_POINT_USE = 2;
    uint8 internal constant TERMINAL_VOUCHER_ISSUE = 3;
    uint8 internal constant TERMINAL_GRANTING = 4;

    // Account roles inside a member (bit mask).
    uint8 internal constant ROLE_ADMIN = 1; // manages the member's accounts, terminals, settings
    uint8 internal constant ROLE_STAFF = 2; // day-to-day operations (partner conversions, ...)
    uint8 internal constant ROLE_TREASURER = 4; // closes settlement periods, records payments

    // Uses a municipality may allow for its points (bit index).
    uint8 internal constant USE_FACILITY = 0;
    uint8 internal constant USE_LOCAL_STORE = 1;
    uint8 internal constant USE_TRANSPORT = 2;
    uint8 internal constant USE_TOURISM = 3;
    uint8 internal constant USE_SOCIAL_CONTRIBUTION = 4;
    uint8 internal constant USE_CROWDFUNDING = 5;
    uint8 internal constant USE_ONLINE_PURCHASE = 6;
    uint8 internal constant USE_COUNT = 7;

    // What a resident's card signed (EIP-712 attestation `action`).
    uint8 internal constant ACTION_REDEEM = 1;
    uint8 internal constant ACTION_ISSUE_VOUCHER = 2;
    uint8 internal constant ACTION_PLACE_RESERVE = 3;

    uint32 internal constant REGULAR_ACCOUNT = 0;
}
