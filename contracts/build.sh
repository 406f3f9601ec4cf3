#!/usr/bin/env bash
# Rebuild the committed artifacts (contracts/artifacts/*.json) from contracts/src with the solc
# version pinned in package-lock.json. Needs Node.js; Python users of the ledger never run this.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -d node_modules/solc ] || [ ! -d node_modules/@openzeppelin/contracts ]; then
  npm ci --no-audit --no-fund
fi
node compile.mjs "${1:-artifacts}"
