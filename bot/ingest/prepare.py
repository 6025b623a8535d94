"""A batch of events made ready for the store, with no I/O: priced, attributed, deduplicated,
turned into rows, and summed for the rollups. It runs wherever there is a spare core."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, date, datetime
from operator import attrgetter
from typing import Any

import numpy as np
import numpy.typing as npt

from bot.domain import EventStatus, Origin, UsageEvent
from bot.money import to_units
from bot.pricing import PriceBook, PriceKey, TokenColumns
from bot.store.attribution import Attribution
from bot.store.events import EVENT_ATTRIBUTES, PreparedBatch
from bot.store.rollups import RollupSums
from bot.store.types import bind_datetime

APP_REPORTED = "reported by the app"
_REPORTED = Origin.REPORTED.value

Int64s = npt.NDArray[np.int64]


def prepare_batch(
    events: Sequence[UsageEvent],
    *,
    prices: PriceBook,
    attribution: Attribution,
    dialect: str,
) -> PreparedBatch:
    """Everything the store needs to write these events in one transaction."""
    unique = first_of_each(attribute_events(events, attribution))
    tokens = token_columns(unique)
    costs, versions = price_events(unique, tokens, prices)
    bind_ts = bind_datetime(dialect)
    head = attrgetter(*EVENT_ATTRIBUTES)  # one C call reads them all
    rows = [
        (*head(e), bind_ts(e.ts), e.status.value, cost, version)
        for e, cost, version in zip(unique, costs, versions, strict=True)
    ]
    return PreparedBatch(
        rows=rows,
        sums=sum_rollups(unique, tokens, costs),
        unpriced=sum(1 for c in costs if c is None),
    )


def first_of_each(events: Sequence[UsageEvent]) -> list[UsageEvent]:
    """Within one batch, the first event with a given (source, request_id) wins."""
    seen: dict[tuple[str, str], UsageEvent] = {}
    for e in events:
        seen.setdefault((e.source, e.request_id), e)
    return list(seen.values()) if len(seen) < len(events) else list(events)


def attribute_events(
    events: Sequence[UsageEvent], attribution: Attribution
) -> Sequence[UsageEvent]:
    """Fill in team and feature from the attribution rules where the app did not say."""
    if not attribution.by_key:
        return events
    return [e if e.team and e.feature else _attributed(e, attribution) for e in events]


def _attributed(event: UsageEvent, attribution: Attribution) -> UsageEvent:
    owner = attribution.resolve(event.provider, event.project, event.api_key)
    if not (owner.team or owner.feature):
        return event
    return dataclasses.replace(
        event, team=event.team or owner.team, feature=event.feature or owner.feature
    )


def token_columns(events: Sequence[UsageEvent]) -> TokenColumns:
    n = len(events)
    return TokenColumns(
        np.fromiter((e.tokens_in for e in events), np.int64, n),
        np.fromiter((e.tokens_out for e in events), np.int64, n),
        np.fromiter((e.cache_read_tokens for e in events), np.int64, n),
        np.fromiter((e.cache_write_tokens for e in events), np.int64, n),
    )


def price_events(
    events: Sequence[UsageEvent], tokens: TokenColumns, prices: PriceBook
) -> tuple[list[int | None], list[str]]:
    """Each event's cost in 1e-10 USD (None when unpriced) and the price version used.
    One rate lookup per (provider, model, day, tier, batch), then whole columns at once."""
    n = len(events)
    costs = np.zeros(n, dtype=np.int64)
    known = np.zeros(n, dtype=np.bool_)
    versions = np.full(n, "", dtype=object)
    for group, members in _price_groups(events).items():
        index = np.array(members, dtype=np.int64)
        if group is None:
            costs[index] = [to_units(events[i].cost) for i in members]  # type: ignore[arg-type]
            known[index], versions[index] = True, APP_REPORTED
            continue
        key = PriceKey(*group)
        rates, priced = prices.rates(key), prices.price(key, _take(tokens, index))
        if rates is not None and priced is not None:
            costs[index], known[index], versions[index] = priced, True, rates.version
    values: list[int] = costs.tolist()
    cost_list: list[int | None] = list(values)
    for i in np.flatnonzero(~known).tolist():
        cost_list[i] = None
    return cost_list, versions.tolist()


def _price_groups(
    events: Sequence[UsageEvent],
) -> dict[tuple[str, str, date, str, bool] | None, list[int]]:
    """Event positions by price key; None collects the events whose app reported a cost."""
    groups: dict[tuple[str, str, date, str, bool] | None, list[int]] = {}
    for i, e in enumerate(events):
        key = (
            None
            if e.cost is not None
            else (e.provider, e.model, e.ts.date(), e.service_tier, e.batch)
        )
        groups.setdefault(key, []).append(i)
    return groups


def _take(tokens: TokenColumns, index: Int64s) -> TokenColumns:
    return TokenColumns(
        tokens.tokens_in[index],
        tokens.tokens_out[index],
        tokens.cache_read[index],
        tokens.cache_write[index],
    )


# the rollup dimensions in rollup key order; the hourly rollup keeps the first six
_DIMENSIONS = attrgetter(
    "provider", "model", "project", "api_key", "team", "feature", "customer", "environment"
)


def sum_rollups(
    events: Sequence[UsageEvent], tokens: TokenColumns, costs: Sequence[int | None]
) -> RollupSums:
    """Daily and hourly sums of the events: a dictionary lookup per event and rollup to number
    the groups, then one numpy sum per rollup."""
    days: dict[tuple[Any, ...], int] = {}
    hours: dict[tuple[Any, ...], int] = {}
    day_slots, hour_slots = [], []
    for e in events:
        ts, dims = e.ts, _DIMENSIONS(e)
        day_slots.append(days.setdefault((ts.date(), *dims), len(days)))
        hour_slots.append(
            hours.setdefault((ts.year, ts.month, ts.day, ts.hour, *dims[:6]), len(hours))
        )
    measures = _measures(events, tokens, costs)
    sums = RollupSums()
    for (day, *rest), values in zip(days, _group_sums(day_slots, len(days), measures), strict=True):
        sums.day[(day, _REPORTED, *rest)] = values
    for key, values in zip(hours, _group_sums(hour_slots, len(hours), measures), strict=True):
        hour = datetime(key[0], key[1], key[2], key[3], tzinfo=UTC)
        sums.hour[(hour, _REPORTED, *key[4:])] = values
    return sums


def _group_sums(slots: list[int], groups: int, measures: npt.NDArray[np.int64]) -> list[list[int]]:
    totals = np.zeros((groups, measures.shape[1]), dtype=np.int64)
    np.add.at(totals, np.array(slots, dtype=np.int64), measures)
    result: list[list[int]] = totals.tolist()
    return result


def _measures(
    events: Sequence[UsageEvent], tokens: TokenColumns, costs: Sequence[int | None]
) -> npt.NDArray[np.int64]:
    n = len(events)
    unpriced = np.fromiter((c is None for c in costs), np.int64, n)
    cost = np.fromiter((c or 0 for c in costs), np.int64, n)
    errors = np.fromiter((e.status is EventStatus.ERROR for e in events), np.int64, n)
    ones = np.ones(n, dtype=np.int64)
    columns = [cost, ones, tokens.tokens_in, tokens.tokens_out, tokens.cache_read]
    return np.column_stack([*columns, tokens.cache_write, unpriced, errors])
