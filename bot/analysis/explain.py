"""Why spend changed between two periods: volume, price and mix effects, and the drivers.

Items are dimension-value combinations, e.g. (feature, model). Each has a cost C and a volume
V (tokens or requests), so a unit cost p = C / V. With V = sum of V_i and the old average unit
cost P0 = C0 / V0, the change C1 - C0 splits exactly into:

    volume effect = (V1 - V0) * P0                    more or less usage at the old average cost
    mix effect    = sum(V1_i * p0_i) - V1 * P0        usage moving between items at old unit costs
    price effect  = sum(V1_i * (p1_i - p0_i))         unit costs moving

Per item, with g = V1 / V0: volume_i = (g - 1) * C0_i, mix_i = V1_i * p0_i - g * C0_i and
price_i = C1_i - V1_i * p0_i, which add up to the item's own change C1_i - C0_i.

* A **new** item has no old unit cost; it takes its new one, so it is all mix (usage moved to
  it). If nothing had volume before (V0 = 0) there is no mix to speak of and it is volume.
* A **gone** item is volume plus mix, with no price effect.
* An item **without a volume measure** (volume None or 0 while it costs something, such as a
  billed line without tokens) cannot tell price from volume: its whole change counts as volume
  and is reported again as `cost_only_change`. Its volume stays out of V.

Exactness: volume_i and mix_i are rounded to 1e-10 USD (the store's money scale) and the
remaining effect takes the rest of the item's change, so the three effects add up to the
change exactly in Decimal, item by item and in total.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext
from enum import StrEnum
from typing import TypeVar

from bot.domain import Dimension, SpendRow
from bot.money import SCALE, format_usd

Keys = tuple[str, ...]
K = TypeVar("K", bound=Keys)
_QUANTUM = Decimal(1).scaleb(-SCALE)
_PRECISION = 60  # digits: every sum below is exact for any realistic amount


@dataclass(frozen=True, slots=True)
class Measured:
    """An item's cost in one period, with its volume when there is one."""

    cost: Decimal
    volume: Decimal | None = None


class VolumeMeasure(StrEnum):
    """What counts as volume when explaining a change."""

    TOKENS = "tokens"
    REQUESTS = "requests"


class ItemStatus(StrEnum):
    NEW = "new"
    GONE = "gone"
    CHANGED = "changed"


@dataclass(frozen=True, slots=True)
class ItemChange:
    """One item's change and its split; the three effects add up to `change` exactly."""

    keys: Keys
    before: Measured | None  # None: absent in the earlier period
    after: Measured | None  # None: absent in the later period
    volume_effect: Decimal
    price_effect: Decimal
    mix_effect: Decimal
    metered: bool  # False: no volume measure, the change is cost-only

    @property
    def change(self) -> Decimal:
        return _cost(self.after) - _cost(self.before)

    @property
    def status(self) -> ItemStatus:
        if self.before is None:
            return ItemStatus.NEW
        return ItemStatus.GONE if self.after is None else ItemStatus.CHANGED

    @property
    def volume_multiplier(self) -> float | None:
        """Later volume over earlier volume, when both exist."""
        if not self.metered or self.before is None or self.after is None:
            return None
        return _ratio(self.after.volume, self.before.volume)


@dataclass(frozen=True, slots=True)
class Explanation:
    """A change between two periods, split and itemised, largest item change first."""

    dimensions: tuple[Dimension, ...]
    before_total: Decimal
    after_total: Decimal
    volume_effect: Decimal
    price_effect: Decimal
    mix_effect: Decimal
    cost_only_change: Decimal  # the part of volume_effect from items without a volume measure
    volume_before: Decimal  # total volume of the items that have one
    volume_after: Decimal
    items: tuple[ItemChange, ...]

    @property
    def change(self) -> Decimal:
        return self.after_total - self.before_total


@dataclass(frozen=True, slots=True)
class Driver:
    """An item (or a dimension value) that moved the total, ready to show."""

    keys: Keys
    label: str  # "feature search on gpt-5"
    change: Decimal
    share: float | None  # of the total change; negative when it moved against it
    volume_multiplier: float | None
    status: ItemStatus
    sentence: str  # "feature search on gpt-5: +$412.00, 78% of the rise, volume x3.1"


