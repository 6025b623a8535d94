"""The series the detector watches: one per level of the spend hierarchy, keyed so that a
key's parent is the key whose path is the longest proper prefix of its own.

total -> provider -> model, provider -> api key; total -> team -> feature; total -> customer.
A key is (level, *path) with path parts "dimension:value", e.g. ("model", "provider:openai",
"model:gpt-5"). Everything here is pure: names, filters and wording for keys.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from bot.analysis.series import SeriesKey
from bot.config import BudgetConfig
from bot.domain import Dimension, Filter


@dataclass(frozen=True, slots=True)
class Level:
    name: str
    dimensions: tuple[Dimension, ...]  # what the series is grouped by
    explained_by: tuple[Dimension, ...]  # what an explanation of its change splits it by
    hourly: bool = True  # also watched hourly (customer is not kept hourly)


LEVELS: tuple[Level, ...] = (
    Level("total", (), (Dimension.PROVIDER, Dimension.MODEL)),
    Level("provider", (Dimension.PROVIDER,), (Dimension.MODEL,)),
    Level("model", (Dimension.PROVIDER, Dimension.MODEL), (Dimension.TEAM,)),
    Level("key", (Dimension.PROVIDER, Dimension.KEY), (Dimension.MODEL,), hourly=False),
    Level("team", (Dimension.TEAM,), (Dimension.PROVIDER, Dimension.MODEL)),
    Level("feature", (Dimension.TEAM, Dimension.FEATURE), (Dimension.MODEL,)),
    Level("customer", (Dimension.CUSTOMER,), (Dimension.FEATURE, Dimension.MODEL), hourly=False),
)
LEVEL_BY_NAME = {level.name: level for level in LEVELS}
# Levels whose "" value means "not attributed": no series for it (unowned spend is its own
# alert); provider and model are never "".
_SKIP_EMPTY = frozenset({Dimension.KEY, Dimension.TEAM, Dimension.FEATURE, Dimension.CUSTOMER})


def series_key(level: Level, values: Sequence[str]) -> SeriesKey | None:
    """The key for one group of a level's query, or None when it is not watched."""
    pairs = list(zip(level.dimensions, values, strict=True))
    if any(value == "" and d in _SKIP_EMPTY for d, value in pairs):
        return None
    return (level.name, *(f"{d.value}:{value}" for d, value in pairs))


def parts(key: SeriesKey) -> dict[Dimension, str]:
    """The dimension values a key names."""
    found: dict[Dimension, str] = {}
    for part in key[1:]:
        name, _, value = part.partition(":")
        found[Dimension(name)] = value
    return found


def level_of(key: SeriesKey) -> Level:
    return LEVEL_BY_NAME[key[0]]


def filters_of(key: SeriesKey) -> tuple[Filter, ...]:
    """The filters that select exactly this series' spend."""
    return tuple(Filter(d, (value,)) for d, value in parts(key).items())


def describe(key: SeriesKey) -> str:
    """ "model gpt-5 on openai", "feature search (team growth)", "all AI spend"."""
    named = parts(key)
    level = key[0]
    if level == "total":
        return "all AI spend"
    if level == "model":
        return f"model {named[Dimension.MODEL]} on {named[Dimension.PROVIDER]}"
    if level == "key":
        return f"api key {named[Dimension.KEY]} on {named[Dimension.PROVIDER]}"
    if level == "feature":
        return f"feature {named[Dimension.FEATURE]} (team {named[Dimension.TEAM]})"
    dimension = level_of(key).dimensions[-1]
    return f"{dimension.value} {named[dimension]}"


def team_of(key: SeriesKey) -> str:
    return parts(key).get(Dimension.TEAM, "")


def budgets_by_key(
    keys: Sequence[SeriesKey], budgets: Sequence[BudgetConfig]
) -> dict[SeriesKey, Decimal]:
    """Each watched series' monthly budget, where aispend.toml sets one for it (the total's,
    a team's, a provider's or a feature's)."""
    found: dict[SeriesKey, Decimal] = {}
    for key in keys:
        level = level_of(key)
        last = level.dimensions[-1] if level.dimensions else None
        value = parts(key).get(last, "") if last is not None else ""
        for budget in budgets:
            if budget.dimension == last and (last is None or budget.value == value):
                found[key] = budget.monthly
    return found


def floors_by_team(
    keys: Sequence[SeriesKey], floors: Mapping[str, Decimal]
) -> dict[SeriesKey, Decimal]:
    """The per-day alert floor each team set, for its team and feature series."""
    return {key: floors[team] for key in keys if (team := team_of(key)) in floors}
