from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from bot.cli import main
from bot.config import Settings
from bot.credentials import cipher, list_credentials, save_credential, with_stored_keys
from bot.errors import ConfigError
from bot.store.models import Credential, table_of

NOW = datetime(2026, 11, 22, tzinfo=UTC)
SECRET = "sk-admin-PLANTED-credential-777"


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


def test_stored_key_is_encrypted_and_fills_a_missing_setting(engine):
    settings = _settings(aispend_secret_key=Fernet.generate_key().decode())
    with engine.begin() as connection:
        save_credential(connection, cipher(settings), "openai", SECRET, NOW)
    with engine.connect() as connection:
        stored = connection.execute(select(table_of(Credential).c.ciphertext)).scalar_one()
        filled = with_stored_keys(settings, connection)
        listed = list_credentials(connection)
    assert SECRET not in stored
    assert filled.openai_admin_key is not None
    assert filled.openai_admin_key.get_secret_value() == SECRET
    assert listed == [("openai", NOW)]
    assert SECRET not in repr(filled)


def test_a_key_in_the_environment_wins(engine):
    settings = _settings(
        aispend_secret_key=Fernet.generate_key().decode(), openai_admin_key="sk-admin-from-env"
    )
    with engine.begin() as connection:
        save_credential(connection, cipher(settings), "openai", SECRET, NOW)
    with engine.connect() as connection:
        filled = with_stored_keys(settings, connection)
    assert filled.openai_admin_key is not None
    assert filled.openai_admin_key.get_secret_value() == "sk-admin-from-env"


def test_the_wrong_secret_key_is_a_clear_error(engine):
    first = _settings(aispend_secret_key=Fernet.generate_key().decode())
    with engine.begin() as connection:
        save_credential(connection, cipher(first), "anthropic", SECRET, NOW)
    other = _settings(aispend_secret_key=Fernet.generate_key().decode())
    with engine.connect() as connection, pytest.raises(ConfigError, match="another key"):
        with_stored_keys(other, connection)


def test_a_malformed_or_missing_secret_key_says_how_to_make_one():
    with pytest.raises(ConfigError, match="new-key"):
        cipher(_settings())
    with pytest.raises(ConfigError, match="not a valid Fernet key"):
        cipher(_settings(aispend_secret_key="short"))


def test_credentials_commands_store_list_and_delete_without_echoing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/c.db")
    main(["db", "upgrade"])
    assert main(["credentials", "new-key"]) == 0
    monkeypatch.setenv("AISPEND_SECRET_KEY", capsys.readouterr().out.splitlines()[-1])
    monkeypatch.setattr("sys.stdin", io.StringIO(SECRET + "\n"))
    assert main(["credentials", "set", "openai"]) == 0
    assert main(["credentials", "list"]) == 0
    assert main(["credentials", "delete", "openai"]) == 0
    assert main(["credentials", "set", "bedrock"]) == 2
    captured = capsys.readouterr()
    assert "stored the openai key, encrypted" in captured.out
    assert "openai  set" in captured.out
    assert "deleted the openai key" in captured.out
    assert SECRET not in captured.out + captured.err
