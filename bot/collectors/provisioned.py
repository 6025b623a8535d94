"""Provisioned throughput (PTU) cost spread over the tokens it served, for a cost per token.

A PTU deployment bills per PTU-hour (or, under a reservation with amortized cost, a daily share
of the reservation) whatever it serves: its meter names no model and no tokens. To show that
money next to pay-as-you-go spend, each day's provisioned cost on an account is split over the
models the account's provisioned deployments served that day, in proportion to their tokens
(input and output counted alike), so each model gets a billed line with its tokens and an
effective cost per token. Money stays exact: shares are whole units of 1e-10 USD, and the units
left over by rounding down go to the largest remainders, so the parts always sum to the whole.
A day with provisioned cost but no tokens served keeps its line as it was (idle capacity).
Pure; no I/O.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from bot.domain import CostLine
from bot.money import from_units, to_units


@dataclass(frozen=True, slots=True)
class Served:
    """Tokens an account's provisioned deployments served for one model on one day."""

    day: datetime  # the UTC midnight the day starts at
    project: str  # resource group
    account: str  # the Azure OpenAI resource (stored as api_key)
    model: str
    tokens_in: int
    tokens_out: int

    @property
    def tokens(self) -> int:
        return self.tokens_in + self.tokens_out


def split_exactly(amount: Decimal, weights: Sequence[int]) -> list[Decimal]:
    """`amount` split in proportion to `weights` (non-negative, not all zero), each part a
    whole number of 1e-10 USD, summing exactly to `amount` as stored (to 1e-10). Units left
    by rounding down go one each to the largest remainders, earlier parts first on ties;
    a negative amount (a refund) is split the same way, sign kept."""
    if not weights or any(w < 0 for w in weights) or not any(weights):
        raise ValueError("weights must be non-negative and not all zero")
    units = to_units(amount)
    sign, whole = (-1 if units < 0 else 1), abs(units)
    total = sum(weights)
    floors = [whole * w // total for w in weights]
    remainders = [whole * w % total for w in weights]
    left = whole - sum(floors)
    order = sorted(range(len(weights)), key=lambda i: (-remainders[i], i))
    for i in order[:left]:
        floors[i] += 1
    return [from_units(sign * part) for part in floors]


def spread_provisioned(lines: Sequence[CostLine], served: Sequence[Served]) -> list[CostLine]:
    """The lines with each provisioned line (service tier "provisioned", no model) replaced
    by one line per model its account served that day: the same source, meter and bucket,
    the model's tokens and its share of the cost. Every other line is returned unchanged."""
    by_account = _by_account(served)
    out: list[CostLine] = []
    for line in lines:
        models = by_account.get((line.bucket_start, line.project, line.api_key), [])
        if not _is_provisioned(line) or not models or line.cost is None:
            out.append(line)
            continue
        models = sorted(models, key=lambda s: s.model)
        shares = split_exactly(line.cost, [s.tokens for s in models])
        out.extend(
            replace(
                line,
                model=s.model,
                tokens_in=s.tokens_in,
                tokens_out=s.tokens_out,
                cost=share,
            )
            for s, share in zip(models, shares, strict=True)
        )
    return out


def _by_account(served: Sequence[Served]) -> dict[tuple[datetime, str, str], list[Served]]:
    """Served tokens per account and day, one item per model (deployments of one model
    summed)."""
    summed: dict[tuple[datetime, str, str, str], tuple[int, int]] = defaultdict(lambda: (0, 0))
    for s in served:
        key = (s.day, s.project, s.account, s.model)
        tin, tout = summed[key]
        summed[key] = (tin + s.tokens_in, tout + s.tokens_out)
    grouped: dict[tuple[datetime, str, str], list[Served]] = defaultdict(list)
    for (day, project, account, model), (tin, tout) in summed.items():
        if tin + tout > 0:
            grouped[(day, project, account)].append(Served(day, project, account, model, tin, tout))
    return grouped


def _is_provisioned(line: CostLine) -> bool:
    return line.service_tier == "provisioned" and not line.model


def cost_per_token(line: CostLine) -> Decimal | None:
    """The effective cost of one token on a line: its cost over its tokens, if it has both."""
    tokens = line.tokens_in + line.tokens_out
    if line.cost is None or tokens == 0:
        return None
    return line.cost / tokens
