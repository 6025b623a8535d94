"""OTLP/JSON trace documents to UsageEvents, one per inference span. Pure.

Attribute names follow the OpenTelemetry GenAI semantic conventions, with their deprecated
names and the OpenInference dialect as aliases (reference: providers.md section 7).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from bot.domain import UsageEvent
from bot.errors import InputError
from bot.ingest.fields import parse_event

_INFERENCE = frozenset({"chat", "text_completion", "generate_content", "embeddings"})
_OPENINFERENCE_INFERENCE = frozenset({"LLM", "EMBEDDING"})
_USAGE_PREFIXES = ("gen_ai.usage.", "llm.token_count.")
_ERROR_CODES = (2, "2", "STATUS_CODE_ERROR")  # a tuple: a code may be any JSON value
# event field -> the attributes that fill it, best first; span attributes override resource ones
_ATTRIBUTES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("model", ("gen_ai.response.model", "gen_ai.request.model", "llm.model_name")),
    ("provider", ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system")),
    (
        "tokens_in",
        ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt"),
    ),
    (
        "tokens_out",
        (
            "gen_ai.usage.output_tokens",
            "gen_ai.usage.completion_tokens",
            "llm.token_count.completion",
        ),
    ),
    (
        "cache_read_tokens",
        ("gen_ai.usage.cache_read.input_tokens", "llm.token_count.prompt_details.cache_read"),
    ),
    (
        "cache_write_tokens",
        (
            "gen_ai.usage.cache_creation.input_tokens",
            "llm.token_count.prompt_details.cache_write",
        ),
    ),
    (
        "service_tier",
        (
            "openai.response.service_tier",
            "openai.request.service_tier",
            "gen_ai.openai.response.service_tier",
            "gen_ai.openai.request.service_tier",
        ),
    ),
    ("request_id", ("gen_ai.response.id",)),
    ("project", ("service.name",)),
    ("feature", ("aispend.feature",)),
    ("team", ("aispend.team",)),
    ("customer", ("aispend.customer",)),
    ("environment", ("deployment.environment.name", "deployment.environment")),
)
_VALUE_KINDS = ("stringValue", "intValue", "doubleValue", "boolValue")


def _attributes(owner: object) -> dict[str, object]:
    """`[{"key": k, "value": {"stringValue": v}}]` as {k: v}; ints stay the strings OTLP sends."""
    entries = owner.get("attributes") if isinstance(owner, dict) else None
    found: dict[str, object] = {}
    for entry in entries if isinstance(entries, list) else ():
        key = entry.get("key") if isinstance(entry, dict) else None
        value = entry.get("value") if isinstance(entry, dict) else None
        if isinstance(key, str) and isinstance(value, dict):
            kind = next((k for k in _VALUE_KINDS if k in value), None)
            if kind is not None and isinstance(value[kind], str | int | float):
                found[key] = value[kind]
    return found


def _is_inference(attributes: Mapping[str, object]) -> bool:
    """A span that did inference and reports usage; agent and workflow spans repeat usage."""
    operation = attributes.get("gen_ai.operation.name")
    if operation is not None and operation not in _INFERENCE:
        return False
    kind = attributes.get("openinference.span.kind")
    if kind is not None and kind not in _OPENINFERENCE_INFERENCE:
        return False
    return any(key.startswith(_USAGE_PREFIXES) for key in attributes)


def _nanos(value: object) -> int | None:
    """A time in Unix nanoseconds: OTLP/JSON sends a uint64 as a string of digits."""
    if type(value) is str and value.isascii() and value.isdigit() and len(value) <= 20:
        value = int(value)
    return value if type(value) is int and 0 <= value < 2**64 else None


def _span_fields(span: dict[str, object], attributes: Mapping[str, object]) -> dict[str, object]:
    """The flat record parse_event reads, from a span and its merged attributes."""
    record: dict[str, object] = {}
    for field, names in _ATTRIBUTES:
        value = next((attributes[n] for n in names if attributes.get(n) is not None), None)
        if value is not None:
            record[field] = value
    end, start = _nanos(span.get("endTimeUnixNano")), _nanos(span.get("startTimeUnixNano"))
    record["ts"] = end
    if end is not None and start is not None and end >= start:
        record["latency_ms"] = round((end - start) / 1e6)
    trace_id, span_id = span.get("traceId"), span.get("spanId")
    if "request_id" not in record and isinstance(trace_id, str) and isinstance(span_id, str):
        record["request_id"] = f"{trace_id}:{span_id}"
    status = span.get("status")
    if isinstance(status, dict) and status.get("code") in _ERROR_CODES:
        record["status"] = "error"
    return record


def _span_event(
    span: object, resource: Mapping[str, object], number: int, source: str
) -> UsageEvent | InputError | None:
    """The span's event, an error for it, or None when it is not an inference span."""
    if not isinstance(span, dict):
        return InputError(f"span {number}: not a JSON object")
    attributes = _attributes(span)
    if not _is_inference(attributes):
        return None
    record = _span_fields(span, {**resource, **attributes})
    if record["ts"] is None:
        return InputError(f"span {number}: endTimeUnixNano is missing or not a number")
    try:
        return parse_event(record, source=source)
    except InputError as e:
        return InputError(f"span {number}: {e.reason}")


def _items(owner: Mapping[str, object], key: str) -> list[object]:
    """The list under `key`; a missing key is an empty list (OTLP/JSON omits empty fields)."""
    items = owner.get(key, [])
    if isinstance(items, list):
        return items
    raise InputError(f"{key} must be a list, got {type(items).__name__}")


def _objects(owner: Mapping[str, object], key: str) -> Iterator[dict[str, object]]:
    for item in _items(owner, key):
        if not isinstance(item, dict):
            raise InputError(f"{key} must hold objects, got {type(item).__name__}")
        yield item


def _events(doc: Mapping[str, object], source: str) -> Iterator[UsageEvent | InputError]:
    number = 0
    for resource_spans in _objects(doc, "resourceSpans"):
        resource = _attributes(resource_spans.get("resource"))
        for scope_spans in _objects(resource_spans, "scopeSpans"):
            for span in _items(scope_spans, "spans"):
                number += 1
                item = _span_event(span, resource, number, source)
                if item is not None:
                    yield item


def parse_otlp_document(
    doc: Mapping[str, object], *, source: str
) -> Iterator[UsageEvent | InputError]:
    """One UsageEvent or InputError per inference span, in document order; span errors start
    with `span N:`, N counting every span from 1. A malformed document ends in one error."""
    try:
        yield from _events(doc, source)
    except InputError as e:
        yield InputError(f"not an OTLP trace document: {e.reason}")
