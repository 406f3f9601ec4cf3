"""config.toml: defaults, the genesis block period, and errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.config import ConfigError, default_config_text, load_config, parse_config


def test_missing_file_gives_defaults_with_genesis_period(tmp_path: Path) -> None:
    config = load_config(tmp_path / "config.toml", 2.0)
    assert config.rpc.host == "127.0.0.1"
    assert (config.rpc.http_port, config.rpc.ws_port) == (8545, 8546)
    assert config.rpc.max_request_bytes == 5 * 1024 * 1024
    assert (config.rpc.max_batch, config.rpc.max_logs_block_range) == (1000, 10000)
    assert config.chain.block_period_seconds == 2.0
    assert config.chain.empty_blocks is False
    assert (config.txpool.max_per_sender, config.txpool.max_total) == (1000, 20000)
    assert config.txpool.max_future_gap == 64
    assert config.log.level == "INFO"


def test_default_text_round_trips() -> None:
    assert parse_config(default_config_text(), 1.0) == parse_config("", 1.0)


def test_values_are_read() -> None:
    config = parse_config(
        "[rpc]\nhttp_port = 0\n[chain]\nblock_period_seconds = 0.5\nempty_blocks = true\n"
        '[log]\nlevel = "DEBUG"\n',
        1.0,
    )
    assert config.rpc.http_port == 0
    assert config.chain.block_period_seconds == 0.5
    assert config.chain.empty_blocks is True
    assert config.log.level == "DEBUG"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[rpc\n", "not valid TOML"),
        ("[rcp]\n", "unknown section"),
        ("[rpc]\nhttp_prot = 1\n", r"\[rpc\] has unknown key\(s\) http_prot"),
        ('[rpc]\nhttp_port = "80"\n', r"\[rpc\] http_port must be an integer"),
        ("[rpc]\nhttp_port = true\n", r"\[rpc\] http_port must be an integer"),
        ("[rpc]\nws_port = 70000\n", r"\[rpc\] ws_port must be at most 65535"),
        ("[txpool]\nmax_total = -1\n", r"\[txpool\] max_total must not be negative"),
        ("[txpool]\nmax_per_sender = 0\n", "at least 1"),
        ("[chain]\nempty_blocks = 1\n", r"\[chain\] empty_blocks must be true or false"),
        ("[chain]\nblock_period_seconds = 0\n", "must be positive"),
        ('[log]\nlevel = "LOUD"\n', r"\[log\] level must be one of"),
        ("rpc = 1\n", r"\[rpc\] must be a table"),
    ],
)
def test_errors_name_the_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(text, 1.0)
