"""Seeded, reproducible synthetic AI activity for the demo, the tests and the benchmarks."""

from __future__ import annotations

from bot.synthetic.activity import generate_event_columns, generate_events, write_jsonl
from bot.synthetic.billing import generate_cost_lines, generate_estimated_lines
from bot.synthetic.simulation import ActivitySpec, Scenario, scenario

__all__ = [
    "ActivitySpec",
    "Scenario",
    "generate_cost_lines",
    "generate_estimated_lines",
    "generate_event_columns",
    "generate_events",
    "scenario",
    "write_jsonl",
]
