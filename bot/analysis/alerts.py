"""What the bot can alert on, beyond spend spikes: one kind enum and one shape for a
condition that is true now (a forgotten key, a stale source, a budget crossed...).

The detect job turns conditions into incidents: a condition that appears opens one, one that
stays keeps it open (updated when its summary changes), one that goes away resolves it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from bot.analysis.detector import Severity


class AlertKind(StrEnum):
    SPIKE = "spike"  # the rate-of-change detector
    NEW_SPEND = "new_spend"  # the detector, on a series that had no spend
    UNOWNED = "unowned"  # spend on a key/project/workspace no attribution rule owns
    UNPRICED = "unpriced"  # a model used with no known price
    STALE_SOURCE = "stale_source"  # a source stopped sending data or fell behind
    CAPTURE_DROP = "capture_drop"  # reported events cover a falling share of billed cost
    PROMPT_GROWTH = "prompt_growth"  # average prompt size jumped
    ERROR_SURGE = "error_surge"  # error share of request events surged
    BUDGET = "budget"  # a budget threshold crossed
    FORECAST_OVERRUN = "forecast_overrun"  # month-end forecast over budget
    RUNWAY_LOW = "runway_low"  # prepaid credit running out


@dataclass(frozen=True, slots=True)
class Condition:
    """Something true now that people should know. (kind, key) is its identity across runs."""

    kind: AlertKind
    key: tuple[str, ...]  # e.g. ("openai", "proj_old", "key_script") for UNOWNED
    severity: Severity
    summary: str  # one line with the numbers: what is wrong
    why: str = ""  # what drove it, or what to do about it
    amount: Decimal | None = None  # dollars at stake, for ranking; None when not money
    team: str = ""  # the owning team when known, for routing
