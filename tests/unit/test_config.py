"""Configuration layers and validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from tickcast.config import load
from tickcast.errors import ConfigError
from tickcast.server.credentials import api_key_from


def test_config_precedence_defaults_file_env_flags(tmp_path: Path) -> None:
    """defaults < TOML < TICKCAST_* environment < flags."""
    file = tmp_path / "tickcast.toml"
    file.write_text('[server]\nport = 9000\nhost = "0.0.0.0"\nhistory_size = 50\n')
    config = load(
        file=file,
        environ={"TICKCAST_PORT": "9100", "TICKCAST_HISTORY_SIZE": "70"},
        overrides={"port": 9200},
    )
    assert (config.port, config.host, config.history_size) == (9200, "0.0.0.0", 70)
    assert config.outbox_bytes == 1_048_576
    assert load(environ={}).port == 8080


@pytest.mark.parametrize(
    ("text", "env", "needle"),
    [
        ("[server]\nport = 70000\n", {}, "'port'"),
        ("[server]\nbogus = 1\n", {}, "'bogus'"),
        ("[server\n", {}, "tickcast.toml"),
        ("", {"TICKCAST_OUTBOX_BYTES": "lots"}, "'outbox_bytes'"),
    ],
)
def test_config_errors_name_the_key(
    tmp_path: Path, text: str, env: dict[str, str], needle: str
) -> None:
    """Bad values raise ConfigError naming the key (or the file)."""
    file = tmp_path / "tickcast.toml"
    file.write_text(text)
    with pytest.raises(ConfigError) as error:
        load(file=file, environ=env)
    assert needle in error.value.message


def test_tls_pair_from_file_env_and_flags(tmp_path: Path) -> None:
    """``tls_cert``/``tls_key`` come from [server], TICKCAST_TLS_* or flags; both or neither,
    both readable."""
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("cert")
    key.write_text("key")
    file = tmp_path / "tickcast.toml"
    file.write_text(f'[server]\ntls_cert = "{cert}"\ntls_key = "{key}"\n')
    assert (load(file=file, environ={}).tls_cert, load(file=file, environ={}).tls_key) == (
        str(cert),
        str(key),
    )
    env = {"TICKCAST_TLS_CERT": str(cert), "TICKCAST_TLS_KEY": str(key)}
    assert load(environ=env).tls_key == str(key)
    with pytest.raises(ConfigError, match="'tls_key'"):
        load(environ={}, overrides={"tls_cert": str(cert)})
    with pytest.raises(ConfigError, match="'tls_cert': cannot read"):
        load(environ={}, overrides={"tls_cert": str(tmp_path / "nope"), "tls_key": str(key)})


def test_config_keeps_plans_tables(tmp_path: Path) -> None:
    """The file's [plans.*] tables are passed on for the plan loader."""
    file = tmp_path / "tickcast.toml"
    file.write_text('[plans.gold]\ninherits = "pro"\nmax_connections = 3\n')
    assert "gold" in (load(file=file, environ={}).plans_toml or "")


def test_credentials_precedence() -> None:
    """X-API-Key beats Bearer beats cookie beats the query parameter."""
    assert api_key_from({"x-api-key": "a", "authorization": "Bearer b"}, {"api_key": "d"}) == "a"
    assert api_key_from({"authorization": "Bearer b", "cookie": "id=c"}, {}) == "b"
    assert api_key_from({"cookie": "theme=dark; id=c"}, {"api_key": "d"}) == "c"
    assert api_key_from({"cookie": "barekey"}, {}) == "barekey"
    assert api_key_from({}, {"api_key": "d"}) == "d"
    assert api_key_from({"authorization": "Basic zzz"}, {}) is None
