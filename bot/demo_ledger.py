"""The demo's spend that no provider API reports: a few seats and plans in the subscription
ledger, a Mistral dashboard export imported through its column mapping, and Mistral credit
bought by hand. Self-contained: `aispend demo` calls load_ledger once, after the APIs' data,
and prints ledger_report beside the other reports."""

from __future__ import annotations

import io
import random
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Engine

from bot.analysis.runway import Purchase
from bot.analysis.subscriptions import Cycle, Subscription, shift
from bot.cli_ledger import subs_table
from bot.config import ImportConfig, TeamFile
from bot.ingest.imports import read_import
from bot.money import format_usd
from bot.store.cost_lines import store_file_lines
from bot.store.purchases import record_purchase
from bot.store.subscriptions import add_subscription, list_subscriptions

# the mapping a team would put in aispend.toml for Mistral's console export (its column
# names are UNVERIFIED: see providers.md 6.4)
MISTRAL_IMPORT = ImportConfig(
    source="mistral",
    provider="mistral",
    date="Date",
    model="Model",
    project="Workspace",
    cost="Cost",
    currency="Currency",
    tokens_in="Input tokens",
    tokens_out="Output tokens",
    usd_rates={"EUR": Decimal("1.08")},
)
_MISTRAL_MODELS = (("mistral-large-latest", 2.0, 6.0), ("mistral-small-latest", 0.1, 0.3))


def demo_subscriptions(today: date) -> list[Subscription]:
    """Seats and plans a small company pays for, started well before the demo's data, so
    their spend is part of every day's history."""
    cursor = today + timedelta(days=9)
    chatgpt = today + timedelta(days=120)
    copilot = today + timedelta(days=2)
    return [
        Subscription(
            vendor="Cursor",
            plan="Business",
            cost=Decimal(240),
            cycle=Cycle.MONTHLY,
            renews_on=cursor,
            started_on=shift(cursor, Cycle.MONTHLY, -12),
            reviewed_on=today - timedelta(days=20),
            seats=6,
            owner="U0MAYA",
            team="growth",
            purpose="AI editor for the growth engineers",
        ),
        Subscription(
            vendor="OpenAI",
            plan="ChatGPT Team",
            cost=Decimal(2400),
            cycle=Cycle.ANNUAL,
            renews_on=chatgpt,
            started_on=shift(chatgpt, Cycle.ANNUAL, -1),
            reviewed_on=today - timedelta(days=130),
            seats=8,
            owner="U0PRIYA",
            purpose="chat for everyone outside engineering",
        ),
        Subscription(
            vendor="GitHub",
            plan="Copilot Business",
            cost=Decimal(190),
            cycle=Cycle.MONTHLY,
            renews_on=copilot,
            started_on=shift(copilot, Cycle.MONTHLY, -12),
            reviewed_on=today - timedelta(days=45),
            seats=10,
            team="platform",
            purpose="code completion",
        ),
    ]


def mistral_export(end: date, days: int, seed: int) -> str:
    """A Mistral console export of the `days` before `end`, in EUR, as the mapping expects."""
    rng = random.Random(seed)
    rows = ["Date,Model,Workspace,Input tokens,Output tokens,Cost,Currency"]
    for back in range(days, 0, -1):
        day = end - timedelta(days=back)
        for model, input_rate, output_rate in _MISTRAL_MODELS:
            tokens_in = rng.randrange(200_000, 900_000)
            tokens_out = tokens_in // rng.randrange(4, 9)
            cost = (tokens_in * input_rate + tokens_out * output_rate) / 1_000_000
            rows.append(f"{day},{model},proj_support,{tokens_in},{tokens_out},{cost:.4f},EUR")
    return "\n".join(rows) + "\n"


def load_ledger(engine: Engine, team_file: TeamFile, now: datetime, days: int, seed: int) -> str:
    """Store the ledger, the import and a purchase; one line saying what was stored."""
    today = now.date()
    with engine.begin() as connection:
        for entry in demo_subscriptions(today):
            add_subscription(connection, entry, now)
        subs = list_subscriptions(connection)
        record_purchase(
            connection,
            Purchase("mistral", today - timedelta(days=days), Decimal(100), note="INV-2041"),
            now,
        )
    export = mistral_export(today, days, seed)
    result = read_import(io.BytesIO(export.encode()), MISTRAL_IMPORT)
    stored = store_file_lines(engine, result.lines, team_file, now)
    monthly = sum((s.monthly for s in subs), Decimal(0))
    imported = sum((line.cost or Decimal(0) for line in result.lines), Decimal(0))
    return (
        f"      and what no API reports: {len(subs)} subscriptions ({format_usd(monthly)} a "
        f"month, spread over each cycle's days), a Mistral dashboard export ({result.rows:,} "
        f"rows, {stored:,} daily lines, {format_usd(imported)}) and $100.00 of Mistral "
        "credit bought by hand"
    )


def ledger_report(engine: Engine, today: date) -> str:
    with engine.connect() as connection:
        subs = list_subscriptions(connection)
    return "Subscriptions (aispend subs)\n\n" + subs_table(subs, today)