def explain_change(
    before: Mapping[K, Measured],
    after: Mapping[K, Measured],
    dimensions: Sequence[Dimension] = (),
) -> Explanation:
    """Split the change from `before` to `after` into volume, price and mix effects, item by
    item. `dimensions` name the key positions, for labels."""
    with localcontext() as context:
        context.prec = _PRECISION
        present_before = {k: m for k, m in before.items() if _present(m)}
        present_after = {k: m for k, m in after.items() if _present(m)}
        keys = present_before.keys() | present_after.keys()
        metered = {k for k in keys if _metered(present_before.get(k), present_after.get(k))}
        volume_before = _volume_sum(present_before, metered)
        volume_after = _volume_sum(present_after, metered)
        items = [
            _split_item(
                k,
                present_before.get(k),
                present_after.get(k),
                k in metered,
                volume_before,
                volume_after,
            )
            for k in keys
        ]
        items.sort(key=lambda item: (-abs(item.change), item.keys))
        return Explanation(
            dimensions=tuple(dimensions),
            before_total=_total(m.cost for m in present_before.values()),
            after_total=_total(m.cost for m in present_after.values()),
            volume_effect=_total(item.volume_effect for item in items),
            price_effect=_total(item.price_effect for item in items),
            mix_effect=_total(item.mix_effect for item in items),
            cost_only_change=_total(item.change for item in items if not item.metered),
            volume_before=volume_before,
            volume_after=volume_after,
            items=tuple(items),
        )


def measured_rows(rows: Iterable[SpendRow], volume: VolumeMeasure) -> dict[Keys, Measured]:
    """Query rows as explain_change input, measuring volume in tokens (in + out) or requests."""
    measured: dict[Keys, Measured] = {}
    for row in rows:
        amount = row.tokens_in + row.tokens_out if volume is VolumeMeasure.TOKENS else row.requests
        earlier = measured.get(row.keys, Measured(Decimal(0), Decimal(0)))
        measured[row.keys] = Measured(earlier.cost + row.cost, _volume(earlier) + amount)
    return measured


def _split_item(
    keys: Keys,
    before: Measured | None,
    after: Measured | None,
    metered: bool,
    volume_before: Decimal,
    volume_after: Decimal,
) -> ItemChange:
    """One item's volume, price and mix effects (see the module docstring)."""
    change = _cost(after) - _cost(before)
    volume = mix = price = Decimal(0)
    if not metered or (before is None and volume_before == 0):
        volume = change
    elif before is None:
        mix = change
    else:
        growth = volume_after / volume_before
        volume = _round((growth - 1) * before.cost)
        if after is None:
            mix = change - volume
        else:
            at_old_prices = _volume(after) * before.cost / _volume(before)
            mix = _round(at_old_prices - growth * before.cost)
            price = change - volume - mix
    return ItemChange(keys, before, after, volume, price, mix, metered)


def top_drivers(
    explanation: Explanation, *, limit: int = 3, dimension: Dimension | None = None
) -> list[Driver]:
    """The items that moved the total most, by absolute change; with `dimension` (one of the
    explanation's, else ValueError), the values of that one dimension instead, each summed
    over the other dimensions."""
    if dimension is None:
        groups = {item.keys: [item] for item in explanation.items}
        names: tuple[Dimension, ...] = explanation.dimensions
    else:
        position = explanation.dimensions.index(dimension)
        groups = {}
        for item in explanation.items:
            groups.setdefault((item.keys[position],), []).append(item)
        names = (dimension,)
    drivers = [_driver(k, items, names, explanation.change) for k, items in groups.items()]
    drivers = [d for d in drivers if d.change != 0]
    drivers.sort(key=lambda d: (-abs(d.change), d.keys))
    return drivers[:limit]


def _driver(
    keys: Keys, items: Sequence[ItemChange], dimensions: Sequence[Dimension], total: Decimal
) -> Driver:
    """A driver from one or more items that share a label."""
    change = _total(item.change for item in items)
    share = float(change / total) if total else None
    statuses = {item.status for item in items}
    status = statuses.pop() if len(statuses) == 1 else ItemStatus.CHANGED
    multiplier = _group_multiplier(items) if status is ItemStatus.CHANGED else None
    label = describe_keys(dimensions, keys)
    return Driver(
        keys=keys,
        label=label,
        change=change,
        share=share,
        volume_multiplier=multiplier,
        status=status,
        sentence=_sentence(label, change, share, total, status, multiplier),
    )


