// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {UUPSUpgradeable} from "@openzeppelin/contracts/proxy/utils/UUPSUpgradeable.sol";
import {Initializable} from "@openzeppelin/contracts/proxy/utils/Initializable.sol";
import "./Errors.sol";
import {Kinds} from "./Kinds.sol";
import {IConsortium, IPointLedgerForSettlement} from "./Interfaces.sol";

/// @title Settlement: yen owed per settlement period, per business and per partner.
/// @notice Every redemption (less refunds) and every redeemed voucher is a payable from the
/// municipality to the business; every placed conversion (explicit or automatic at the deadline)
/// is a receivable from the partner to the municipality. The ledger records each into the
/// municipality's open period as it happens; a treasurer closes the period (after the due reserves
/// are swept, so the statement holds them) and records each payment with the hash of its bank
/// transfer reference.
/// @dev Invariants: only the ledger writes amounts, and only into the open period, so a closed
/// period's lines and totals never change; each period's totals equal the sum of its lines, which
/// equal the sum of the ledger events that carry that period number.
contract Settlement is Initializable, UUPSUpgradeable {
    uint8 public constant SIDE_BUSINESS = 0; // municipality pays the business
    uint8 public constant SIDE_PARTNER = 1; // partner pays the municipality

    struct Period {
        uint64 openedAt;
        uint64 closedAt; // 0 while open
    }

    struct BusinessLine {
        uint256 redeemed;
        uint256 refunded;
        uint256 vouchersRedeemed;
    }

    struct PeriodTotals {
        uint256 redeemed;
        uint256 refunded;
        uint256 vouchersRedeemed;
        uint256 conversions;
    }

    struct Payment {
        uint256 amount;
        bytes32 bankReferenceHash;
        uint64 paidAt;
    }

    IConsortium public consortium;
    IPointLedgerForSettlement public ledger;

    mapping(uint32 => uint32) private _closedCount;
    mapping(uint32 => mapping(uint32 => Period)) private _periods;
    mapping(uint32 => mapping(uint32 => PeriodTotals)) private _totals;
    mapping(uint32 => mapping(uint32 => mapping(uint64 => BusinessLine))) private _businessLines;
    mapping(uint32 => mapping(uint32 => mapping(uint64 => uint256))) private _partnerLines;
    mapping(uint32 => mapping(uint32 => uint64[])) private _businesses;
    mapping(uint32 => mapping(uint32 => uint64[])) private _partners;
    mapping(uint32 => mapping(uint32 => mapping(uint8 => mapping(uint64 => Payment)))) private _payments;

    event PeriodClosed(
        uint32 indexed municipality,
        uint32 indexed period,
        uint64 openedAt,
        uint64 closedAt,
        uint256 redeemed,
        uint256 refunded,
        uint256 vouchersRedeemed,
        uint256 conversions
    );
    event PaymentRecorded(
        uint32 indexed municipality,
        uint32 indexed period,
        uint64 indexed counterparty,
        uint8 side,
        uint256 amount,
        bytes32 bankReferenceHash
    );

    constructor() {
        _disableInitializers();
    }

    function initialize(IConsortium consortium_, IPointLedgerForSettlement ledger_) external initializer {
        consortium = consortium_;
        ledger = ledger_;
    }

    function _authorizeUpgrade(address) internal view override {
        if (!consortium.isPlatform(msg.sender)) revert NotPlatform(msg.sender);
    }

    modifier onlyLedger() {
        if (msg.sender != address(ledger)) revert NotLedger(msg.sender);
        _;
    }

    function _treasurer(uint32 m) private view {
        (uint8 kind, uint64 id, uint8 roles) = consortium.accountOf(msg.sender);
        if (kind != Kinds.MEMBER_MUNICIPALITY || id != m || roles & Kinds.ROLE_TREASURER == 0) {
            revert NotTreasurer(msg.sender, m);
        }
    }

    /// @return The municipality's open period (numbered from 1).
    function currentPeriod(uint32 m) public view returns (uint32) {
        return _closedCount[m] + 1;
    }

    function _line(uint32 m, uint64 business) private returns (uint32 p, BusinessLine storage line) {
        p = currentPeriod(m);
        line = _businessLines[m][p][business];
        if (line.redeemed == 0 && line.refunded == 0 && line.vouchersRedeemed == 0) {
            _businesses[m][p].push(business);
        }
    }

    // ---- written by the ledger, into the open period only ------------------------------------

    function recordRedemption(uint32 m, uint64 business, uint256 amount) external onlyLedger returns (uint32 p) {
        BusinessLine storage line;
        (p, line) = _line(m, business);
        line.redeemed += amount;
        _totals[m][p].redeemed += amount;
    }

    function recordRefund(uint32 m, uint64 business, uint256 amount) external onlyLedger returns (uint32 p) {
        BusinessLine storage line;
        (p, line) = _line(m, business);
        line.refunded += amount;
        _totals[m][p].refunded += amount;
    }

    function recordVoucherRedemption(uint32 m, uint64 business, uint256 amount)
        external
        onlyLedger
        returns (uint32 p)
    {
        BusinessLine storage line;
        (p, line) = _line(m, business);
        line.vouchersRedeemed += amount;
        _totals[m][p].vouchersRedeemed += amount;
    }

    function recordConversion(uint32 m, uint64 partner, uint256 amount) external onlyLedger returns (uint32 p) {
        p = currentPeriod(m);
        if (_partnerLines[m][p][partner] == 0) _partners[m][p].push(partner);
        _partnerLines[m][p][partner] += amount;
        _totals[m][p].conversions += amount;
    }

    // ---- treasurers ---------------------------------------------------------------------------

    /// @notice Close the open period `period` of municipality `m`; its statement is final.
    function closePeriod(uint32 m, uint32 period) external {
        _treasurer(m);
        uint32 open = currentPeriod(m);
        if (period < open) revert PeriodAlreadyClosed(m, period);
        if (period > open) revert PeriodNotClosed(m, open);
        // Reserves that went home at their deadline belong to this statement: record them first.
        if (ledger.sweepReserves(m, 64)) revert ReservesDue(m);
        Period storage p = _periods[m][period];
        p.closedAt = uint64(block.timestamp);
        _closedCount[m] = period;
        _periods[m][period + 1].openedAt = uint64(block.timestamp);
        PeriodTotals memory t = _totals[m][period];
        emit PeriodClosed(
            m, period, p.openedAt, p.closedAt, t.redeemed, t.refunded, t.vouchersRedeemed, t.conversions
        );
    }

    /// @notice Record the bank transfer that settles one line of a closed period, in full.
    function recordPayment(
        uint32 m,
        uint32 period,
        uint8 side,
        uint64 counterparty,
        uint256 amount,
        bytes32 bankReferenceHash
    ) external {
        _treasurer(m);
        if (period == 0 || period >= currentPeriod(m)) revert PeriodNotClosed(m, period);
        if (side > SIDE_PARTNER) revert InvalidSetting("side");
        Payment storage recorded = _payments[m][period][side][counterparty];
        if (recorded.paidAt != 0) revert PaymentAlreadyRecorded(m, period, side, counterparty);
        uint256 due = side == SIDE_BUSINESS ? payableTo(m, period, counterparty) : _partnerLines[m][period][counterparty];
        if (due == 0 || amount != due) revert PaymentMismatch(due, amount);
        _payments[m][period][side][counterparty] = Payment(amount, bankReferenceHash, uint64(block.timestamp));
        emit PaymentRecorded(m, period, counterparty, side, amount, bankReferenceHash);
    }

    // ---- statements ---------------------------------------------------------------------------

    /// @return Yen the municipality owes `business` for `period` (0 when refunds exceed redemptions).
    function payableTo(uint32 m, uint32 period, uint64 business) public view returns (uint256) {
        BusinessLine memory line = _businessLines[m][period][business];
        uint256 gross = line.redeemed + line.vouchersRedeemed;
        return gross > line.refunded ? gross - line.refunded : 0;
    }

    function businessLine(uint32 m, uint32 period, uint64 business) external view returns (BusinessLine memory) {
        return _businessLines[m][period][business];
    }

    function receivableFrom(uint32 m, uint32 period, uint64 partner) external view returns (uint256) {
        return _partnerLines[m][period][partner];
    }

    function periodOf(uint32 m, uint32 period) external view returns (Period memory) {
        return _periods[m][period];
    }

    function periodTotals(uint32 m, uint32 period) external view returns (PeriodTotals memory) {
        return _totals[m][period];
    }

    function businessesIn(uint32 m, uint32 period) external view returns (uint64[] memory) {
        return _businesses[m][period];
    }

    function partnersIn(uint32 m, uint32 period) external view returns (uint64[] memory) {
        return _partners[m][period];
    }

    function payment(uint32 m, uint32 period, uint8 side, uint64 counterparty)
        external
        view
        returns (Payment memory)
    {
        return _payments[m][period][side][counterparty];
    }

    function version() external pure virtual returns (uint256) {
        return 1;
    }
}
