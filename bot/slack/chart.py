"""The digest's spend chart: daily spend stacked by provider, with the budget's daily pace.

The pace is drawn per day, as a flat line at the month's budget divided by its days, rather
than cumulatively: the bars are per-day amounts, so a flat line reads directly against each
bar ("these days ran over"), keeps one scale for bars and line, and does not saw back to zero
at a month boundary inside the 30-day window, as a cumulative pace would.

Preparing the series (`prepare_series`) and choosing colours (`provider_colours`) are pure and
tested on their own; `spend_chart` only draws. matplotlib is imported inside `spend_chart`, so
importing this module costs nothing, and drawing uses a `Figure` with its own Agg canvas,
never pyplot: no global backend, no figure registry, no rcParams changes.
"""

from __future__ import annotations

import io
import itertools
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from bot.money import format_usd
from bot.providers import PROVIDERS

if TYPE_CHECKING:
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

OTHER = "other"
MAX_SERIES = 6  # named providers before the rest fold into "other"

WIDTH_PX = 800
HEIGHT_PX = 400
_DPI = 100
_BAR_WIDTH = 0.8

# One colour per known provider, fixed here (not derived from registry order) so that adding
# a provider never recolours the others. Unknown providers hash into the same palette.
PROVIDER_COLOURS: dict[str, str] = {
    "openai": "#10a37f",
    "anthropic": "#d97757",
    "bedrock": "#f2a900",
    "google": "#4285f4",
    "azure": "#17becf",
    "openrouter": "#9467bd",
    "deepseek": "#1f3a93",
    "mistral": "#d62728",
    "groq": "#e377c2",
    "together": "#bcbd22",
    "fireworks": "#8c564b",
    "xai": "#2f4858",
    "cohere": "#a6d854",
    "perplexity": "#cab2d6",
    "cursor": "#ff7f0e",
}
_PALETTE: tuple[str, ...] = tuple(PROVIDER_COLOURS.values())
OTHER_COLOUR = "#a0a0a0"
_PACE_COLOUR = "#222222"
_TEXT_COLOUR = "#333333"
_SUBTLE_COLOUR = "#666666"
_GRID_COLOUR = "#e6e6e6"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
NO_DATA_TEXT = "No spend recorded"


@dataclass(frozen=True, slots=True)
class Series:
    """One band of the stack: a provider (or "other") and its spend on each day."""

    key: str  # provider id, or OTHER
    label: str  # what the legend says
    amounts: tuple[Decimal, ...]
    total: Decimal


@dataclass(frozen=True, slots=True)
class ChartData:
    """What the chart shows, biggest provider first and "other" (if any) last."""

    days: tuple[date, ...]
    series: tuple[Series, ...]

    @property
    def empty(self) -> bool:
        return not self.series

    @property
    def total(self) -> Decimal:
        return sum((s.total for s in self.series), Decimal(0))


def provider_label(key: str) -> str:
    """The legend name: the registry's display name for a known provider id, else the key."""
    if key == OTHER:
        return "Other"
    info = PROVIDERS.get(key)
    return info.name if info else key


def prepare_series(
    days: Sequence[date],
    by_provider: Mapping[str, Sequence[Decimal]],
    *,
    max_series: int = MAX_SERIES,
) -> ChartData:
    """Order providers by spend and fold all but the top `max_series` into "other".

    Each value of `by_provider` holds one amount per day of `days`. Providers with no spend in
    the window are dropped; ties order by key, so the result never depends on mapping order.
    "other" never stands for a single provider: with exactly `max_series + 1` providers all
    are shown by name. A provider literally keyed "other" joins the folded remainder.

    Raises ValueError for days out of order, a series of the wrong length, or an amount that
    is negative or not finite.
    """
    if max_series < 1:
        raise ValueError(f"max_series must be at least 1, not {max_series}")
    day_list = tuple(days)
    if any(a >= b for a, b in itertools.pairwise(day_list)):
        raise ValueError("days must be in increasing order without repeats")
    named: list[Series] = []
    other_amounts = [Decimal(0)] * len(day_list)
    for key, values in by_provider.items():
        amounts = tuple(values)
        if len(amounts) != len(day_list):
            raise ValueError(f"{key}: {len(amounts)} amounts for {len(day_list)} days")
        for amount in amounts:
            if not amount.is_finite() or amount < 0:
                raise ValueError(f"{key}: not a spend amount: {amount}")
        total = sum(amounts, Decimal(0))
        if key == OTHER:
            other_amounts = [a + b for a, b in zip(other_amounts, amounts, strict=True)]
        elif total > 0:
            named.append(Series(key, provider_label(key), amounts, total))
    named.sort(key=lambda s: (-s.total, s.key))
    has_other = any(a > 0 for a in other_amounts)
    if len(named) + has_other > max_series + 1:
        keep, rest = named[:max_series], named[max_series:]
        for s in rest:
            other_amounts = [a + b for a, b in zip(other_amounts, s.amounts, strict=True)]
        named, has_other = keep, True
    series = list(named)
    if has_other:
        other = tuple(other_amounts)
        series.append(Series(OTHER, provider_label(OTHER), other, sum(other, Decimal(0))))
    return ChartData(day_list, tuple(series))