def _group_multiplier(items: Sequence[ItemChange]) -> float | None:
    """Later over earlier volume of a group, when every item in it is metered."""
    if not all(item.metered for item in items):
        return None
    before = _total(_volume(item.before) for item in items)
    after = _total(_volume(item.after) for item in items)
    return _ratio(after, before)


def describe_keys(dimensions: Sequence[Dimension], keys: Keys) -> str:
    """'feature search on gpt-5': the first dimension by name, a model after 'on', a provider
    after 'via', any other dimension by name; an empty value is '(untagged)'."""
    if len(dimensions) != len(keys):
        return " / ".join(value or "(untagged)" for value in keys)
    parts = []
    for position, (dimension, value) in enumerate(zip(dimensions, keys, strict=True)):
        shown = value or "(untagged)"
        if position and dimension is Dimension.MODEL:
            parts.append(f"on {shown}")
        elif position and dimension is Dimension.PROVIDER:
            parts.append(f"via {shown}")
        else:
            parts.append(f"{dimension.value} {shown}")
    return " ".join(parts)


def describe_change(explanation: Explanation) -> str:
    """'Spend rose $528.00 (+42%): volume +$300.00, price +$150.00, mix +$78.00.'"""
    change = explanation.change
    if change == 0:
        return f"Spend was flat at {format_usd(explanation.after_total)}."
    verb = "rose" if change > 0 else "fell"
    percent = f" ({change / explanation.before_total:+.0%})" if explanation.before_total > 0 else ""
    effects = (
        f"volume {_signed_usd(explanation.volume_effect)}, "
        f"price {_signed_usd(explanation.price_effect)}, "
        f"mix {_signed_usd(explanation.mix_effect)}"
    )
    return f"Spend {verb} {format_usd(abs(change))}{percent}: {effects}."


def _sentence(
    label: str,
    change: Decimal,
    share: float | None,
    total: Decimal,
    status: ItemStatus,
    multiplier: float | None,
) -> str:
    """'feature search on gpt-5: +$412.00, 78% of the rise, volume x3.1'."""
    parts = [f"{label}: {_signed_usd(change)}"]
    if share is not None:
        movement = "rise" if total > 0 else "drop"
        if share >= 0:
            parts.append(f"{share:.0%} of the {movement}")
        else:
            parts.append(f"offsetting {-share:.0%} of the {movement}")
    if status is not ItemStatus.CHANGED:
        parts.append(status.value)
    elif multiplier is not None:
        parts.append(f"volume \N{MULTIPLICATION SIGN}{_format_multiplier(multiplier)}")
    return ", ".join(parts)


def _format_multiplier(multiplier: float) -> str:
    """3.1, 12, 0.42: two significant figures at most, never an exponent."""
    if multiplier >= 10:
        return f"{multiplier:.0f}"
    return f"{multiplier:.1f}" if multiplier >= 1 else f"{multiplier:.2g}"


def _signed_usd(amount: Decimal) -> str:
    return ("+" if amount >= 0 else "-") + format_usd(abs(amount))


def _present(measured: Measured) -> bool:
    return measured.cost != 0 or (measured.volume or 0) > 0


def _metered(before: Measured | None, after: Measured | None) -> bool:
    """Whether every period the item appears in has a positive volume."""
    periods = [m for m in (before, after) if m is not None]
    return bool(periods) and all((m.volume or 0) > 0 for m in periods)


def _volume_sum(items: Mapping[K, Measured], metered: set[K]) -> Decimal:
    return _total(_volume(m) for k, m in items.items() if k in metered)


def _volume(measured: Measured | None) -> Decimal:
    return Decimal(0) if measured is None or measured.volume is None else measured.volume


def _cost(measured: Measured | None) -> Decimal:
    return Decimal(0) if measured is None else measured.cost


def _ratio(after: Decimal | None, before: Decimal | None) -> float | None:
    if not before or after is None:
        return None
    return float(after / before)


def _round(amount: Decimal) -> Decimal:
    return amount.quantize(_QUANTUM)


def _total(amounts: Iterable[Decimal]) -> Decimal:
    return sum(amounts, Decimal(0))
