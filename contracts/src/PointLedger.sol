// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {UUPSUpgradeable} from "@openzeppelin/contracts/proxy/utils/UUPSUpgradeable.sol";
import {Initializable} from "@openzeppelin/contracts/proxy/utils/Initializable.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import "./Errors.sol";
import {Kinds} from "./Kinds.sol";
import {Calendar} from "./Calendar.sol";
import {
    IConsortium, IMykeyRegistry, ISettlement, MunicipalitySettings, Terminal, EventAccount
} from "./Interfaces.sol";

/// @title PointLedger: municipal points per (MyKey ID, municipality, account), in lots with expiry.
/// @notice Grant (granting terminals), convert (partners, into reserved points), place reserved
/// points, redeem and refund at point-use terminals, issue and redeem vouchers, sweep expiry.
/// A resident's points leave only through a registered terminal of the right kind AND an EIP-712
/// attestation signed by a platform verifier key that the resident's card signed this very action.
/// @dev Invariants:
/// - Lots of one (MyKey ID, municipality, account) are sorted by `expiresAt` (a JST midnight), at
///   most one per day and at most MAX_LOTS; when full, new points merge into the latest lot, whose
///   expiry becomes the later of the two (never shortens anyone's points). So every operation's gas is
///   bounded whatever a holder's history.
/// - A MyKey ID has at most MAX_PENDING_RESERVES pending reserves. A reserve whose deadline passed
///   counts, in every view, as a lot of its home municipality's regular account (lazy evaluation);
///   the next write touching that MyKey ID, or `sweepReserves`, records it (the receivable included).
/// - Expired lots never count; pruning them (in any write, or `sweepExpired`) emits PointsExpired.
/// - Per municipality: granted + converted - redeemed + refunded - vouchered - expired
///   = the sum of all balances (with lazily homed reserves and unswept expiry counted as they appear
///   in the views); no balance is ever negative (amounts are unsigned, spending checks first).
contract PointLedger is Initializable, UUPSUpgradeable, EIP712 {
    uint256 public constant MAX_LOTS = 32;
    uint256 public constant MAX_PENDING_RESERVES = 8;
    uint256 public constant RESERVE_SWEEP_STEPS = 64;

    uint8 private constant RESERVE_PENDING = 1;
    uint8 private constant RESERVE_PLACED = 2;
    uint8 private constant RESERVE_HOMED = 3;

    bytes32 public constant ATTESTATION_TYPEHASH = keccak256(
        "Attestation(uint8 action,bytes8 mykeyId,uint32 municipality,uint256 amount,uint64 business,"
        "uint256 nonce,uint64 deadline,bytes32 evidenceHash)"
    );

    /// @notice What the platform verifier signs after checking the card's JPKI signature off-chain.
    struct Attestation {
        uint8 action;
        bytes8 mykeyId;
        uint32 municipality;
        uint256 amount;
        uint64 business; // 0 when the acting terminal belongs to the municipality itself
        uint256 nonce;
        uint64 deadline;
        bytes32 evidenceHash; // hash of the off-chain card evidence the platform keeps
    }

    struct Lot {
        uint64 expiresAt;
        uint192 amount;
    }

    struct LotList {
        uint8 head;
        uint8 count;
        Lot[32] ring;
    }

    struct Reserve {
        bytes8 mykeyId;
        uint32 home;
        uint32 placedIn;
        uint8 state;
        uint64 partner;
        uint64 deadline;
        uint64 homeExpiresAt;
        uint128 amount;
    }

    struct Redemption {
        bytes8 mykeyId;
        uint32 municipality;
        uint32 account;
        uint64 business;
        uint64 redeemedAt;
        uint128 amount;
        uint128 refunded;
    }

    struct Voucher {
        bytes8 mykeyId;
        uint32 municipality;
        uint64 expiresAt;
        uint64 redeemedBy; // business id, 0 while unredeemed
        uint128 amount;
        bytes32 secretHash;
    }

    struct Totals {
        uint256 granted;
        uint256 converted;
        uint256 redeemed;
        uint256 refunded;
        uint256 vouchered;
        uint256 expired;
        uint256 vouchersRedeemed;
    }

    IConsortium public consortium;
    IMykeyRegistry public registry;
    ISettlement public settlement;

    mapping(bytes32 => LotList) private _lots;
    mapping(uint256 => Reserve) private _reserves;
    uint256 public reserveCount;
    mapping(bytes8 => uint256[]) private _pending;
    mapping(uint32 => mapping(uint256 => uint256)) private _homeQueue;
    mapping(uint32 => uint256) private _homeQueueHead;
    mapping(uint32 => uint256) private _homeQueueTail;
    mapping(uint32 => uint64) private _lastHomeDeadline;
    mapping(uint256 => Redemption) private _redemptions;
    uint256 public redemptionCount;
    mapping(uint256 => Voucher) private _vouchers;
    uint256 public voucherCount;
    mapping(uint256 => bool) private _usedNonces;
    mapping(uint32 => Totals) private _totals;
    mapping(uint32 => mapping(uint16 => uint256)) private _grantedInYear;

    event PointsGranted(
        bytes8 indexed mykeyId,
        uint32 indexed municipality,
        uint32 indexed account,
        uint256 amount,
        uint32 activity,
        bytes32 referenceHash,
        address terminal,
        uint64 expiresAt
    );
    event PointsConverted(
        bytes8 indexed mykeyId,
        uint32 indexed homeMunicipality,
        uint64 indexed partner,
        uint256 reserveId,
        uint256 partnerUnits,
        uint256 amount,
        uint64 deadline,
        bytes32 referenceHash
    );
    event ReservePlaced(
        bytes8 indexed mykeyId,
        uint32 indexed municipality,
        uint256 indexed reserveId,
        uint64 partner,
        uint256 amount,
        bool automatic,
        uint64 expiresAt,
        uint32 period
    );
    event PointsRedeemed(
        bytes8 indexed mykeyId,
        uint32 indexed municipality,
        uint64 indexed business,
        uint256 redemptionId,
        uint32 account,
        uint256 amount,
        uint8 use,
        address terminal,
        uint256 nonce,
        bytes32 evidenceHash,
        uint32 period
    );
    event PointsRefunded(
        bytes8 indexed mykeyId,
        uint32 indexed municipality,
        uint64 indexed business,
        uint256 redemptionId,
        uint32 account,
        uint256 amount,
        address terminal,
        uint64 expiresAt,
        uint32 period
    );
    event VoucherIssued(
        bytes8 indexed mykeyId,
        uint32 indexed municipality,
        uint256 indexed voucherId,
        uint32 account,
        uint256 amount,
        uint64 expiresAt,
        address terminal,
        uint256 nonce,
        bytes32 evidenceHash
    );
    event VoucherRedeemed(
        uint32 indexed municipality,
        uint256 indexed voucherId,
        uint64 indexed business,
        uint256 amount,
        address terminal,
        uint32 period
    );
    event PointsExpired(
        bytes8 indexed mykeyId, uint32 indexed municipality, uint32 indexed account, uint256 amount, uint64 expiresAt
    );

    constructor() EIP712("MyKeyPointLedger", "1") {
        _disableInitializers();
    }

    function initialize(IConsortium consortium_, IMykeyRegistry registry_) external initializer {
        consortium = consortium_;
        registry = registry_;
    }

    /// @notice Wire the settlement contract once (it is deployed after the ledger, which it calls).
    function setSettlement(ISettlement settlement_) external {
        if (!consortium.isPlatform(msg.sender)) revert NotPlatform(msg.sender);
        if (address(settlement) != address(0)) revert AlreadyWired("settlement");
        settlement = settlement_;
    }

    function _authorizeUpgrade(address) internal view override {
        if (!consortium.isPlatform(msg.sender)) revert NotPlatform(msg.sender);
    }

    // ---- guards ---------------------------------------------------------------------------

    function _terminalOf(uint8 kind) private view returns (Terminal memory t) {
        t = consortium.terminal(msg.sender);
        if (t.kind == Kinds.TERMINAL_NONE) revert UnregisteredTerminal(msg.sender);
        if (t.kind != kind) revert WrongTerminalKind(msg.sender, kind, t.kind);
    }

    function _activeMykey(bytes8 mykeyId) private view returns (uint32 home) {
        uint8 status;
        (status, home) = registry.statusOf(mykeyId);
        if (status == 0) revert MykeyUnknown(mykeyId);
        if (status != 1) revert MykeyRevoked(mykeyId);
    }

    function _openMunicipality(uint32 m) private view returns (MunicipalitySettings memory s) {
        s = consortium.municipality(m);
        if (!s.admitted) revert MunicipalityNotAdmitted(m);
        if (s.paused) revert MunicipalityPaused(m);
    }

    function _accepted(uint32 m, uint64 business, uint8 use) private view {
        if (use >= Kinds.USE_COUNT) revert InvalidUse(use);
        if (consortium.acceptedUses(m, business) & (uint8(1) << use) == 0) {
            revert BusinessNotAccepted(m, business, use);
        }
    }

    /// @return The end of the event account (type(uint64).max for the regular account).
    function _usableAccount(uint32 m, uint32 account, uint8 use, bool checkUse) private view returns (uint64) {
        if (account == Kinds.REGULAR_ACCOUNT) return type(uint64).max;
        EventAccount memory e = consortium.eventAccount(m, account);
        if (e.endsAt == 0) revert EventAccountUnknown(m, account);
        if (block.timestamp < e.startsAt || block.timestamp >= e.endsAt) {
            revert EventAccountClosed(m, account, e.startsAt, e.endsAt);
        }
        if (checkUse && e.uses & (uint8(1) << use) == 0) revert UseNotAllowedInEventAccount(m, account, use);
        return e.endsAt;
    }

    /// @dev EIP-712 check of a verifier's attestation; consumes its nonce.
    function _verify(Attestation calldata a, bytes calldata signature, uint8 action, uint64 business) private {
        if (a.action != action) revert AttestationMismatch("action");
        if (a.business != business) revert AttestationMismatch("business");
        if (a.amount == 0) revert ZeroAmount();
        if (a.deadline < block.timestamp) revert AttestationExpired(a.deadline, uint64(block.timestamp));
        if (_usedNonces[a.nonce]) revert AttestationNonceUsed(a.nonce);
        bytes32 digest = _hashTypedDataV4(
            keccak256(
                abi.encode(
                    ATTESTATION_TYPEHASH,
                    a.action,
                    a.mykeyId,
                    a.municipality,
                    a.amount,
                    a.business,
                    a.nonce,
                    a.deadline,
                    a.evidenceHash
                )
            )
        );
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, signature);
        if (err != ECDSA.RecoverError.NoError || !consortium.isVerifier(signer)) revert UnknownVerifier(signer);
        _usedNonces[a.nonce] = true;
    }

    // ---- lots -----------------------------------------------------------------------------

    function _key(bytes8 mykeyId, uint32 m, uint32 account) private pure returns (bytes32) {
        return keccak256(abi.encode(mykeyId, m, account));
    }

    function _slot(LotList storage list, uint256 i) private view returns (Lot storage) {
        return list.ring[(uint256(list.head) + i) % MAX_LOTS];
    }

    /// @dev Drop expired lots from the front, emitting one PointsExpired per lot.
    function _prune(bytes8 mykeyId, uint32 m, uint32 account, LotList storage list) private {
        while (list.count > 0) {
            Lot storage first = list.ring[list.head];
            if (first.expiresAt > block.timestamp) break;
            uint256 amount = first.amount;
            emit PointsExpired(mykeyId, m, account, amount, first.expiresAt);
            _totals[m].expired += amount;
            delete list.ring[list.head];
            list.head = uint8((uint256(list.head) + 1) % MAX_LOTS);
            list.count -= 1;
        }
    }

    /// @dev Add points expiring at `expiresAt` (already pruned list); keeps the sort and the cap.
    function _addLot(LotList storage list, uint64 expiresAt, uint256 amount) private {
        uint256 i = list.count;
        while (i > 0 && _slot(list, i - 1).expiresAt > expiresAt) --i;
        if (i > 0 && _slot(list, i - 1).expiresAt == expiresAt) {
            _slot(list, i - 1).amount += uint192(amount);
            return;
        }
        if (list.count == MAX_LOTS) {
            Lot storage last = _slot(list, MAX_LOTS - 1);
            last.amount += uint192(amount);
            if (expiresAt > last.expiresAt) last.expiresAt = expiresAt;
            return;
        }
        for (uint256 j = list.count; j > i; --j) {
            Lot storage to = _slot(list, j);
            Lot storage from = _slot(list, j - 1);
            to.expiresAt = from.expiresAt;
            to.amount = from.amount;
        }
        Lot storage slot = _slot(list, i);
        slot.expiresAt = expiresAt;
        slot.amount = uint192(amount);
        list.count += 1;
    }

    function _credit(bytes8 mykeyId, uint32 m, uint32 account, uint64 expiresAt, uint256 amount) private {
        LotList storage list = _lots[_key(mykeyId, m, account)];
        _prune(mykeyId, m, account, list);
        if (expiresAt <= block.timestamp) {
            emit PointsExpired(mykeyId, m, account, amount, expiresAt);
            _totals[m].expired += amount;
            return;
        }
        _addLot(list, expiresAt, amount);
    }

    /// @dev Spend earliest-expiring lots first.
    function _debit(bytes8 mykeyId, uint32 m, uint32 account, uint256 amount) private {
        LotList storage list = _lots[_key(mykeyId, m, account)];
        _prune(mykeyId, m, account, list);
        uint256 available = 0;
        for (uint256 i = 0; i < list.count; ++i) {
            available += _slot(list, i).amount;
        }
        if (available < amount) revert InsufficientPoints(mykeyId, m, account, available, amount);
        uint256 left = amount;
        while (left > 0) {
            Lot storage first = list.ring[list.head];
            if (first.amount > left) {
                first.amount -= uint192(left);
                break;
            }
            left -= first.amount;
            delete list.ring[list.head];
            list.head = uint8((uint256(list.head) + 1) % MAX_LOTS);
            list.count -= 1;
        }
    }

    function _expiryFor(MunicipalitySettings memory s, uint64 accountEndsAt) private view returns (uint64) {
        uint64 expiresAt = Calendar.endOfJstDay(block.timestamp + uint256(s.validityDays) * 1 days);
        return expiresAt < accountEndsAt ? expiresAt : accountEndsAt;
    }

    // ---- reserves -------------------------------------------------------------------------

    function _removePending(bytes8 mykeyId, uint256 reserveId) private {
        uint256[] storage pending = _pending[mykeyId];
        for (uint256 i = 0; i < pending.length; ++i) {
            if (pending[i] == reserveId) {
                pending[i] = pending[pending.length - 1];
                pending.pop();
                return;
            }
        }
    }

    /// @dev Record a reserve whose deadline passed as its home municipality's points.
    function _homeReserve(uint256 reserveId) private {
        Reserve storage r = _reserves[reserveId];
        r.state = RESERVE_HOMED;
        r.placedIn = r.home;
        _credit(r.mykeyId, r.home, Kinds.REGULAR_ACCOUNT, r.homeExpiresAt, r.amount);
        _totals[r.home].converted += r.amount;
        uint32 period = settlement.recordConversion(r.home, r.partner, r.amount);
        emit ReservePlaced(r.mykeyId, r.home, reserveId, r.partner, r.amount, true, r.homeExpiresAt, period);
    }

    /// @dev Make every due reserve of `mykeyId` a recorded lot before the ID's points change.
    function _settleReserves(bytes8 mykeyId) private {
        uint256[] storage pending = _pending[mykeyId];
        uint256 i = 0;
        while (i < pending.length) {
            uint256 reserveId = pending[i];
            if (_reserves[reserveId].deadline <= block.timestamp) {
                _homeReserve(reserveId);
                pending[i] = pending[pending.length - 1];
                pending.pop();
            } else {
                ++i;
            }
        }
    }

    /// @notice Record reserves of `municipality` whose deadline passed (anyone may call; balances
    /// already show them). Returns true while due reserves remain after `maxSteps` queue entries.
    function sweepReserves(uint32 municipality, uint256 maxSteps) public returns (bool due) {
        uint256 head = _homeQueueHead[municipality];
        uint256 tail = _homeQueueTail[municipality];
        uint256 steps = 0;
        while (head < tail && steps < maxSteps) {
            uint256 reserveId = _homeQueue[municipality][head];
            Reserve storage r = _reserves[reserveId];
            if (r.state == RESERVE_PENDING) {
                if (r.deadline > block.timestamp) break;
                _homeReserve(reserveId);
                _removePending(r.mykeyId, reserveId);
            }
            delete _homeQueue[municipality][head];
            ++head;
            ++steps;
        }
        _homeQueueHead[municipality] = head;
        if (head == tail) return false;
        Reserve storage next = _reserves[_homeQueue[municipality][head]];
        return !(next.state == RESERVE_PENDING && next.deadline > block.timestamp);
    }

    // ---- grant and convert ----------------------------------------------------------------

    /// @notice Grant administrative points from a granting terminal of municipality `m`.
    function grant(
        bytes8 mykeyId,
        uint32 m,
        uint32 account,
        uint256 amount,
        uint32 activity,
        bytes32 referenceHash
    ) external {
        Terminal memory t = _terminalOf(Kinds.TERMINAL_GRANTING);
        if (t.ownerId != m) revert TerminalOfAnotherMember(msg.sender, t.ownerKind, t.ownerId);
        MunicipalitySettings memory s = _openMunicipality(m);
        _activeMykey(mykeyId);
        if (amount == 0) revert ZeroAmount();
        uint64 endsAt = _usableAccount(m, account, 0, false);
        uint16 fiscalYear = Calendar.fiscalYear(block.timestamp);
        (bool capped, uint256 cap) = consortium.grantBudget(m, fiscalYear);
        uint256 used = _grantedInYear[m][fiscalYear];
        if (capped && used + amount > cap) revert OverBudget(m, fiscalYear, cap, used, amount);
        _grantedInYear[m][fiscalYear] = used + amount;
        _settleReserves(mykeyId);
        uint64 expiresAt = _expiryFor(s, endsAt);
        _credit(mykeyId, m, account, expiresAt, amount);
        _totals[m].granted += amount;
        emit PointsGranted(mykeyId, m, account, amount, activity, referenceHash, msg.sender, expiresAt);
    }

    /// @notice A partner converts `partnerUnits` of its points/miles at its rate into reserved points.
    function convert(bytes8 mykeyId, uint256 partnerUnits, bytes32 referenceHash) external returns (uint256 reserveId) {
        (uint8 kind, uint64 partner, uint8 roles) = consortium.accountOf(msg.sender);
        if (kind != Kinds.MEMBER_PARTNER || roles & (Kinds.ROLE_ADMIN | Kinds.ROLE_STAFF) == 0) {
            revert NotPartnerAccount(msg.sender);
        }
        (uint64 numerator, uint64 denominator) = consortium.partnerRate(partner);
        uint256 amount = partnerUnits * numerator / denominator;
        if (amount == 0) revert ZeroAmount();
        uint32 home = _activeMykey(mykeyId);
        _settleReserves(mykeyId);
        if (_pending[mykeyId].length >= MAX_PENDING_RESERVES) {
            revert TooManyPendingReserves(mykeyId, MAX_PENDING_RESERVES);
        }
        // Deadlines in one home queue never decrease, so `sweepReserves` may stop at the first
        // pending reserve still in the future.
        uint64 deadline = uint64(block.timestamp) + consortium.reservePeriod();
        if (deadline < _lastHomeDeadline[home]) deadline = _lastHomeDeadline[home];
        _lastHomeDeadline[home] = deadline;
        uint64 homeExpiresAt =
            Calendar.endOfJstDay(uint256(deadline) + uint256(consortium.municipality(home).validityDays) * 1 days);
        reserveId = ++reserveCount;
        _reserves[reserveId] = Reserve({
            mykeyId: mykeyId,
            home: home,
            placedIn: 0,
            state: RESERVE_PENDING,
            partner: partner,
            deadline: deadline,
            homeExpiresAt: homeExpiresAt,
            amount: uint128(amount)
        });
        _pending[mykeyId].push(reserveId);
        _homeQueue[home][_homeQueueTail[home]++] = reserveId;
        emit PointsConverted(mykeyId, home, partner, reserveId, partnerUnits, amount, deadline, referenceHash);
    }

    /// @notice The platform places a resident's reserved points, as the resident's card asked, in a
    /// municipality that accepts conversions. One-way: placed points never go back to the reserve.
    function placeReserve(uint256 reserveId, Attestation calldata a, bytes calldata signature) external {
        if (!consortium.isPlatform(msg.sender)) revert NotPlatform(msg.sender);
        Reserve storage r = _reserves[reserveId];
        if (r.state == 0) revert ReserveUnknown(reserveId);
        if (r.state != RESERVE_PENDING) revert ReserveNotPending(reserveId);
        if (r.deadline <= block.timestamp) revert ReserveDeadlinePassed(reserveId, r.deadline);
        if (a.mykeyId != r.mykeyId) revert AttestationMismatch("mykeyId");
        if (a.amount != r.amount) revert AttestationMismatch("amount");
        _activeMykey(r.mykeyId);
        uint32 m = a.municipality;
        MunicipalitySettings memory s = _openMunicipality(m);
        if (!s.acceptsConversions) revert ConversionsNotAccepted(m);
        _verify(a, signature, Kinds.ACTION_PLACE_RESERVE, 0);
        r.state = RESERVE_PLACED;
        r.placedIn = m;
        _removePending(r.mykeyId, reserveId);
        _settleReserves(r.mykeyId);
        uint64 expiresAt = _expiryFor(s, type(uint64).max);
        _credit(r.mykeyId, m, Kinds.REGULAR_ACCOUNT, expiresAt, r.amount);
        _totals[m].converted += r.amount;
        uint32 period = settlement.recordConversion(m, r.partner, r.amount);
        emit ReservePlaced(r.mykeyId, m, reserveId, r.partner, r.amount, false, expiresAt, period);
    }

    // ---- spend ----------------------------------------------------------------------------

    /// @notice Redeem points at a business's point-use terminal (two-party: terminal + attestation).
    function redeem(Attestation calldata a, bytes calldata signature, uint32 account, uint8 use)
        external
        returns (uint256 redemptionId)
    {
        Terminal memory t = _terminalOf(Kinds.TERMINAL_POINT_USE);
        uint32 m = a.municipality;
        _openMunicipality(m);
        _activeMykey(a.mykeyId);
        _accepted(m, t.ownerId, use);
        _usableAccount(m, account, use, true);
        _verify(a, signature, Kinds.ACTION_REDEEM, t.ownerId);
        _settleReserves(a.mykeyId);
        _debit(a.mykeyId, m, account, a.amount);
        redemptionId = ++redemptionCount;
        _redemptions[redemptionId] = Redemption({
            mykeyId: a.mykeyId,
            municipality: m,
            account: account,
            business: t.ownerId,
            redeemedAt: uint64(block.timestamp),
            amount: uint128(a.amount),
            refunded: 0
        });
        _totals[m].redeemed += a.amount;
        uint32 period = settlement.recordRedemption(m, t.ownerId, a.amount);
        emit PointsRedeemed(
            a.mykeyId, m, t.ownerId, redemptionId, account, a.amount, use, msg.sender, a.nonce, a.evidenceHash, period
        );
    }

    /// @notice Refund (part of) a redemption: same business, within the municipality's window.
    /// The points come back as a fresh lot (validity counted from the refund).
    function refund(uint256 redemptionId, uint256 amount) external {
        Terminal memory t = _terminalOf(Kinds.TERMINAL_POINT_USE);
        Redemption storage r = _redemptions[redemptionId];
        if (r.amount == 0) revert RedemptionUnknown(redemptionId);
        if (r.business != t.ownerId) revert RefundWrongBusiness(redemptionId, t.ownerId);
        uint32 m = r.municipality;
        MunicipalitySettings memory s = _openMunicipality(m);
        uint64 until = r.redeemedAt + s.refundWindow;
        if (block.timestamp > until) revert RefundWindowPassed(redemptionId, until);
        if (amount == 0) revert ZeroAmount();
        if (amount > r.amount - r.refunded) revert RefundExceedsRedemption(redemptionId, r.amount - r.refunded, amount);
        _activeMykey(r.mykeyId);
        uint64 endsAt = _usableAccount(m, r.account, 0, false);
        r.refunded += uint128(amount);
        _settleReserves(r.mykeyId);
        uint64 expiresAt = _expiryFor(s, endsAt);
        _credit(r.mykeyId, m, r.account, expiresAt, amount);
        _totals[m].refunded += amount;
        uint32 period = settlement.recordRefund(m, t.ownerId, amount);
        emit PointsRefunded(r.mykeyId, m, t.ownerId, redemptionId, r.account, amount, msg.sender, expiresAt, period);
    }

    /// @notice Issue a voucher (time-limited regional gift certificate) at a voucher terminal of the
    /// municipality or of a business accepting its points. `secretHash` is keccak256 of the secret
    /// printed on the voucher; whoever presents the secret redeems it once.
    function issueVoucher(Attestation calldata a, bytes calldata signature, uint32 account, bytes32 secretHash)
        external
        returns (uint256 voucherId)
    {
        Terminal memory t = _terminalOf(Kinds.TERMINAL_VOUCHER_ISSUE);
        uint32 m = a.municipality;
        uint64 business = 0;
        if (t.ownerKind == Kinds.MEMBER_MUNICIPALITY) {
            if (t.ownerId != m) revert TerminalOfAnotherMember(msg.sender, t.ownerKind, t.ownerId);
        } else {
            business = t.ownerId;
            if (consortium.acceptedUses(m, business) == 0) revert BusinessNotAccepted(m, business, 0);
        }
        MunicipalitySettings memory s = _openMunicipality(m);
        _activeMykey(a.mykeyId);
        _usableAccount(m, account, 0, false);
        _verify(a, signature, Kinds.ACTION_ISSUE_VOUCHER, business);
        _settleReserves(a.mykeyId);
        _debit(a.mykeyId, m, account, a.amount);
        voucherId = ++voucherCount;
        uint64 expiresAt = Calendar.endOfJstDay(block.timestamp + uint256(s.voucherValidityDays) * 1 days);
        _vouchers[voucherId] = Voucher({
            mykeyId: a.mykeyId,
            municipality: m,
            expiresAt: expiresAt,
            redeemedBy: 0,
            amount: uint128(a.amount),
            secretHash: secretHash
        });
        _totals[m].vouchered += a.amount;
        emit VoucherIssued(a.mykeyId, m, voucherId, account, a.amount, expiresAt, msg.sender, a.nonce, a.evidenceHash);
    }

    /// @notice Redeem a voucher at a point-use terminal of a business the municipality accepts.
    function redeemVoucher(uint256 voucherId, bytes32 secret, uint8 use) external {
        Terminal memory t = _terminalOf(Kinds.TERMINAL_POINT_USE);
        Voucher storage v = _vouchers[voucherId];
        if (v.amount == 0) revert VoucherUnknown(voucherId);
        uint32 m = v.municipality;
        _openMunicipality(m);
        _accepted(m, t.ownerId, use);
        if (v.redeemedBy != 0) revert VoucherAlreadyRedeemed(voucherId);
        if (block.timestamp >= v.expiresAt) revert VoucherExpired(voucherId, v.expiresAt);
        if (keccak256(abi.encodePacked(secret)) != v.secretHash) revert VoucherSecretMismatch(voucherId);
        v.redeemedBy = t.ownerId;
        _totals[m].vouchersRedeemed += v.amount;
        uint32 period = settlement.recordVoucherRedemption(m, t.ownerId, v.amount);
        emit VoucherRedeemed(m, voucherId, t.ownerId, v.amount, msg.sender, period);
    }

    // ---- expiry ---------------------------------------------------------------------------

    /// @notice Anyone may sweep: records due reserves and expired lots of one account, emitting
    /// their events. Balances do not change (expired points already stopped counting).
    function sweepExpired(bytes8 mykeyId, uint32 m, uint32 account) external {
        _settleReserves(mykeyId);
        _prune(mykeyId, m, account, _lots[_key(mykeyId, m, account)]);
    }

    // ---- views ----------------------------------------------------------------------------

    /// @return balance Points spendable now in (MyKey ID, municipality, account), due reserves included.
    function balanceOf(bytes8 mykeyId, uint32 m, uint32 account) public view returns (uint256 balance) {
        LotList storage list = _lots[_key(mykeyId, m, account)];
        for (uint256 i = 0; i < list.count; ++i) {
            Lot storage lot = _slot(list, i);
            if (lot.expiresAt > block.timestamp) balance += lot.amount;
        }
        if (account != Kinds.REGULAR_ACCOUNT) return balance;
        uint256[] storage pending = _pending[mykeyId];
        for (uint256 i = 0; i < pending.length; ++i) {
            Reserve storage r = _reserves[pending[i]];
            if (r.home == m && r.deadline <= block.timestamp && r.homeExpiresAt > block.timestamp) {
                balance += r.amount;
            }
        }
    }

    /// @return reserved Reserved points of `mykeyId` not yet placed and still before their deadline.
    function reservedOf(bytes8 mykeyId) external view returns (uint256 reserved) {
        uint256[] storage pending = _pending[mykeyId];
        for (uint256 i = 0; i < pending.length; ++i) {
            Reserve storage r = _reserves[pending[i]];
            if (r.deadline > block.timestamp) reserved += r.amount;
        }
    }

    function pendingReserveIds(bytes8 mykeyId) external view returns (uint256[] memory) {
        return _pending[mykeyId];
    }

    function lotsOf(bytes8 mykeyId, uint32 m, uint32 account) external view returns (Lot[] memory lots) {
        LotList storage list = _lots[_key(mykeyId, m, account)];
        lots = new Lot[](list.count);
        for (uint256 i = 0; i < list.count; ++i) {
            lots[i] = _slot(list, i);
        }
    }

    function reserve(uint256 reserveId) external view returns (Reserve memory) {
        return _reserves[reserveId];
    }

    function redemption(uint256 redemptionId) external view returns (Redemption memory) {
        return _redemptions[redemptionId];
    }

    function voucher(uint256 voucherId) external view returns (Voucher memory) {
        return _vouchers[voucherId];
    }

    function totalsOf(uint32 m) external view returns (Totals memory) {
        return _totals[m];
    }

    function grantedInFiscalYear(uint32 m, uint16 fiscalYear) external view returns (uint256) {
        return _grantedInYear[m][fiscalYear];
    }

    function isNonceUsed(uint256 nonce) external view returns (bool) {
        return _usedNonces[nonce];
    }

    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    function version() external pure virtual returns (uint256) {
        return 1;
    }
}
