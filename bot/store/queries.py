"""The query layer every answer uses. It reads the rollups only, never the raw events, and
the narrowest rollup that holds every dimension the question names.

Which dollars count: for each provider and day the best origin available, billed before
estimated before reported, so no day is counted twice; plus the subscription ledger's seats
and plans, which no provider API reports and which therefore never compete with the others
(a subscription row always matches its day's best rank, so it is always added). A question
about a dimension only request events carry (feature, customer, environment) is answered from
reported events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Connection, Select, and_, case, func, literal, select

from bot.clock import utc_midnight
from bot.domain import (
    EVENT_ONLY_DIMENSIONS,
    DateRange,
    Dimension,
    Origin,
    SpendQuery,
    SpendReport,
    SpendRow,
)
from bot.money import from_units
from bot.store.models import RollupDay, RollupDayCore, RollupHour, table_of

_RANK = {Origin.BILLED.value: 0, Origin.ESTIMATED.value: 1, Origin.REPORTED.value: 2}
_FULL_ONLY = frozenset({Dimension.CUSTOMER, Dimension.ENVIRONMENT})


def choose_origin(query: SpendQuery) -> Origin | None:
    """The origin a query reads; None means the best available per provider and day."""
    if query.origin is not None:
        return query.origin
    return Origin.REPORTED if _named(query) & EVENT_ONLY_DIMENSIONS else None


def _named(query: SpendQuery) -> set[Dimension]:
    return set(query.group_by) | {f.dimension for f in query.filters}


def _rollup(query: SpendQuery) -> Any:
    """rollup_day_core unless the question names customer or environment."""
    model = RollupDay if _named(query) & _FULL_ONLY else RollupDayCore
    return table_of(model).alias("r")


def spend(connection: Connection, query: SpendQuery) -> SpendReport:
    """Totals for a period, grouped and filtered by any dimensions, largest first."""
    origin, r = choose_origin(query), _rollup(query)
    keys = [r.c[d.column].label(d.value) for d in query.group_by]
    measures = [
        _total(r.c.cost).label("cost"),
        _total(r.c.requests).label("requests"),
        _total(r.c.tokens_in).label("tokens_in"),
        _total(r.c.tokens_out).label("tokens_out"),
        _total(r.c.unpriced_requests).label("unpriced"),
    ]
    statement = _scoped(select(*keys, *measures), r, query, origin)
    if keys:
        statement = statement.group_by(*keys).order_by(func.sum(r.c.cost).desc(), *keys)
    rows = [_spend_row(row, len(keys)) for row in connection.execute(statement)]
    if not keys:
        rows = [row for row in rows if row.requests or row.cost]
    return SpendReport(
        query=query,
        origin=origin,
        rows=tuple(rows),
        total=sum((row.cost for row in rows), Decimal(0)),
        unpriced_requests=sum(row.unpriced_requests for row in rows),
    )


def _total(column: Any) -> Any:
    """SUM as a plain integer: money sums stay in 1e-10 USD units until from_units."""
    return func.coalesce(func.sum(column, type_=BigInteger), 0)


def _spend_row(row: Any, width: int) -> SpendRow:
    return SpendRow(
        keys=tuple(str(v) for v in row[:width]),
        cost=from_units(int(row.cost)),
        requests=int(row.requests),
        tokens_in=int(row.tokens_in),
        tokens_out=int(row.tokens_out),
        unpriced_requests=int(row.unpriced),
    )


def _scoped(
    statement: Select[Any], r: Any, query: SpendQuery, origin: Origin | None
) -> Select[Any]:
    """Restrict to the period, the filters and the counted origin."""
    statement = statement.where(*_period(r, query.period), *_filters(r, query))
    if origin is not None:
        return statement.where(r.c.origin == origin.value)
    best = _best_origin(query.period)
    rank = _rank(r.c.origin)
    if query.subscriptions:  # a subscription row always matches its day's best rank
        rank = case((r.c.origin == Origin.SUBSCRIPTION.value, best.c.rank), else_=rank)
    else:
        statement = statement.where(r.c.origin != Origin.SUBSCRIPTION.value)
    return statement.join(best, and_(best.c.day == r.c.day, best.c.provider == r.c.provider)).where(
        rank == best.c.rank
    )


def _period(r: Any, period: DateRange) -> list[Any]:
    return [r.c.day >= period.start, r.c.day < period.end]


def _filters(r: Any, query: SpendQuery) -> list[Any]:
    return [r.c[f.dimension.column].in_(f.values) for f in query.filters]


def _rank(origin_column: Any) -> Any:
    """Subscriptions rank last, so a provider's day with any other origin takes that one as
    its best; a day with only subscriptions has theirs."""
    return case(_RANK, value=origin_column, else_=literal(9))


def _best_origin(period: DateRange) -> Any:
    """Per day and provider, the rank of the best origin that has data."""
    b = table_of(RollupDayCore).alias("b")
    return (
        select(b.c.day, b.c.provider, func.min(_rank(b.c.origin)).label("rank"))
        .where(*_period(b, period))
        .group_by(b.c.day, b.c.provider)
        .subquery("best")
    )


@dataclass(frozen=True, slots=True)
class Mover:
    keys: tuple[str, ...]
    before: Decimal
    after: Decimal

    @property
    def change(self) -> Decimal:
        return self.after - self.before


def top_movers(
    connection: Connection,
    query: SpendQuery,
    previous: DateRange,
    *,
    limit: int = 5,
) -> list[Mover]:
    """What moved most between `previous` and the query's period, largest change first."""
    now = {r.keys: r.cost for r in spend(connection, query).rows}
    before_query = SpendQuery(previous, query.group_by, query.filters, query.origin)
    before = {r.keys: r.cost for r in spend(connection, before_query).rows}
    movers = [
        Mover(k, before.get(k, Decimal(0)), now.get(k, Decimal(0))) for k in now.keys() | before
    ]
    movers.sort(key=lambda m: (-abs(m.change), m.keys))
    return [m for m in movers if m.change][:limit]


