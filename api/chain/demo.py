"""Wiring the API to the demo consortium (`mykey dev`): keystores and the chain configuration.

`write_demo_chain` puts the demo consortium's THROWAWAY TEST KEYS (contracts.demo: derived from
a public seed, worthless by design) into encrypted keystores and writes the `ChainConfig` JSON,
so `mykey dev` can start the API with `MYKEY_API_CHAIN_CONFIG` / `KEYSTORE_DIR` /
`KEYSTORE_PASSWORD_FILE` (or `ApiSettings` fields) exactly as a real deployment would.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from api.chain.config import ChainConfig
from api.chain.keys import write_keystore
from contracts.demo import DemoConsortium
from contracts.transactions import address_of


def write_demo_chain(
    directory: Path, rpc_url: str, demo: DemoConsortium, *, iterations: int | None = 2
) -> tuple[Path, Path, Path]:
    """Write keystores, a password file and the config under `directory`.

    Returns (config file, keystore dir, password file). `iterations` keeps decryption fast for
    these throwaway keys; pass None to use full scrypt cost.
    """
    directory.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(24)
    password_file = directory / "keystore-password"
    descriptor = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(password + "\n")
    keystore = directory / "keystore"
    keys = [demo.platform_key, demo.verifier_key, demo.partner.admin_key]
    for municipality in demo.municipalities.values():
        keys += [
            municipality.admin_key,
            municipality.management_terminal_key,
            municipality.mobile_terminal_key,
        ]
        keys.append(municipality.voucher_terminal_key)
    for business in demo.businesses.values():
        keys += list(business.terminal_keys.values())
    for key in keys:
        write_keystore(keystore, key, password, iterations=iterations)
    config = ChainConfig(
        rpc_url=rpc_url,
        deployment=demo.deployment,
        platform=address_of(demo.platform_key),
        verifier=address_of(demo.verifier_key),
        granting_terminals={
            int(code): address_of(m.management_terminal_key)
            for code, m in demo.municipalities.items()
        },
        treasurers={int(code): address_of(m.admin_key) for code, m in demo.municipalities.items()},
        municipal_admins={
            int(code): address_of(m.admin_key) for code, m in demo.municipalities.items()
        },
        partners={demo.partner.partner_id: address_of(demo.partner.admin_key)},
    )
    config_file = directory / "chain.json"
    config_file.write_text(json.dumps(config.to_json(), indent=2) + "\n", encoding="utf-8")
    return config_file, keystore, password_file
