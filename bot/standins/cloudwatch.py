"""A stand-in for CloudWatch's ListMetrics and GetMetricData as boto3 calls them: the AWS
JSON 1.0 protocol (X-Amz-Target: GraniteServiceVersion20100801.<Op>, timestamps as epoch
seconds), SigV4 checked for the `monitoring` service in the configured region, at most 500
queries a request, datapoints paged by NextToken, and errors in the query-compatible form
(the code also in the x-amzn-query-error header).

It serves the AWS/Bedrock metrics of hourly token lines (the synthetic company's current day):
Invocations, InputTokenCount (uncached input), OutputTokenCount, CacheReadInputTokenCount and
CacheWriteInputTokenCount per ModelId, as hourly sums.
"""

from __future__ import annotations

import base64
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from botocore.credentials import Credentials

from bot.domain import CostLine
from bot.standins.bedrock import ApiError, authenticate, json_body
from bot.standins.server import Fault, Request, Response, Route

TARGET_PREFIX = "GraniteServiceVersion20100801."
JSON_TYPE = "application/x-amz-json-1.0"
NAMESPACE = "AWS/Bedrock"
MAX_QUERIES = 500
_MEASURES: dict[str, Callable[[CostLine], int]] = {
    "Invocations": lambda x: x.requests,
    "InputTokenCount": lambda x: x.tokens_in - x.cache_read_tokens - x.cache_write_tokens,
    "OutputTokenCount": lambda x: x.tokens_out,
    "CacheReadInputTokenCount": lambda x: x.cache_read_tokens,
    "CacheWriteInputTokenCount": lambda x: x.cache_write_tokens,
}

Series = dict[tuple[str, str], dict[int, float]]  # (model, metric) -> epoch hour -> sum


def throttled() -> Fault:
    body = {"__type": "Throttling", "message": "Rate exceeded"}
    headers = {"Content-Type": JSON_TYPE, "x-amzn-query-error": "Throttling;Sender"}
    return Fault(status=400, body=body, headers=headers)


def cloudwatch_routes(
    *,
    access_key_id: str,
    secret_access_key: str,
    region: str,
    lines: Sequence[CostLine],
    metrics_per_page: int = 500,
    points_per_page: int = 100_800,
) -> dict[str, Route]:
    """Routes for StandIn answering CloudWatch at its root path, paging ListMetrics and
    GetMetricData (datapoints) at their documented sizes unless told otherwise."""
    series: Series = defaultdict(dict)
    for line in lines:
        hour = int(line.bucket_start.timestamp())
        for metric, measure in _MEASURES.items():
            held = series[(line.model, metric)]
            held[hour] = held.get(hour, 0.0) + measure(line)
    credentials = Credentials(access_key_id, secret_access_key)
    operations: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
        "ListMetrics": lambda body: _list_metrics(body, series, metrics_per_page),
        "GetMetricData": lambda body: _metric_data(body, series, points_per_page),
    }

    def answer(request: Request) -> Response:
        try:
            authenticate(request, credentials, "monitoring", region)
            target = request.header("X-Amz-Target") or ""
            operation = operations.get(target.removeprefix(TARGET_PREFIX))
            if operation is None or not target.startswith(TARGET_PREFIX):
                raise ApiError("UnknownOperationException", f"unknown operation {target!r}")
            result = operation(json_body(request))
        except ApiError as e:
            return e.response(JSON_TYPE)
        return Response(200, result, {"Content-Type": JSON_TYPE})

    return {"/": answer}


def _offset(body: dict[str, Any]) -> int:
    token = body.get("NextToken")
    if not token:
        return 0
    try:
        return int(base64.urlsafe_b64decode(token).decode())
    except (ValueError, UnicodeDecodeError) as e:
        raise ApiError("InvalidNextToken", "The service found the next token invalid") from e


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(str(offset).encode()).decode()


def _list_metrics(body: dict[str, Any], series: Series, page_size: int) -> dict[str, Any]:
    if body.get("Namespace") != NAMESPACE:
        return {"Metrics": []}
    wanted = body.get("MetricName")
    found = sorted((m, metric) for m, metric in series if wanted in (None, metric))
    offset = _offset(body)
    metrics = [
        {
            "Namespace": NAMESPACE,
            "MetricName": metric,
            "Dimensions": [{"Name": "ModelId", "Value": model}],
        }
        for model, metric in found[offset : offset + page_size]
    ]
    answer: dict[str, Any] = {"Metrics": metrics}
    if offset + page_size < len(found):
        answer["NextToken"] = _token(offset + page_size)
    return answer


def _metric_data(body: dict[str, Any], series: Series, page_size: int) -> dict[str, Any]:
    queries = body.get("MetricDataQueries") or []
    if not queries or len(queries) > MAX_QUERIES:
        raise ApiError("ValidationError", f"MetricDataQueries takes 1 to {MAX_QUERIES} queries")
    try:
        start, end = float(body["StartTime"]), float(body["EndTime"])
    except (KeyError, TypeError, ValueError) as e:
        raise ApiError("ValidationError", "StartTime and EndTime are required") from e
    points = [
        (query["Id"], hour, value)
        for query in queries
        for hour, value in _points(query, series, start, end)
    ]
    offset = _offset(body)
    chosen = points[offset : offset + page_size]
    more = offset + page_size < len(points)
    results: dict[str, dict[str, Any]] = {}
    for query in queries:  # every query answers, with no datapoints if it has none
        results[query["Id"]] = {
            "Id": query["Id"],
            "Label": query["MetricStat"]["Metric"]["MetricName"],
            "Timestamps": [],
            "Values": [],
            "StatusCode": "PartialData" if more else "Complete",
        }
    for query_id, hour, value in chosen:
        results[query_id]["Timestamps"].append(hour)
        results[query_id]["Values"].append(value)
    answer: dict[str, Any] = {"MetricDataResults": list(results.values()), "Messages": []}
    if more:
        answer["NextToken"] = _token(offset + page_size)
    return answer


def _points(
    query: dict[str, Any], series: Series, start: float, end: float
) -> list[tuple[int, float]]:
    stat = query.get("MetricStat") or {}
    metric = stat.get("Metric") or {}
    if stat.get("Stat") != "Sum" or stat.get("Period") != 3600:
        raise ApiError("ValidationError", "the stand-in serves hourly sums only")
    dimensions = metric.get("Dimensions") or []
    if metric.get("Namespace") != NAMESPACE or len(dimensions) != 1:
        return []
    held = series.get((str(dimensions[0].get("Value")), str(metric.get("MetricName"))), {})
    return sorted(((h, v) for h, v in held.items() if start <= h < end), reverse=True)