def provider_colour(key: str) -> str:
    """A provider's own colour, the same on every chart; grey for "other"."""
    if key == OTHER:
        return OTHER_COLOUR
    known = PROVIDER_COLOURS.get(key)
    if known is not None:
        return known
    return _PALETTE[zlib.crc32(key.encode()) % len(_PALETTE)]


def provider_colours(keys: Sequence[str]) -> dict[str, str]:
    """Colours for the providers on one chart: each its own colour, none shared.

    Known providers always get their fixed colour. An unknown provider gets its hashed colour
    unless that is taken on this chart, then the next free one in the palette (by a rule that
    depends only on the set of keys, not their order).
    """
    colours: dict[str, str] = {}
    for key in keys:
        if key == OTHER or key in PROVIDER_COLOURS:
            colours[key] = provider_colour(key)
    used = set(colours.values())
    for key in sorted(set(keys) - colours.keys()):
        start = _PALETTE.index(provider_colour(key))
        for step in range(len(_PALETTE)):
            candidate = _PALETTE[(start + step) % len(_PALETTE)]
            if candidate not in used:
                break
        else:  # more providers than colours: share rather than fail
            candidate = provider_colour(key)
        colours[key] = candidate
        used.add(candidate)
    return {key: colours[key] for key in keys}


def spend_chart(
    days: Sequence[date],
    by_provider: Mapping[str, Sequence[Decimal]],
    *,
    budget_per_day: Decimal | None,
    title: str,
) -> bytes:
    """The digest chart as PNG bytes, about 800x400 px; the same input gives the same bytes.

    Days with their spend stacked by provider (see `prepare_series`), a dashed line at
    `budget_per_day` when given, dollars on the y axis and a legend biggest first with each
    provider's total. No days, or no spend on any day, draws a "No spend recorded" image.
    """
    if budget_per_day is not None and (not budget_per_day.is_finite() or budget_per_day < 0):
        raise ValueError(f"not a budget pace: {budget_per_day}")
    data = prepare_series(days, by_provider)

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    # Fixed margins, not a layout engine: a third faster, and the plot keeps one size and place
    # from one day's digest to the next. Legend labels are cut to fit the right-hand margin.
    fig = Figure(figsize=(WIDTH_PX / _DPI, HEIGHT_PX / _DPI), dpi=_DPI)
    FigureCanvasAgg(fig)
    fig.set_facecolor("white")
    if data.empty:
        _draw_empty(fig, data, title)
    else:
        _draw_bars(fig, data, budget_per_day, title)
    out = io.BytesIO()
    # No "Software" entry (it names the matplotlib version) and no creation time: bytes depend
    # only on the input.
    fig.savefig(out, format="png", dpi=_DPI, facecolor="white", metadata={"Software": None})
    return out.getvalue()


