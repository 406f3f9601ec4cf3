"""The admin endpoint's token file: made 0600 on first use, refused when others can read it."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from node.qbft_admin import ADMIN_TOKEN_FILE, AdminTokenError, load_or_create_admin_token


def test_the_token_is_made_once_with_mode_0600(tmp_path: Path) -> None:
    token = load_or_create_admin_token(tmp_path)
    path = tmp_path / ADMIN_TOKEN_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(token) == 64 and int(token, 16) >= 0
    assert load_or_create_admin_token(tmp_path) == token


def test_a_token_readable_by_others_is_refused(tmp_path: Path) -> None:
    load_or_create_admin_token(tmp_path)
    (tmp_path / ADMIN_TOKEN_FILE).chmod(0o644)
    with pytest.raises(AdminTokenError, match="chmod 600"):
        load_or_create_admin_token(tmp_path)


def test_an_empty_token_is_refused(tmp_path: Path) -> None:
    path = tmp_path / ADMIN_TOKEN_FILE
    path.parent.mkdir()
    path.write_text("\n", encoding="ascii")
    path.chmod(0o600)
    with pytest.raises(AdminTokenError, match="empty"):
        load_or_create_admin_token(tmp_path)
