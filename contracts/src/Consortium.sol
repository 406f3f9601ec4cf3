// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {UUPSUpgradeable} from "@openzeppelin/contracts/proxy/utils/UUPSUpgradeable.sol";
import {Initializable} from "@openzeppelin/contracts/proxy/utils/Initializable.sol";
import "./Errors.sol";
import {Kinds} from "./Kinds.sol";
import {MunicipalityCode} from "./MunicipalityCode.sol";
import {MunicipalitySettings, Terminal, EventAccount} from "./Interfaces.sol";

/// @title Consortium: members, their accounts and terminals, municipal settings, node permissions.
/// @notice The platform operator admits municipalities (by municipality code), partner companies and
/// businesses, names the verifier keys that attest card actions, sets partner rates and the reserve
/// period, and keeps the node permission list. Each member then runs itself: its admin adds its own
/// accounts (staff, treasurers) and registers its own terminals. A municipality decides its point
/// settings, which businesses accept its points for which uses, its event accounts, its yearly
/// grant budget, and may pause itself.
/// @dev Invariants: an address is at most one member's account and at most one terminal; a
/// municipality has at most one management (granting) terminal; terminal kinds match member kinds
/// (granting: municipality; point use: business; voucher issue: municipality or business).
contract Consortium is Initializable, UUPSUpgradeable {
    struct Account {
        uint8 memberKind;
        uint64 memberId;
        uint8 roles;
    }

    struct Partner {
        bool admitted;
        uint64 rateNumerator; // points per `rateDenominator` partner units
        uint64 rateDenominator;
    }

    mapping(address => Account) private _accounts;
    mapping(address => bool) private _verifiers;
    mapping(uint32 => MunicipalitySettings) private _municipalities;
    mapping(uint64 => Partner) private _partners;
    mapping(uint64 => bool) private _businesses;
    mapping(address => Terminal) private _terminals;
    mapping(uint32 => mapping(uint64 => uint8)) private _acceptedUses;
    mapping(uint32 => mapping(uint32 => EventAccount)) private _eventAccounts;
    mapping(uint32 => mapping(uint16 => uint256)) private _grantBudgetPlusOne; // 0: no cap
    mapping(address => bool) private _nodeAllowed;
    address[] private _nodes;
    uint64 private _nextPartnerId;
    uint64 private _nextBusinessId;
    uint64 private _reservePeriod;
    uint32[] private _municipalityCodes;

    event PlatformAccountSet(address indexed account, bool enabled);
    event VerifierSet(address indexed verifier, bool enabled);
    event MunicipalityAdmitted(uint32 indexed municipality, address admin);
    event PartnerAdmitted(uint64 indexed partner, address admin, string name);
    event BusinessAdmitted(uint64 indexed business, address admin, string name);
    event MemberAccountSet(
        uint8 indexed memberKind, uint64 indexed memberId, address indexed account, uint8 roles
    );
    event MemberAccountRemoved(uint8 indexed memberKind, uint64 indexed memberId, address indexed account);
    event TerminalRegistered(
        uint8 indexed ownerKind, uint64 indexed ownerId, address indexed terminal, uint8 kind, bool management
    );
    event TerminalDeregistered(uint8 indexed ownerKind, uint64 indexed ownerId, address indexed terminal);
    event MunicipalitySettingsChanged(
        uint32 indexed municipality,
        uint16 validityDays,
        uint16 voucherValidityDays,
        uint32 refundWindow,
        bool acceptsConversions
    );
    event BusinessAcceptanceSet(uint32 indexed municipality, uint64 indexed business, uint8 uses);
    event EventAccountOpened(
        uint32 indexed municipality, uint32 indexed account, uint64 startsAt, uint64 endsAt, uint8 uses
    );
    event GrantBudgetSet(uint32 indexed municipality, uint16 indexed fiscalYear, bool capped, uint256 cap);
    event MunicipalityPauseSet(uint32 indexed municipality, bool paused, address by);
    event PartnerRateSet(uint64 indexed partner, uint64 numerator, uint64 denominator);
    event ReservePeriodSet(uint64 seconds_);
    event NodeAllowed(address indexed nodeKey, bool allowed);

    constructor() {
        _disableInitializers();
    }

    function initialize(address platformOperator) external initializer {
        _accounts[platformOperator] = Account(Kinds.MEMBER_PLATFORM, 0, Kinds.ROLE_ADMIN);
        _reservePeriod = 14 days;
        _nextPartnerId = 1;
        _nextBusinessId = 1;
        emit PlatformAccountSet(platformOperator, true);
        emit ReservePeriodSet(14 days);
    }

    // ---- guards ---------------------------------------------------------------------------

    modifier onlyPlatform() {
        if (!isPlatform(msg.sender)) revert NotPlatform(msg.sender);
        _;
    }

    function _authorizeUpgrade(address) internal view override onlyPlatform {}

    function _memberAdmin() private view returns (Account memory account) {
        account = _accounts[msg.sender];
        if (account.memberKind == Kinds.MEMBER_NONE || account.roles & Kinds.ROLE_ADMIN == 0) {
            revert NotMemberAdmin(msg.sender);
        }
    }

    function _municipalityAdmin(uint32 code) private view {
        Account memory account = _accounts[msg.sender];
        if (
            account.memberKind != Kinds.MEMBER_MUNICIPALITY || account.memberId != code
                || account.roles & Kinds.ROLE_ADMIN == 0
        ) revert NotMunicipalityStaff(msg.sender, code);
        if (!_municipalities[code].admitted) revert MunicipalityNotAdmitted(code);
    }

    function _takeAccount(address account) private view {
        if (_accounts[account].memberKind != Kinds.MEMBER_NONE) revert AccountTaken(account);
        if (_terminals[account].kind != Kinds.TERMINAL_NONE) revert TerminalTaken(account);
    }

    // ---- platform operator ------------------------------------------------------------------

    function setPlatformAccount(address account, bool enabled) external onlyPlatform {
        if (enabled) {
            _takeAccount(account);
            _accounts[account] = Account(Kinds.MEMBER_PLATFORM, 0, Kinds.ROLE_ADMIN);
        } else {
            if (_accounts[account].memberKind != Kinds.MEMBER_PLATFORM) revert UnknownAccount(account);
            delete _accounts[account];
        }
        emit PlatformAccountSet(account, enabled);
    }

    function setVerifier(address verifier, bool enabled) external onlyPlatform {
        _verifiers[verifier] = enabled;
        emit VerifierSet(verifier, enabled);
    }

    /// @notice Admit a municipality by its code ("14130" or "141305") with its first admin account.
    function admitMunicipality(
        string calldata code,
        address admin,
        uint16 validityDays,
        uint16 voucherValidityDays,
        uint32 refundWindow,
        bool acceptsConversions
    ) external onlyPlatform returns (uint32 municipalityCode) {
        municipalityCode = MunicipalityCode.parse(code);
        if (_municipalities[municipalityCode].admitted) {
            revert MunicipalityAlreadyAdmitted(municipalityCode);
        }
        _takeAccount(admin);
        _checkSettings(validityDays, voucherValidityDays);
        _municipalities[municipalityCode] = MunicipalitySettings({
            admitted: true,
            paused: false,
            acceptsConversions: acceptsConversions,
            validityDays: validityDays,
            voucherValidityDays: voucherValidityDays,
            refundWindow: refundWindow,
            managementTerminal: address(0),
            eventAccounts: 0
        });
        _municipalityCodes.push(municipalityCode);
        _accounts[admin] = Account(
            Kinds.MEMBER_MUNICIPALITY, municipalityCode, Kinds.ROLE_ADMIN | Kinds.ROLE_TREASURER
        );
        emit MunicipalityAdmitted(municipalityCode, admin);
        emit MemberAccountSet(
            Kinds.MEMBER_MUNICIPALITY, municipalityCode, admin, Kinds.ROLE_ADMIN | Kinds.ROLE_TREASURER
        );
        emit MunicipalitySettingsChanged(
            municipalityCode, validityDays, voucherValidityDays, refundWindow, acceptsConversions
        );
    }

    function admitPartner(string calldata name, address admin, uint64 rateNumerator, uint64 rateDenominator)
        external
        onlyPlatform
        returns (uint64 partner)
    {
        _takeAccount(admin);
        if (rateNumerator == 0 || rateDenominator == 0) revert InvalidRate(rateNumerator, rateDenominator);
        partner = _nextPartnerId++;
        _partners[partner] = Partner(true, rateNumerator, rateDenominator);
        _accounts[admin] = Account(Kinds.MEMBER_PARTNER, partner, Kinds.ROLE_ADMIN | Kinds.ROLE_STAFF);
        emit PartnerAdmitted(partner, admin, name);
        emit MemberAccountSet(Kinds.MEMBER_PARTNER, partner, admin, Kinds.ROLE_ADMIN | Kinds.ROLE_STAFF);
        emit PartnerRateSet(partner, rateNumerator, rateDenominator);
    }

    function setPartnerRate(uint64 partner, uint64 numerator, uint64 denominator) external onlyPlatform {
        if (!_partners[partner].admitted) revert PartnerNotAdmitted(partner);
        if (numerator == 0 || denominator == 0) revert InvalidRate(numerator, denominator);
        _partners[partner].rateNumerator = numerator;
        _partners[partner].rateDenominator = denominator;
        emit PartnerRateSet(partner, numerator, denominator);
    }

    function admitBusiness(string calldata name, address admin) external onlyPlatform returns (uint64 business) {
        _takeAccount(admin);
        business = _nextBusinessId++;
        _businesses[business] = true;
        _accounts[admin] = Account(Kinds.MEMBER_BUSINESS, business, Kinds.ROLE_ADMIN);
        emit BusinessAdmitted(business, admin, name);
        emit MemberAccountSet(Kinds.MEMBER_BUSINESS, business, admin, Kinds.ROLE_ADMIN);
    }

    function setReservePeriod(uint64 seconds_) external onlyPlatform {
        if (seconds_ == 0 || seconds_ > 365 days) revert InvalidSetting("reservePeriod");
        _reservePeriod = seconds_;
        emit ReservePeriodSet(seconds_);
    }

    /// @notice Node permissioning: which node keys (as addresses) may join the network.
    function setNodeAllowed(address nodeKey, bool allowed) external onlyPlatform {
        if (allowed && !_nodeAllowed[nodeKey]) {
            _nodes.push(nodeKey);
        } else if (!allowed && _nodeAllowed[nodeKey]) {
            for (uint256 i = 0; i < _nodes.length; ++i) {
                if (_nodes[i] == nodeKey) {
                    _nodes[i] = _nodes[_nodes.length - 1];
                    _nodes.pop();
                    break;
                }
            }
        }
        _nodeAllowed[nodeKey] = allowed;
        emit NodeAllowed(nodeKey, allowed);
    }

    // ---- every member for itself ------------------------------------------------------------

    /// @notice A member admin adds or changes one of its own accounts (roles: Kinds.ROLE_*).
    function setMemberAccount(address account, uint8 roles) external {
        Account memory admin = _memberAdmin();
        Account memory existing = _accounts[account];
        if (existing.memberKind != Kinds.MEMBER_NONE) {
            if (existing.memberKind != admin.memberKind || existing.memberId != admin.memberId) {
                revert AccountTaken(account);
            }
        } else {
            _takeAccount(account);
        }
        if (roles == 0 || roles > 7) revert InvalidSetting("roles");
        _accounts[account] = Account(admin.memberKind, admin.memberId, roles);
        emit MemberAccountSet(admin.memberKind, admin.memberId, account, roles);
    }

    function removeMemberAccount(address account) external {
        Account memory admin = _memberAdmin();
        Account memory existing = _accounts[account];
        if (existing.memberKind != admin.memberKind || existing.memberId != admin.memberId) {
            revert UnknownAccount(account);
        }
        delete _accounts[account];
        emit MemberAccountRemoved(admin.memberKind, admin.memberId, account);
    }

    /// @notice A member registers one of its own terminals. Granting terminals are the
    /// municipality's: `management` marks the one management terminal, others are mobile.
    function registerTerminal(address terminalAccount, uint8 kind, bool management) external {
        Account memory admin = _memberAdmin();
        _takeAccount(terminalAccount);
        if (!_terminalKindAllowed(admin.memberKind, kind) || (management && kind != Kinds.TERMINAL_GRANTING)) {
            revert TerminalKindNotAllowed(admin.memberKind, kind);
        }
        if (management) {
            uint32 code = uint32(admin.memberId);
            address existing = _municipalities[code].managementTerminal;
            if (existing != address(0)) revert ManagementTerminalExists(code, existing);
            _municipalities[code].managementTerminal = terminalAccount;
        }
        _terminals[terminalAccount] = Terminal(kind, admin.memberKind, admin.memberId, management);
        emit TerminalRegistered(admin.memberKind, admin.memberId, terminalAccount, kind, management);
    }

    function deregisterTerminal(address terminalAccount) external {
        Account memory admin = _memberAdmin();
        Terminal memory t = _terminals[terminalAccount];
        if (t.kind == Kinds.TERMINAL_NONE) revert UnregisteredTerminal(terminalAccount);
        if (t.ownerKind != admin.memberKind || t.ownerId != admin.memberId) {
            revert TerminalOfAnotherMember(terminalAccount, t.ownerKind, t.ownerId);
        }
        if (t.management) _municipalities[uint32(t.ownerId)].managementTerminal = address(0);
        delete _terminals[terminalAccount];
        emit TerminalDeregistered(t.ownerKind, t.ownerId, terminalAccount);
    }

    function _terminalKindAllowed(uint8 memberKind, uint8 kind) private pure returns (bool) {
        if (kind == Kinds.TERMINAL_SERVICE_ID_LOOKUP) {
            return memberKind == Kinds.MEMBER_MUNICIPALITY || memberKind == Kinds.MEMBER_BUSINESS;
        }
        if (kind == Kinds.TERMINAL_POINT_USE) return memberKind == Kinds.MEMBER_BUSINESS;
        if (kind == Kinds.TERMINAL_VOUCHER_ISSUE) {
            return memberKind == Kinds.MEMBER_MUNICIPALITY || memberKind == Kinds.MEMBER_BUSINESS;
        }
        if (kind == Kinds.TERMINAL_GRANTING) return memberKind == Kinds.MEMBER_MUNICIPALITY;
        return false;
    }

    // ---- municipalities ---------------------------------------------------------------------

    function setMunicipalitySettings(
        uint32 code,
        uint16 validityDays,
        uint16 voucherValidityDays,
        uint32 refundWindow,
        bool acceptsConversions
    ) external {
        _municipalityAdmin(code);
        _checkSettings(validityDays, voucherValidityDays);
        MunicipalitySettings storage s = _municipalities[code];
        s.validityDays = validityDays;
        s.voucherValidityDays = voucherValidityDays;
        s.refundWindow = refundWindow;
        s.acceptsConversions = acceptsConversions;
        emit MunicipalitySettingsChanged(code, validityDays, voucherValidityDays, refundWindow, acceptsConversions);
    }

    function _checkSettings(uint16 validityDays, uint16 voucherValidityDays) private pure {
        if (validityDays == 0 || validityDays > 3660) revert InvalidSetting("validityDays");
        if (voucherValidityDays == 0 || voucherValidityDays > 3660) revert InvalidSetting("voucherValidityDays");
    }

    /// @notice Which uses (bit mask of Kinds.USE_*) `business` may accept this municipality's points for.
    function setBusinessAcceptance(uint32 code, uint64 business, uint8 uses) external {
        _municipalityAdmin(code);
        if (!_businesses[business]) revert BusinessNotAdmitted(business);
        if (uses >= uint8(1) << Kinds.USE_COUNT) revert InvalidUse(uses);
        _acceptedUses[code][business] = uses;
        emit BusinessAcceptanceSet(code, business, uses);
    }

    function openEventAccount(uint32 code, uint64 startsAt, uint64 endsAt, uint8 uses)
        external
        returns (uint32 account)
    {
        _municipalityAdmin(code);
        if (endsAt <= startsAt || endsAt <= block.timestamp) revert InvalidSetting("event dates");
        if (uses == 0 || uses >= uint8(1) << Kinds.USE_COUNT) revert InvalidUse(uses);
        account = ++_municipalities[code].eventAccounts;
        _eventAccounts[code][account] = EventAccount(startsAt, endsAt, uses);
        emit EventAccountOpened(code, account, startsAt, endsAt, uses);
    }

    /// @notice Cap the points this municipality may grant in a fiscal year (April-March, JST).
    function setGrantBudget(uint32 code, uint16 fiscalYear, bool capped, uint256 cap) external {
        _municipalityAdmin(code);
        _grantBudgetPlusOne[code][fiscalYear] = capped ? cap + 1 : 0;
        emit GrantBudgetSet(code, fiscalYear, capped, cap);
    }

    /// @notice Emergency stop of every point movement in one municipality (platform or its admin).
    function setPaused(uint32 code, bool paused) external {
        if (!isPlatform(msg.sender)) _municipalityAdmin(code);
        if (!_municipalities[code].admitted) revert MunicipalityNotAdmitted(code);
        _municipalities[code].paused = paused;
        emit MunicipalityPauseSet(code, paused, msg.sender);
    }

    // ---- views ------------------------------------------------------------------------------

    function isPlatform(address account) public view returns (bool) {
        return _accounts[account].memberKind == Kinds.MEMBER_PLATFORM;
    }

    function isVerifier(address account) external view returns (bool) {
        return _verifiers[account];
    }

    function municipality(uint32 code) external view returns (MunicipalitySettings memory) {
        return _municipalities[code];
    }

    function municipalityCodes() external view returns (uint32[] memory) {
        return _municipalityCodes;
    }

    function terminal(address account) external view returns (Terminal memory) {
        return _terminals[account];
    }

    function accountOf(address account) external view returns (uint8 memberKind, uint64 memberId, uint8 roles) {
        Account memory a = _accounts[account];
        return (a.memberKind, a.memberId, a.roles);
    }

    function isPartner(uint64 partner) external view returns (bool) {
        return _partners[partner].admitted;
    }

    function isBusiness(uint64 business) external view returns (bool) {
        return _businesses[business];
    }

    function acceptedUses(uint32 code, uint64 business) external view returns (uint8) {
        return _acceptedUses[code][business];
    }

    function eventAccount(uint32 code, uint32 account) external view returns (EventAccount memory) {
        return _eventAccounts[code][account];
    }

    function partnerRate(uint64 partner) external view returns (uint64 numerator, uint64 denominator) {
        Partner memory p = _partners[partner];
        return (p.rateNumerator, p.rateDenominator);
    }

    function grantBudget(uint32 code, uint16 fiscalYear) external view returns (bool capped, uint256 cap) {
        uint256 stored = _grantBudgetPlusOne[code][fiscalYear];
        return stored == 0 ? (false, 0) : (true, stored - 1);
    }

    function reservePeriod() external view returns (uint64) {
        return _reservePeriod;
    }

    function isNodeAllowed(address nodeKey) external view returns (bool) {
        return _nodeAllowed[nodeKey];
    }

    function allowedNodes() external view returns (address[] memory) {
        return _nodes;
    }

    function version() external pure virtual returns (uint256) {
        return 1;
    }
}
