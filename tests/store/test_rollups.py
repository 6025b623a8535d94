"""The rollups agree with each other and with the rows they sum, whatever wrote them."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import Engine, text

from tests.builders import NOV_1, at, event, line, priced, write_events, write_lines

CORE = "day, provider, origin, model, project, api_key, team, feature"
MEASURES = "SUM(cost), SUM(requests), SUM(tokens_in), SUM(unpriced_requests), SUM(error_requests)"


def _fill(engine: Engine) -> None:
    write_events(
        engine,
        [
            priced(event(i, customer=f"c{i % 3}", feature=f"f{i % 2}", ts=at(NOV_1, i % 24)), "0.5")
            for i in range(40)
        ],
    )
    write_events(
        engine, [event(100, model="mystery"), event(5, customer="dupe")]
    )  # one new, one dupe
    write_lines(
        engine,
        [
            line(cost=Decimal("9")),
            line(
                source="openai.usage",
                bucket_hours=1,
                bucket_start=at(NOV_1 + timedelta(days=1), 3),
                cost=Decimal("2"),
                estimated=True,
            ),
        ],
    )
    write_lines(engine, [line(cost=Decimal("9.5"))])  # a restatement


def _rows(engine: Engine, sql: str) -> list[tuple[str, ...]]:
    with engine.connect() as connection:
        return sorted(tuple(str(v) for v in row) for row in connection.execute(text(sql)))


def test_core_rollup_is_the_full_rollup_folded_over_customer_and_environment(engine):
    _fill(engine)
    folded = _rows(engine, f"SELECT {CORE}, {MEASURES} FROM rollup_day GROUP BY {CORE}")
    core = _rows(engine, f"SELECT {CORE}, {MEASURES} FROM rollup_day_core GROUP BY {CORE}")
    assert folded == core
    assert len(core) > 3


def test_event_rollups_equal_sums_over_the_events(engine):
    _fill(engine)
    from_events = _rows(
        engine,
        "SELECT COALESCE(SUM(cost), 0), COUNT(*), SUM(tokens_in), "
        "SUM(CASE WHEN cost IS NULL THEN 1 ELSE 0 END) FROM usage_event",
    )
    for table in ("rollup_day", "rollup_day_core", "rollup_hour"):
        from_rollup = _rows(
            engine,
            f"SELECT SUM(cost), SUM(requests), SUM(tokens_in), SUM(unpriced_requests) "
            f"FROM {table} WHERE origin = 'reported'",
        )
        assert from_rollup == from_events, table
