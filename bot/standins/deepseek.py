"""A stand-in for DeepSeek's GET /user/balance (reference section 6.2): one entry per currency,
amounts as decimal strings, `is_available` true while any balance is positive. Bearer auth."""

from __future__ import annotations

import hmac
from decimal import Decimal
from typing import Any

from bot.standins.server import Request, Response, Route

BALANCE_PATH = "/user/balance"


def deepseek_routes(*, key: str, balances: list[tuple[str, Decimal]]) -> dict[str, Route]:
    """Routes for StandIn: `balances` is (currency, total balance), all of it topped up."""
    body = {
        "is_available": any(amount > 0 for _, amount in balances),
        "balance_infos": [_info(currency, amount) for currency, amount in balances],
    }

    def answer(request: Request) -> Response:
        sent = next((v for k, v in request.headers.items() if k.lower() == "authorization"), "")
        if not hmac.compare_digest(sent.encode(), f"Bearer {key}".encode()):
            return _refused()
        return Response(body=body)

    return {BALANCE_PATH: answer}


def _info(currency: str, amount: Decimal) -> dict[str, Any]:
    return {
        "currency": currency,
        "total_balance": str(amount),
        "granted_balance": "0.00",
        "topped_up_balance": str(amount),
    }


def _refused() -> Response:
    message = "Authentication Fails, Your api key is invalid"
    error = {"message": message, "type": "authentication_error", "param": None, "code": None}
    return Response(401, {"error": error})
