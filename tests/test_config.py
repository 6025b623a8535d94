from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from bot.config import Settings, TeamFile, load_settings, load_team_file, normalize_database_url
from bot.errors import ConfigError


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "aispend.toml"
    path.write_text(text)
    return path


def test_team_file_loads_teams_rules_budgets_and_prices(tmp_path):
    path = _write(
        tmp_path,
        """
[[teams]]
id = "growth"
channel = "#growth"
owners = ["@maya"]

[[attribution]]
project = "proj_growth"
team = "growth"

[[budgets]]
monthly = "5000.50"
dimension = "team"
value = "growth"

[[prices.overrides]]
provider = "OpenRouter"
model = "acme"
input_mtok = "0.5"

[[prices.discounts]]
provider = "anthropic"
percent = "8"
""",
    )
    team_file = load_team_file(path)
    assert team_file.teams[0].owners == ("@maya",)
    assert team_file.budgets[0].monthly == Decimal("5000.50")
    assert team_file.prices.discounts[0].percent == Decimal("8")


def test_missing_team_file_is_an_empty_configuration(tmp_path):
    assert load_team_file(tmp_path / "none.toml") == TeamFile()


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[[teams]]\nid = 'Growth Team'\n", "teams.0.id"),
        ("[[budgets]]\nmonthly = '-1'\n", "budgets.0.monthly"),
        ("[[attribution]]\nteam = 'x'\n", "attribution.0"),
        ("[[prices.discounts]]\nprovider = 'nope'\npercent = '5'\n", "unknown provider 'nope'"),
        ("[[teams]]\nid = 'a'\n[[attribution]]\nproject = 'p'\nteam = 'b'\n", "unknown team 'b'"),
        ("colour = 'blue'\n", "colour"),
        ("[[teams]\n", "not valid TOML"),
    ],
)
def test_bad_team_file_names_the_file_and_the_field(tmp_path, text, named):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as error:
        load_team_file(path)
    assert str(path) in str(error.value)
    assert named in str(error.value)


def test_settings_read_the_environment(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://u@h/db")
    assert load_settings().database_url == "postgresql+psycopg://u@h/db"


def test_bad_database_url_names_the_variable(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "mysql://x")
    with pytest.raises(ConfigError, match="database_url"):
        load_settings()


def test_default_store_is_embedded_sqlite():
    assert Settings(_env_file=None).database_url == "sqlite:///aispend.db"
    assert normalize_database_url("postgresql://a/b") == "postgresql+psycopg://a/b"
