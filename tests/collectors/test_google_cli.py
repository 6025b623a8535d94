"""`aispend collect --provider google` configured from the environment, and `aispend status`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import main
from bot.clock import SystemClock
from bot.standins.bigquery import BigQuery, running_bigquery
from bot.standins.server import StandIn
from bot.synthetic import ActivitySpec, generate_cost_lines
from bot.synthetic.gcp_export import TABLE, export_rows


@pytest.fixture
def configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[StandIn, BigQuery, Path]]:
    spec = ActivitySpec(end=SystemClock().now().date(), days=14, events_per_day=200, seed=8)
    with running_bigquery(TABLE, export_rows(generate_cost_lines(spec))) as (standin, service):
        key_file = tmp_path / "key.json"
        key_file.write_text(json.dumps(service.new_account().info))
        monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/store.db")
        monkeypatch.setenv("AISPEND_CONFIG", str(tmp_path / "aispend.toml"))
        monkeypatch.setenv("GOOGLE_BILLING_TABLE", TABLE)
        monkeypatch.setenv("GOOGLE_CREDENTIALS_FILE", str(key_file))
        monkeypatch.setenv("GOOGLE_BIGQUERY_URL", standin.url)
        assert main(["db", "upgrade"]) == 0
        yield standin, service, key_file


def test_collect_google_from_settings_and_see_it_in_status(configured, capsys):
    capsys.readouterr()
    assert main(["collect", "--provider", "google", "--since", "7d"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("google: ")
    assert "lines for" in out
    assert main(["status"]) in (0, 1)
    assert "google.billing" in capsys.readouterr().out


def test_a_refused_service_account_fails_without_leaking_it(configured, capsys):
    _, service, key_file = configured
    service.accounts.clear()  # the account was deleted on Google's side
    assert main(["collect", "--provider", "google"]) == 1
    out = capsys.readouterr().out
    assert "google: failed, the store keeps what it had" in out
    assert "access token" in out
    private_key = json.loads(key_file.read_text())["private_key"]
    assert private_key[40:80] not in out
