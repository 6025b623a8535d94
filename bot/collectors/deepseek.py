"""DeepSeek: prepaid balance snapshots from /user/balance (section 6.2 of the provider
reference). DeepSeek offers no usage or cost history API, so `collect` finds no lines; spend can
only be derived later from differences between snapshots.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel, ConfigDict

from bot.collectors.http import ProviderClient
from bot.collectors.payloads import decimal_field, validated
from bot.domain import CostLine, CreditSnapshot

PROVIDER = "deepseek"
BASE_URL = "https://api.deepseek.com"
BALANCE_PATH = "/user/balance"
BALANCE_SOURCE = "deepseek.balance"


class _Shape(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _BalanceInfo(_Shape):
    currency: str
    total_balance: str


class _Balance(_Shape):
    balance_infos: list[_BalanceInfo]


def parse_balance(payload: dict[str, Any], at: datetime) -> list[CreditSnapshot]:
    """One snapshot per currency the account holds; amounts arrive as decimal strings."""
    answer = validated(_Balance, payload, provider=PROVIDER, what="balance")
    return [_snapshot(info, at) for info in answer.balance_infos]


def _snapshot(info: _BalanceInfo, at: datetime) -> CreditSnapshot:
    return CreditSnapshot(
        source=BALANCE_SOURCE,
        provider=PROVIDER,
        at=at,
        balance=decimal_field(info.total_balance, provider=PROVIDER, where="total_balance"),
        currency=info.currency.upper(),
        purchased=None,
    )


def deepseek_client(
    http: httpx.Client, key: str, *, base_url: str = BASE_URL, **options: Any
) -> ProviderClient:
    """A ProviderClient that sends the API key as a Bearer token."""
    headers = {"Authorization": f"Bearer {key}"}
    return ProviderClient(PROVIDER, http, base_url, headers, **options)


class DeepSeekCollector:
    """Balance snapshots only: DeepSeek has no usage history API."""

    provider: ClassVar[str] = PROVIDER
    sources: ClassVar[tuple[str, ...]] = (BALANCE_SOURCE,)

    def __init__(self, client: ProviderClient) -> None:
        self.client = client

    def collect(self, start: datetime, end: datetime) -> list[CostLine]:  # noqa: ARG002
        """Nothing: there is no usage or cost API to ask."""
        return []

    def balances(self, at: datetime) -> list[CreditSnapshot]:
        return parse_balance(self.client.get_json(BALANCE_PATH), at)
