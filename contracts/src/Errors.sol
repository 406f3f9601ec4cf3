// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

// Every refusal of the point ledger, shared by all its contracts so that one selector means one
// thing everywhere. The Python side (contracts/errors.py) turns each into a sentence a person can act
// on; the parameters carry what that sentence needs.

// Roles and members.
error NotPlatform(address caller);
error NotMemberAdmin(address caller);
error NotMunicipalityStaff(address caller, uint32 municipality);
error NotTreasurer(address caller, uint32 municipality);
error NotPartnerAccount(address caller);
error NotLedger(address caller);
error AccountTaken(address account);
error UnknownAccount(address account);
error InvalidMunicipalityCode(string code);
error MunicipalityNotAdmitted(uint32 municipality);
error MunicipalityAlreadyAdmitted(uint32 municipality);
error PartnerNotAdmitted(uint64 partner);
error BusinessNotAdmitted(uint64 business);
error InvalidRate(uint64 numerator, uint64 denominator);
error InvalidSetting(string setting);
error AlreadyWired(string what);

// Terminals.
error TerminalTaken(address terminal);
error UnregisteredTerminal(address terminal);
error WrongTerminalKind(address terminal, uint8 expected, uint8 actual);
error TerminalKindNotAllowed(uint8 memberKind, uint8 terminalKind);
error TerminalOfAnotherMember(address terminal, uint8 ownerKind, uint64 ownerId);
error ManagementTerminalExists(uint32 municipality, address existing);

// Uses and accounts.
error InvalidUse(uint8 use);
error BusinessNotAccepted(uint32 municipality, uint64 business, uint8 use);
error EventAccountUnknown(uint32 municipality, uint32 account);
error EventAccountClosed(uint32 municipality, uint32 account, uint64 startsAt, uint64 endsAt);
error UseNotAllowedInEventAccount(uint32 municipality, uint32 account, uint8 use);

// MyKey IDs.
error InvalidMykeyId(bytes8 mykeyId);
error MykeyTaken(bytes8 mykeyId);
error MykeyUnknown(bytes8 mykeyId);
error MykeyRevoked(bytes8 mykeyId);

// Points.
error MunicipalityPaused(uint32 municipality);
error ZeroAmount();
error InsufficientPoints(
    bytes8 mykeyId, uint32 municipality, uint32 account, uint256 available, uint256 requested
);
error OverBudget(
    uint32 municipality, uint16 fiscalYear, uint256 cap, uint256 alreadyGranted, uint256 requested
);
error TooManyPendingReserves(bytes8 mykeyId, uint256 limit);
error ReserveUnknown(uint256 reserveId);
error ReserveNotPending(uint256 reserveId);
error ReserveDeadlinePassed(uint256 reserveId, uint64 deadline);
error ConversionsNotAccepted(uint32 municipality);

// Two-party spending (EIP-712 attestations).
error AttestationExpired(uint64 deadline, uint64 blockTime);
error AttestationNonceUsed(uint256 nonce);
error AttestationMismatch(string field);
error UnknownVerifier(address signer);

// Refunds and vouchers.
error RedemptionUnknown(uint256 redemptionId);
error RefundWrongBusiness(uint256 redemptionId, uint64 business);
error RefundWindowPassed(uint256 redemptionId, uint64 until);
error RefundExceedsRedemption(uint256 redemptionId, uint256 refundable, uint256 requested);
error VoucherUnknown(uint256 voucherId);
error VoucherAlreadyRedeemed(uint256 voucherId);
error VoucherExpired(uint256 voucherId, uint64 expiresAt);
error VoucherSecretMismatch(uint256 voucherId);

// Settlement.
error PeriodNotClosed(uint32 municipality, uint32 period);
error PeriodAlreadyClosed(uint32 municipality, uint32 period);
error ReservesDue(uint32 municipality);
error PaymentAlreadyRecorded(uint32 municipality, uint32 period, uint8 side, uint64 counterparty);
error PaymentMismatch(uint256 due, uint256 paid);
