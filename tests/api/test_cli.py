"""`mykey api ...` as a person runs it: migrate, create a staff account, serve, send notices."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from api.cli import main
from api.settings import ApiSettings, SettingsError
from api.store.database import open_store
from api.store.migrations import latest_version
from api.store.models import AuditRecord, StaffAccount
from tests.api.smtp_server import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_migrate_then_create_staff(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data_dir = tmp_path / "data"
    assert main(["migrate", "--data-dir", str(data_dir)]) == 0
    assert f"applied migrations {list(range(1, latest_version() + 1))}" in capsys.readouterr().out
    assert main(["migrate", "--data-dir", str(data_dir)]) == 0
    assert "up to date" in capsys.readouterr().out

    password_file = tmp_path / "admin-password"
    password_file.write_text("admin passphrase 1\n")
    password_file.chmod(0o600)
    arguments = ["create-staff", "--data-dir", str(data_dir), "--login-name", "platform.admin"]
    arguments += ["--role", "platform-admin", "--password-file", str(password_file)]
    assert main(arguments) == 0
    assert "created staff account platform.admin" in capsys.readouterr().out
    store = open_store(ApiSettings.for_data_dir(data_dir).database_url)
    with store.sessions() as db:
        staff = db.scalars(select(StaffAccount)).one()
        assert staff.password_hash.startswith("$argon2id$")
        audit = db.scalars(select(AuditRecord)).one()
        assert (audit.actor, audit.action) == ("system", "staff.created")
    store.close()

    assert main(arguments) == 1
    assert "already in use" in capsys.readouterr().err


def test_a_secret_readable_by_others_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    password_file = tmp_path / "admin-password"
    password_file.write_text("admin passphrase 1\n")
    password_file.chmod(0o644)
    code = main(
        [
            "create-staff",
            "--data-dir",
            str(tmp_path / "data"),
            "--login-name",
            "platform.admin",
            "--role",
            "platform-admin",
            "--password-file",
            str(password_file),
        ]
    )
    assert code == 1
    assert "chmod 600" in capsys.readouterr().err


def test_settings_from_environment(tmp_path: Path) -> None:
    settings = ApiSettings.from_environment(
        tmp_path,
        {
            "MYKEY_API_DATABASE_URL": "postgresql://mykey@localhost/mykey",
            "MYKEY_API_SMTP_PORT": "2525",
            "MYKEY_API_OUTBOX_LEASE_SECONDS": "5",
        },
    )
    assert settings.database_url == "postgresql://mykey@localhost/mykey"
    assert (settings.smtp_port, settings.outbox_lease_seconds) == (2525, 5)
    assert settings.service_id_key_file == tmp_path / "keys" / "service-id.key"
    with pytest.raises(SettingsError, match="SMTP_PORT"):
        ApiSettings.from_environment(tmp_path, {"MYKEY_API_SMTP_PORT": "smtp"})


def test_send_notices_once_with_nothing_queued(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["send-notices", "--data-dir", str(tmp_path), "--smtp-port", str(free_port()), "--once"]
    )
    assert code == 0
    assert "claimed 0 sent 0" in capsys.readouterr().out


def test_serve_answers_on_loopback(tmp_path: Path) -> None:
    port = free_port()
    command = [sys.executable, str(ROOT / "mykey_cli.py"), "api", "serve"]
    command += ["--data-dir", str(tmp_path / "data"), "--port", str(port)]
    process = subprocess.Popen(
        command, cwd=ROOT, env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            deadline = time.monotonic() + 30
            while True:
                try:
                    health = http.get("/health")
                    break
                except httpx.TransportError:
                    assert process.poll() is None, process.stderr.read() if process.stderr else ""
                    assert time.monotonic() < deadline, "the API did not start"
                    time.sleep(0.1)
            assert health.json() == {"status": "ok"}
            refused = http.post(
                "/registrations",
                json={"challenge_id": "x", "certificate": "AA==", "signature": "AA=="},
            )
            assert refused.status_code == 410  # unknown challenge, before any card check
            assert refused.headers["content-type"] == "application/problem+json"
            challenge = http.post("/registrations/card-challenges").json()
            no_card_checks = http.post(
                "/registrations",
                json={
                    "challenge_id": challenge["challenge_id"],
                    "certificate": "AA==",
                    "signature": "AA==",
                },
            )
            assert no_card_checks.status_code == 503  # no card checks wired in yet
    finally:
        process.terminate()
        process.wait(timeout=10)


# ---- `mykey api serve` settings: JPKI trust files, JSON-RPC tuning, start refusals -----------


def test_serve_settings_from_environment(tmp_path: Path) -> None:
    settings = ApiSettings.from_environment(
        tmp_path,
        {
            "MYKEY_API_JPKI_TRUST_ANCHORS": "/etc/mykey/jpki-ca.pem",
            "MYKEY_API_JPKI_CRLS": os.pathsep.join(["/etc/mykey/a.crl", "/etc/mykey/b.crl"]),
            "MYKEY_API_RPC_TRUST_ENV": "on",
            "MYKEY_API_RECEIPT_POLL_SECONDS": "0.25",
        },
    )
    assert settings.jpki_trust_anchors_file == Path("/etc/mykey/jpki-ca.pem")
    assert settings.jpki_crl_files == (Path("/etc/mykey/a.crl"), Path("/etc/mykey/b.crl"))
    assert (settings.rpc_trust_env, settings.receipt_poll_seconds) == (True, 0.25)
    defaults = ApiSettings.from_environment(tmp_path, {})
    assert (defaults.jpki_trust_anchors_file, defaults.jpki_crl_files) == (None, ())
    assert (defaults.rpc_trust_env, defaults.receipt_poll_seconds) == (False, None)
    off = ApiSettings.from_environment(tmp_path, {"MYKEY_API_RPC_TRUST_ENV": "0"})
    assert off.rpc_trust_env is False


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MYKEY_API_JPKI_CRLS", f"/etc/a.crl{os.pathsep}{os.pathsep}/etc/b.crl"),
        ("MYKEY_API_RPC_TRUST_ENV", "maybe"),
        ("MYKEY_API_RECEIPT_POLL_SECONDS", "0"),
        ("MYKEY_API_RECEIPT_POLL_SECONDS", "fast"),
        ("MYKEY_API_RECEIPT_POLL_SECONDS", "nan"),
        ("MYKEY_API_RECEIPT_POLL_SECONDS", "60"),
    ],
)
def test_malformed_serve_settings_name_their_variable(
    tmp_path: Path, variable: str, value: str
) -> None:
    with pytest.raises(SettingsError, match=variable):
        ApiSettings.from_environment(tmp_path, {variable: value})


@pytest.fixture
def clean_api_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith("MYKEY_API_"):
            monkeypatch.delenv(name)
    return monkeypatch


@pytest.mark.parametrize(
    ("environment", "named"),
    [
        ({"MYKEY_API_CHAIN_CONFIG": "chain.json"}, "MYKEY_API_JPKI_TRUST_ANCHORS"),
        ({"MYKEY_API_KEYSTORE_DIR": "keystore"}, "MYKEY_API_CHAIN_CONFIG"),
        ({"MYKEY_API_JPKI_CRLS": "jpki.crl"}, "MYKEY_API_JPKI_TRUST_ANCHORS"),
        ({"MYKEY_API_JPKI_TRUST_ANCHORS": "ca.pem"}, "MYKEY_API_JPKI_CRLS"),
        (
            {"MYKEY_API_JPKI_TRUST_ANCHORS": "missing.pem", "MYKEY_API_JPKI_CRLS": "x.crl"},
            "MYKEY_API_JPKI_TRUST_ANCHORS: cannot read",
        ),
    ],
)
def test_serve_refuses_a_half_configuration_at_start(
    tmp_path: Path,
    clean_api_environment: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    environment: dict[str, str],
    named: str,
) -> None:
    for name, value in environment.items():
        clean_api_environment.setenv(name, str(tmp_path / value))

    code = main(["serve", "--data-dir", str(tmp_path / "data"), "--port", "0"])

    assert code == 2
    error = capsys.readouterr().err
    assert error.startswith("mykey api serve: ")
    assert named in error
    assert error.count("\n") == 1  # one line, no stack trace


@pytest.mark.parametrize("variable", ["MYKEY_API_PAGES", "MYKEY_API_RUN_KEEPERS"])
def test_serve_refuses_pages_or_keepers_without_a_chain(
    tmp_path: Path,
    clean_api_environment: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
) -> None:
    clean_api_environment.setenv(variable, "on")

    code = main(["serve", "--data-dir", str(tmp_path / "data"), "--port", "0"])

    assert code == 2
    error = capsys.readouterr().err
    assert error.startswith(f"mykey api serve: {variable} is on but MYKEY_API_CHAIN_CONFIG")
    assert error.count("\n") == 1
