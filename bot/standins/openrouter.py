"""A stand-in for OpenRouter's /api/v1/activity and /api/v1/credits (reference section 6.1).

Activity rows use the documented snake_case wire shape, grouped by day x model x endpoint,
with `usage` in dollars as a JSON number; `date=YYYY-MM-DD` selects one day. Each model is
served through one endpoint whose id is derived from the model name. Auth is a Bearer key.
"""

from __future__ import annotations

import hmac
import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from bot.domain import CostLine
from bot.standins.server import Request, Response, Route

ACTIVITY_PATH = "/api/v1/activity"
CREDITS_PATH = "/api/v1/credits"


def openrouter_routes(
    *, key: str, activity: list[CostLine], total_credits: Decimal
) -> dict[str, Route]:
    """Routes for StandIn: activity serves `activity`; credits spent is their summed cost."""
    lines = tuple(activity)
    spent = sum((x.cost or Decimal(0) for x in lines), Decimal(0))
    credits = {"data": {"total_credits": float(total_credits), "total_usage": float(spent)}}
    return {
        ACTIVITY_PATH: _guarded(key, lambda request: _activity(request, lines)),
        CREDITS_PATH: _guarded(key, lambda _: Response(body=credits)),
    }


def endpoint_id(model: str) -> str:
    """The endpoint a model is served through: a stable id derived from its name."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"openrouter:{model}"))


def _guarded(key: str, route: Route) -> Route:
    def answer(request: Request) -> Response:
        sent = next((v for k, v in request.headers.items() if k.lower() == "authorization"), "")
        if not hmac.compare_digest(sent.encode(), f"Bearer {key}".encode()):
            return _error(401, "No auth credentials found")
        return route(request)

    return answer


def _error(status: int, message: str) -> Response:
    return Response(status, {"error": {"code": status, "message": message}})


def _activity(request: Request, lines: Sequence[CostLine]) -> Response:
    raw = request.param("date")
    try:
        day = date.fromisoformat(raw) if raw is not None else None
    except ValueError:
        return _error(400, "date must be YYYY-MM-DD")
    chosen = [x for x in lines if day is None or x.bucket_start.date() == day]
    return Response(body={"data": _rows(chosen)})


def _rows(lines: Sequence[CostLine]) -> list[dict[str, Any]]:
    groups: dict[tuple[date, str], list[CostLine]] = defaultdict(list)
    for line in lines:
        groups[(line.bucket_start.date(), line.model)].append(line)
    return [_row(day, model, groups[(day, model)]) for day, model in sorted(groups)]


def _row(day: date, model: str, lines: Sequence[CostLine]) -> dict[str, Any]:
    usage = sum((x.cost or Decimal(0) for x in lines), Decimal(0))
    return {
        "date": day.isoformat(),
        "model": model,
        "model_permaslug": model,
        "endpoint_id": endpoint_id(model),
        "provider_name": model.partition("/")[0].title(),
        "usage": float(usage),
        "byok_usage_inference": 0.0,
        "requests": sum(x.requests for x in lines),
        "prompt_tokens": sum(x.tokens_in for x in lines),
        "completion_tokens": sum(x.tokens_out for x in lines),
        "reasoning_tokens": 0,
    }
