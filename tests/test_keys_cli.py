"""`aispend keys`: pause and resume an api key at the Anthropic stand-in from the command line,
and what happens when that cannot be done."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from bot.cli import main
from bot.collectors.anthropic import API_VERSION
from bot.standins.anthropic import RETIRED_KEY, anthropic_routes
from bot.standins.server import StandIn, running
from tests.builders import line

ADMIN_KEY = "sk-ant-admin-PLANTED-keys-secret-000"
KEY = "apikey_01KeysCli"


@pytest.fixture
def anthropic(tmp_path, monkeypatch):
    usage = [
        line(
            source="anthropic.usage",
            provider="anthropic",
            bucket_start=datetime(2026, 11, 18, tzinfo=UTC),
            model="claude-sonnet-4-5",
            api_key=KEY,
            cost=None,
            tokens_in=10,
        )
    ]
    with running(anthropic_routes(admin_key=ADMIN_KEY, costs=[], usage=usage)) as standin:
        monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/keys.db")
        monkeypatch.setenv("AISPEND_CONFIG", str(tmp_path / "aispend.toml"))
        monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", ADMIN_KEY)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", standin.url)
        assert main(["db", "upgrade"]) == 0
        yield standin


def _status(standin: StandIn, key: str = KEY) -> str:
    headers = {"x-api-key": ADMIN_KEY, "anthropic-version": API_VERSION}
    answer = httpx.get(f"{standin.url}/v1/organizations/api_keys/{key}", headers=headers)
    return str(answer.json()["status"])


def test_pause_list_and_resume_a_key(anthropic, capsys):
    assert main(["keys", "pause", "anthropic", KEY]) == 0
    assert _status(anthropic) == "inactive"
    assert main(["keys", "list"]) == 0
    out = capsys.readouterr().out
    assert f"paused {KEY} at anthropic" in out
    assert f"anthropic  {KEY}  paused by " in out
    assert main(["keys", "resume", "anthropic", KEY]) == 0
    assert _status(anthropic) == "active"
    capsys.readouterr()
    assert main(["keys", "list"]) == 0
    assert capsys.readouterr().out == "no key is paused\n"


def test_a_provider_that_cannot_switch_keys_is_named(anthropic, capsys):
    assert main(["keys", "pause", "openai", "key_abc"]) == 2
    err = capsys.readouterr().err
    assert "openai's API cannot switch keys off" in err
    assert "aispend can for: anthropic" in err


def test_a_refused_switch_fails_without_recording_or_leaking_the_key(anthropic, capsys):
    archived, _ = RETIRED_KEY
    assert main(["keys", "pause", "anthropic", archived]) == 1
    err = capsys.readouterr().err
    assert "answered 400" in err
    assert ADMIN_KEY not in err
    assert main(["keys", "list"]) == 0
    assert capsys.readouterr().out == "no key is paused\n"


def test_an_unknown_key_is_a_clear_error(anthropic, capsys):
    assert main(["keys", "pause", "anthropic", "apikey_01Nobody"]) == 1
    assert "answered 404" in capsys.readouterr().err
    assert _status(anthropic) == "active"


def test_without_an_admin_key_it_says_which_setting(anthropic, monkeypatch, capsys):
    monkeypatch.delenv("ANTHROPIC_ADMIN_KEY")
    assert main(["keys", "pause", "anthropic", KEY]) == 2
    assert "set ANTHROPIC_ADMIN_KEY" in capsys.readouterr().err
    assert _status(anthropic) == "active"
