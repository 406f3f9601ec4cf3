"""A small point contract for node tests and the block-building benchmark.

Compiled with solc 0.8.37+commit.f401782d.Emscripten.clang (npm `solc`), evmVersion "prague",
optimizer on (200 runs), from this source (kept here so the bytecode can be checked and rebuilt):

```solidity
// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

contract Points {
    mapping(uint32 => mapping(bytes8 => uint256)) public balances;

    event Granted(uint32 indexed municipality, bytes8 indexed mykeyId, uint256 points);
    event Redeemed(uint32 indexed municipality, bytes8 indexed mykeyId, uint256 points);

    error InsufficientPoints(uint256 available, uint256 requested);

    function grant(uint32 municipality, bytes8 mykeyId, uint256 points) external {
        require(points > 0, "points must be positive");
        balances[municipality][mykeyId] += points;
        emit Granted(municipality, mykeyId, points);
    }

    function redeem(uint32 municipality, bytes8 mykeyId, uint256 points) external {
        uint256 available = balances[municipality][mykeyId];
        if (available < points) revert InsufficientPoints(available, points);
        balances[municipality][mykeyId] = available - points;
        emit Redeemed(municipality, mykeyId, points);
    }
}
```
"""

from __future__ import annotations

import json
from typing import Any

POINTS_SOURCE_VERSION = "0.8.37+commit.f401782d.Emscripten.clang"

POINTS_BYTECODE = bytes.fromhex(
    "6080604052348015600e575f5ffd5b506103578061001c5f395ff3fe608060405234801561000f575f5ffd5b50"
    "6004361061003f575f3560e01c806359ecf3a71461004357806364159eca14610058578063f7d5c5c51461006b"
    "575b5f5ffd5b610056610051366004610277565b6100a4565b005b610056610066366004610277565b61017156"
    "5b6100926100793660046102b0565b5f60208181529281526040808220909352908152205481565b6040519081"
    "5260200160405180910390f35b63ffffffff83165f908152602081815260408083206001600160c01b03198616"
    "8452909152902054818110156100fc57604051638059c74760e01b815260048101829052602481018390526044"
    "015b60405180910390fd5b61010682826102f5565b63ffffffff85165f81815260208181526040808320600160"
    "0160c01b0319891680855292529182902093909355517f6d7c87964228bd74e2e5c595a06949c0ed0205437902"
    "a2184f4b47fd194c2fc3906101639086815260200190565b60405180910390a350505050565b5f81116101c057"
    "60405162461bcd60e51b815260206004820152601760248201527f706f696e7473206d75737420626520706f73"
    "697469766500000000000000000060448201526064016100f3565b63ffffffff83165f90815260208181526040"
    "8083206001600160c01b031986168452909152812080548392906101f790849061030e565b9091555050604051"
    "8181526001600160c01b031983169063ffffffff8516907f16939095986a7d562f39eb9c983dae9023798fee24"
    "f58f6479788765e833c01e9060200160405180910390a3505050565b803563ffffffff8116811461025b575f5f"
    "fd5b919050565b80356001600160c01b03198116811461025b575f5ffd5b5f5f5f60608486031215610289575f"
    "5ffd5b61029284610248565b92506102a060208501610260565b9150604084013590509250925092565b5f5f60"
    "4083850312156102c1575f5ffd5b6102ca83610248565b91506102d860208401610260565b9050925092905056"
    "5b634e487b7160e01b5f52601160045260245ffd5b81810381811115610308576103086102e1565b9291505056"
    "5b80820180821115610308576103086102e156fea26469706673582212209c6f485b0e62c9f6ab295189d3bde8"
    "f18613bdf8e8f131d1827f8a5433a2003964736f6c63430008250033"
)

POINTS_ABI: list[dict[str, Any]] = json.loads(
    '[{"inputs": [{"internalType": "uint256", "name": "available", "type": "uint256"}, {"intern'
    'alType": "uint256", "name": "requested", "type": "uint256"}], "name": "InsufficientPoints"'
    ', "type": "error"}, {"anonymous": false, "inputs": [{"indexed": true, "internalType": "uin'
    't32", "name": "municipality", "type": "uint32"}, {"indexed": true, "internalType": "bytes8'
    '", "name": "mykeyId", "type": "bytes8"}, {"indexed": false, "internalType": "uint256", "na'
    'me": "points", "type": "uint256"}], "name": "Granted", "type": "event"}, {"anonymous": fal'
    'se, "inputs": [{"indexed": true, "internalType": "uint32", "name": "municipality", "type":'
    ' "uint32"}, {"indexed": true, "internalType": "bytes8", "name": "mykeyId", "type": "bytes8'
    '"}, {"indexed": false, "internalType": "uint256", "name": "points", "type": "uint256"}], "'
    'name": "Redeemed", "type": "event"}, {"inputs": [{"internalType": "uint32", "name": "", "t'
    'ype": "uint32"}, {"internalType": "bytes8", "name": "", "type": "bytes8"}], "name": "balan'
    'ces", "outputs": [{"internalType": "uint256", "name": "", "type": "uint256"}], "stateMutab'
    'ility": "view", "type": "function"}, {"inputs": [{"internalType": "uint32", "name": "munic'
    'ipality", "type": "uint32"}, {"internalType": "bytes8", "name": "mykeyId", "type": "bytes8'
    '"}, {"internalType": "uint256", "name": "points", "type": "uint256"}], "name": "grant", "o'
    'utputs": [], "stateMutability": "nonpayable", "type": "function"}, {"inputs": [{"internalT'
    'ype": "uint32", "name": "municipality", "type": "uint32"}, {"internalType": "bytes8", "nam'
    'e": "mykeyId", "type": "bytes8"}, {"internalType": "uint256", "name": "points", "type": "u'
    'int256"}], "name": "redeem", "outputs": [], "stateMutability": "nonpayable", "type": "func'
    'tion"}]'
)