def daily_series(
    connection: Connection, query: SpendQuery
) -> dict[tuple[str, ...], dict[date, Decimal]]:
    """Cost per day for each group of the query, for the detector and charts."""
    origin, r = choose_origin(query), _rollup(query)
    keys = [r.c[d.column] for d in query.group_by]
    statement = _scoped(
        select(r.c.day, *keys, _total(r.c.cost).label("cost")), r, query, origin
    ).group_by(r.c.day, *keys)
    series: dict[tuple[str, ...], dict[date, Decimal]] = {}
    for row in connection.execute(statement):
        day = row[0] if isinstance(row[0], date) else date.fromisoformat(row[0])
        series.setdefault(tuple(row[1:-1]), {})[day] = from_units(int(row.cost))
    return series


def hourly_series(
    connection: Connection, query: SpendQuery
) -> dict[tuple[str, ...], dict[datetime, Decimal]]:
    """Cost per UTC hour for each group, from hourly data only (request events and
    estimated usage): the same-day nowcast. Billed cost is daily and never appears here.
    Customer and environment are not kept hourly."""
    if _named(query) & _FULL_ONLY:
        raise ValueError("hourly series are not kept by customer or environment")
    h = table_of(RollupHour).alias("h")
    keys = [h.c[d.column] for d in query.group_by]
    statement = (
        select(h.c.hour, *keys, _total(h.c.cost).label("cost"))
        .where(
            h.c.hour >= utc_midnight(query.period.start), h.c.hour < utc_midnight(query.period.end)
        )
        .where(*(h.c[f.dimension.column].in_(f.values) for f in query.filters))
        .group_by(h.c.hour, *keys)
    )
    if query.origin is not None:
        statement = statement.where(h.c.origin == query.origin.value)
    series: dict[tuple[str, ...], dict[datetime, Decimal]] = {}
    for row in connection.execute(statement):
        series.setdefault(tuple(row[1:-1]), {})[row[0]] = from_units(int(row.cost))
    return series


@dataclass(frozen=True, slots=True)
class UnpricedModel:
    provider: str
    model: str
    requests: int
    tokens_in: int
    tokens_out: int


def unpriced_models(connection: Connection, period: DateRange) -> list[UnpricedModel]:
    """Models seen with usage but no price, most requests first."""
    r = table_of(RollupDayCore).alias("r")
    statement = (
        select(
            r.c.provider,
            r.c.model,
            func.sum(r.c.unpriced_requests).label("requests"),
            func.sum(r.c.tokens_in).label("tokens_in"),
            func.sum(r.c.tokens_out).label("tokens_out"),
        )
        .where(*_period(r, period), r.c.unpriced_requests > 0)
        .group_by(r.c.provider, r.c.model)
        .order_by(func.sum(r.c.unpriced_requests).desc())
    )
    return [
        UnpricedModel(
            row.provider, row.model, int(row.requests), int(row.tokens_in), int(row.tokens_out)
        )
        for row in connection.execute(statement)
    ]


def dimension_values(connection: Connection, dimension: Dimension) -> Sequence[str]:
    """Every value a dimension has taken, for suggestions."""
    model = RollupDay if dimension in _FULL_ONLY else RollupDayCore
    column = table_of(model).c[dimension.column]
    statement = select(column).where(column != "").distinct().order_by(column)
    return [str(v) for (v,) in connection.execute(statement)]


@dataclass(frozen=True, slots=True)
class DailyUsage:
    """One group's measures on one day."""

    cost: Decimal
    requests: int
    tokens_in: int
    tokens_out: int
    error_requests: int
    unpriced_requests: int


def daily_usage(
    connection: Connection, query: SpendQuery
) -> dict[tuple[str, ...], dict[date, DailyUsage]]:
    """Cost, requests, tokens and failed requests per day for each group of the query, from
    the origin daily_series would read: prompt sizes and error shares by feature, say."""
    origin, r = choose_origin(query), _rollup(query)
    keys = [r.c[d.column] for d in query.group_by]
    measures = [
        _total(r.c.cost).label("cost"),
        _total(r.c.requests).label("requests"),
        _total(r.c.tokens_in).label("tokens_in"),
        _total(r.c.tokens_out).label("tokens_out"),
        _total(r.c.error_requests).label("errors"),
        _total(r.c.unpriced_requests).label("unpriced"),
    ]
    statement = _scoped(select(r.c.day, *keys, *measures), r, query, origin).group_by(
        r.c.day, *keys
    )
    usage: dict[tuple[str, ...], dict[date, DailyUsage]] = {}
    for row in connection.execute(statement):
        day = row[0] if isinstance(row[0], date) else date.fromisoformat(row[0])
        usage.setdefault(tuple(str(k) for k in row[1 : 1 + len(keys)]), {})[day] = DailyUsage(
            cost=from_units(int(row.cost)),
            requests=int(row.requests),
            tokens_in=int(row.tokens_in),
            tokens_out=int(row.tokens_out),
            error_requests=int(row.errors),
            unpriced_requests=int(row.unpriced),
        )
    return usage
