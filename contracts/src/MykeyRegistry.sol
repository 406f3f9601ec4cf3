// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {UUPSUpgradeable} from "@openzeppelin/contracts/proxy/utils/UUPSUpgradeable.sol";
import {Initializable} from "@openzeppelin/contracts/proxy/utils/Initializable.sol";
import "./Errors.sol";
import {IConsortium} from "./Interfaces.sol";

/// @title MykeyRegistry: MyKey IDs, their status and home municipality. Platform-only writes.
/// @notice A MyKey ID is 8 half-width upper-case letters or digits, checked here byte by byte.
/// Nothing else about the person is stored: the card binding lives off-chain, and a re-binding
/// after a certificate renewal only bumps a counter, so the ID and every point keyed by it stay.
/// @dev Invariants: status moves none -> active <-> revoked, never back to none; an active or
/// revoked ID always has an admitted home municipality.
contract MykeyRegistry is Initializable, UUPSUpgradeable {
    uint8 public constant STATUS_NONE = 0;
    uint8 public constant STATUS_ACTIVE = 1;
    uint8 public constant STATUS_REVOKED = 2;

    struct Record {
        uint8 status;
        uint32 homeMunicipality;
        uint32 bindings; // how many times the ID was (re)bound to an auth certificate
    }

    IConsortium public consortium;
    mapping(bytes8 => Record) private _records;
    uint256 public registeredCount;

    event MykeyRegistered(bytes8 indexed mykeyId, uint32 indexed homeMunicipality);
    event MykeyRebound(bytes8 indexed mykeyId, uint32 bindings);
    event MykeyRevokedEvent(bytes8 indexed mykeyId);
    event MykeyHomeChanged(bytes8 indexed mykeyId, uint32 indexed homeMunicipality, uint32 previous);

    constructor() {
        _disableInitializers();
    }

    function initialize(IConsortium consortium_) external initializer {
        consortium = consortium_;
    }

    modifier onlyPlatform() {
        if (!consortium.isPlatform(msg.sender)) revert NotPlatform(msg.sender);
        _;
    }

    function _authorizeUpgrade(address) internal view override onlyPlatform {}

    /// @return True when `mykeyId` is 8 characters from A-Z and 0-9.
    function isWellFormed(bytes8 mykeyId) public pure returns (bool) {
        for (uint256 i = 0; i < 8; ++i) {
            uint8 c = uint8(mykeyId[i]);
            bool digit = c >= 0x30 && c <= 0x39;
            bool upper = c >= 0x41 && c <= 0x5a;
            if (!digit && !upper) return false;
        }
        return true;
    }

    function _admittedHome(uint32 home) private view {
        if (!consortium.municipality(home).admitted) revert MunicipalityNotAdmitted(home);
    }

    function _existing(bytes8 mykeyId) private view returns (Record storage record) {
        record = _records[mykeyId];
        if (record.status == STATUS_NONE) revert MykeyUnknown(mykeyId);
    }

    function register(bytes8 mykeyId, uint32 homeMunicipality) external onlyPlatform {
        if (!isWellFormed(mykeyId)) revert InvalidMykeyId(mykeyId);
        if (_records[mykeyId].status != STATUS_NONE) revert MykeyTaken(mykeyId);
        _admittedHome(homeMunicipality);
        _records[mykeyId] = Record(STATUS_ACTIVE, homeMunicipality, 1);
        ++registeredCount;
        emit MykeyRegistered(mykeyId, homeMunicipality);
    }

    /// @notice After a certificate renewal: same ID, same points, active again.
    function rebind(bytes8 mykeyId) external onlyPlatform {
        Record storage record = _existing(mykeyId);
        record.status = STATUS_ACTIVE;
        record.bindings += 1;
        emit MykeyRebound(mykeyId, record.bindings);
    }

    /// @notice The certificate behind the ID was revoked (lost card, death, ...): points freeze.
    function revoke(bytes8 mykeyId) external onlyPlatform {
        Record storage record = _existing(mykeyId);
        record.status = STATUS_REVOKED;
        emit MykeyRevokedEvent(mykeyId);
    }

    function setHome(bytes8 mykeyId, uint32 homeMunicipality) external onlyPlatform {
        Record storage record = _existing(mykeyId);
        if (record.status != STATUS_ACTIVE) revert MykeyRevoked(mykeyId);
        _admittedHome(homeMunicipality);
        uint32 previous = record.homeMunicipality;
        record.homeMunicipality = homeMunicipality;
        emit MykeyHomeChanged(mykeyId, homeMunicipality, previous);
    }

    function statusOf(bytes8 mykeyId) external view returns (uint8 status, uint32 homeMunicipality) {
        Record memory record = _records[mykeyId];
        return (record.status, record.homeMunicipality);
    }

    function recordOf(bytes8 mykeyId) external view returns (Record memory) {
        return _records[mykeyId];
    }

    function version() external pure virtual returns (uint256) {
        return 1;
    }
}
