#!/usr/bin/env bash
# Starts the long-running system services the test suite uses; safe to run twice.
set -euo pipefail
# pcscd for the card bridge's real-stack tests (vpcd readers). Never with -a: it would log APDUs.
if command -v pcscd >/dev/null && ! pgrep -x pcscd >/dev/null; then
  systemctl stop pcscd.socket pcscd.service >/dev/null 2>&1 || true
  mkdir -p /run/pcscd
  pcscd --foreground >/tmp/mykey-pcscd.log 2>&1 &
  for _ in $(seq 50); do [ -S /run/pcscd/pcscd.comm ] && break; sleep 0.1; done
fi
