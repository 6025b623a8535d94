"""`aispend subs` and `aispend credits` as a person uses them, on a real store file."""

from __future__ import annotations

import tomllib
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import TeamFile
from tests import test_cli

store = test_cli.store  # a migrated SQLite store in DATABASE_URL


def test_subs_add_list_edit_review_remove(store, capsys):
    capsys.readouterr()
    assert main(["subs"]) == 0
    assert "No subscriptions" in capsys.readouterr().out
    add = ["subs", "add", "Cursor", "Business", "--cost", "$400", "--renews", "2099-01-15"]
    assert main([*add, "--seats", "10", "--owner", "U0MAYA", "--team", "growth"]) == 0
    assert "added subscription 1: Cursor · Business, 10 seats, $400.00 monthly" in (
        capsys.readouterr().out
    )
    annual = ["subs", "add", "OpenAI", "ChatGPT Team", "--cost", "7,200", "--cycle", "annual"]
    assert main([*annual, "--renews", "2099-03-01"]) == 0
    capsys.readouterr()
    assert main(["subs", "edit", "1", "--seats", "12", "--cost", "480"]) == 0
    assert "12 seats, $480.00 monthly" in capsys.readouterr().out
    assert main(["subs", "review", "2", "--on", "2026-11-01"]) == 0
    assert main(["subs", "list"]) == 0
    out = capsys.readouterr().out
    assert "Cursor · Business (growth)  12     $480.00/mo" in out
    assert "OpenAI · ChatGPT Team" in out
    assert "$600.00  2099-03-01" in out
    assert "2 running, $1,080.00 a month" in out
    assert main(["subs", "remove", "1"]) == 0
    assert "counted until 2099-01-15" in capsys.readouterr().out
    assert main(["subs", "remove", "2", "--delete"]) == 0
    assert "deleted subscription 2 (OpenAI · ChatGPT Team)" in capsys.readouterr().out
    assert main(["subs", "list", "--all"]) == 0
    out = capsys.readouterr().out
    assert "$480.00  ends 2099-01-15" in out  # cancelled, paid through its renewal
    assert "1 running, $480.00 a month" in out
    assert "ChatGPT" not in out


def test_subs_mistakes_are_explained(store, capsys):
    assert main(["subs", "edit", "7", "--seats", "3"]) == 2
    assert "no subscription 7" in capsys.readouterr().err
    assert main(["subs", "edit", "7"]) == 2
    assert "nothing to change" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["subs", "add", "Cursor", "Pro", "--cost", "-3", "--renews", "2099-01-01"])
    assert "expected an amount >= 0" in capsys.readouterr().err


def test_credits_add_and_list(store, capsys):
    assert (
        main(["credits", "add", "together_ai", "250", "--on", "2026-11-01", "--note", "INV-7"]) == 0
    )
    assert "recorded purchase 1: $250.00 of together credit on 2026-11-01" in (
        capsys.readouterr().out
    )
    assert main(["credits"]) == 0
    out = capsys.readouterr().out
    assert "1   together  2026-11-01  $250.00  INV-7" in out
    assert "together (bought - spent)  $250.00" in out
    assert main(["credits", "add", "nobody", "5"]) == 2


SEEDS = """
[[teams]]
id = "growth"

[[subscriptions]]
vendor = "Cursor"
plan = "Business"
cost = "400"
renews = 2099-01-15
seats = 10
team = "growth"

[[subscriptions]]
vendor = "Anthropic"
plan = "Claude Team"
cost = "3000"
cycle = "annual"
renews = 2099-06-01
started = 2098-06-01
"""


def test_subs_seed_adds_what_the_ledger_lacks_once(store, tmp_path, capsys):
    (tmp_path / "aispend.toml").write_text(SEEDS)
    assert main(["subs", "edit", "1", "--seats", "3"]) == 2  # nothing there yet
    capsys.readouterr()
    assert main(["subs", "seed"]) == 0
    out = capsys.readouterr().out
    assert "added subscription 1: Cursor · Business, 10 seats, $400.00 monthly" in out
    assert "counted from 2098-06-01" in out
    assert "2 added, 0 already in the ledger" in out
    assert main(["subs", "edit", "1", "--seats", "12"]) == 0
    assert main(["subs", "seed"]) == 0
    assert "0 added, 2 already in the ledger" in capsys.readouterr().out
    assert main(["subs"]) == 0
    assert "Cursor · Business (growth)  12" in capsys.readouterr().out  # the ledger's edit stays


def test_a_subscription_naming_an_unknown_team_stops_the_command(store, tmp_path, capsys):
    (tmp_path / "aispend.toml").write_text(SEEDS.replace('team = "growth"', 'team = "grwth"'))
    assert main(["subs", "seed"]) == 2
    assert "subscription Cursor Business names unknown team" in capsys.readouterr().err


def test_the_readme_sample_subscription_is_valid() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text("utf-8")
    blocks = [b.split("```", 1)[0] for b in readme.split("```toml\n")[1:]]
    [sample] = [b for b in blocks if "[[subscriptions]]" in b]
    [entry] = TeamFile.model_validate(tomllib.loads(sample)).subscriptions
    assert (entry.vendor, entry.cost, entry.renews) == ("Cursor", Decimal(400), date(2026, 12, 15))