def _draw_bars(fig: Figure, data: ChartData, budget_per_day: Decimal | None, title: str) -> None:
    from matplotlib.collections import PolyCollection
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    ax = fig.add_axes((0.085, 0.085, 0.585, 0.75))
    _style_axes(ax)
    bottoms = [0.0] * len(data.days)
    colours = provider_colours([s.key for s in data.series])
    handles: list[Artist | tuple[Artist, ...]] = []
    # One collection of rectangles per provider: a single artist each, several times faster
    # to build and draw than ax.bar's patch per bar. Biggest at the bottom of the stack, where
    # its day-to-day changes read most clearly.
    for s in data.series:
        heights = [float(a) for a in s.amounts]
        bars = [
            _bar(x, bottom, height)
            for x, (bottom, height) in enumerate(zip(bottoms, heights, strict=True))
            if height > 0
        ]
        band = PolyCollection(
            bars,
            facecolors=colours[s.key],
            linewidths=0,
            label=f"{_short(s.label)}  {_short_usd(s.total)}",
        )
        ax.add_collection(band, autolim=False)
        handles.append(band)
        bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
    top = max(bottoms)
    if budget_per_day is not None and budget_per_day > 0:
        pace = float(budget_per_day)
        line = ax.axhline(
            pace,
            color=_PACE_COLOUR,
            linestyle=(0, (5, 3)),
            linewidth=1.5,
            label=f"Budget pace  {_short_usd(budget_per_day)}/day",
        )
        handles.append(line)
        top = max(top, pace)
    ax.set_ylim(0, top * 1.08 if top > 0 else 1)
    ax.set_xlim(-0.6, len(data.days) - 0.4)
    # Steps of 1, 2 or 5 (never 2.5) and whole dollars from $10 up, so labels are exact.
    locator = MaxNLocator(nbins=6, steps=[1, 2, 5, 10], integer=top >= 10, min_n_ticks=3)
    ax.yaxis.set_major_locator(locator)
    ax.yaxis.set_major_formatter(FuncFormatter(_axis_usd(top)))
    ticks = _date_ticks(len(data.days))
    ax.set_xticks(ticks, [_day_label(data.days[i]) for i in ticks])
    ax.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        frameon=False,
        fontsize=9,
        labelcolor=_TEXT_COLOUR,
        handlelength=1.4,
        borderaxespad=0,
    )
    fig.text(
        0.012,
        0.9,
        f"{_span(data.days)}  \u00b7  total {format_usd(data.total)}",
        ha="left",
        va="top",
        fontsize=9.5,
        color=_SUBTLE_COLOUR,
    )
    _title(fig, title)


def _draw_empty(fig: Figure, data: ChartData, title: str) -> None:
    _title(fig, title)
    fig.text(0.5, 0.52, NO_DATA_TEXT, ha="center", va="center", fontsize=18, color="#777777")
    if data.days:
        fig.text(0.5, 0.4, _span(data.days), ha="center", va="center", fontsize=10, color="#999999")


def _title(fig: Figure, title: str) -> None:
    fig.text(
        0.012,
        0.975,
        _short(title, 64),
        ha="left",
        va="top",
        fontsize=13,
        fontweight="bold",
        color=_TEXT_COLOUR,
    )


def _short(text: str, width: int = 22) -> str:
    return text if len(text) <= width else text[: width - 1].rstrip() + "\u2026"


def _bar(x: int, bottom: float, height: float) -> list[tuple[float, float]]:
    left, right = x - _BAR_WIDTH / 2, x + _BAR_WIDTH / 2
    return [(left, bottom), (left, bottom + height), (right, bottom + height), (right, bottom)]


def _style_axes(ax: Axes) -> None:
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.spines["bottom"].set_color("#bbbbbb")
    ax.tick_params(axis="both", labelsize=9, colors=_TEXT_COLOUR, length=0, pad=4)
    ax.grid(axis="y", color=_GRID_COLOUR, linewidth=0.8)
    ax.set_axisbelow(True)


def _date_ticks(count: int, most: int = 6) -> list[int]:
    """Indexes to label: evenly spaced, counted back from the last (most recent) day."""
    step = max(1, -(-count // most))
    return sorted(range(count - 1, -1, -step))


def _day_label(day: date) -> str:
    """Nov 18: fixed English month names, whatever the process locale."""
    return f"{_MONTHS[day.month - 1]} {day.day}"


def _span(days: Sequence[date]) -> str:
    """Oct 20 \u2013 Nov 18, 2026 (the year of the last day)."""
    return f"{_day_label(days[0])} \u2013 {_day_label(days[-1])}, {days[-1].year}"


def _axis_usd(top: float) -> Callable[[float, int | None], str]:
    """Tick labels: cents when the axis tops out under $10 (more places for steps under a cent,
    so ticks never repeat), whole dollars to $10,000, then $12.5k."""

    def fmt(value: float, _pos: int | None) -> str:
        if value == 0:
            return "$0"
        if top < 10:
            whole, _, places = f"{value:.6f}".rstrip("0").partition(".")
            return f"${whole}.{places.ljust(2, '0')}"
        if top < 10_000:
            return f"${value:,.0f}"
        thousands = f"{value / 1000:,.1f}".removesuffix(".0")
        return f"${thousands}k"

    return fmt


def _short_usd(amount: Decimal) -> str:
    """A legend amount: cents under $100, whole dollars under $10k, then $12.3k and $1.23M."""
    if amount < 100:
        return format_usd(amount)
    if amount < 10_000:
        return f"${amount.quantize(Decimal(1)):,}"
    if amount < 999_950:
        return f"${amount / 1000:.1f}k"
    return f"${amount / 1_000_000:,.2f}M"
