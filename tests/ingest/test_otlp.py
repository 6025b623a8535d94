from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain import EventStatus, UsageEvent
from bot.errors import InputError
from bot.ingest.otlp import parse_otlp_document
from tests.ingest.samples import SECTION_7_4


def attributes(values: Mapping[str, object]) -> list[dict[str, object]]:
    """OTLP/JSON attributes; ints are sent as strings, as OTLP/JSON encodes int64."""
    kinds = {str: "stringValue", bool: "boolValue", float: "doubleValue"}
    return [
        {"key": k, "value": {kinds.get(type(v), "intValue"): str(v) if type(v) is int else v}}
        for k, v in values.items()
    ]


def span(values: Mapping[str, object], **fields: object) -> dict[str, Any]:
    return {
        "traceId": "aa" * 16,
        "spanId": "bb" * 8,
        "startTimeUnixNano": "1754820000000000000",
        "endTimeUnixNano": "1754820001000000000",
        "attributes": attributes(values),
        **fields,
    }


def document(*spans: object, resource: Mapping[str, object] | None = None) -> dict[str, Any]:
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": attributes(resource or {})},
                "scopeSpans": [{"spans": list(spans)}],
            }
        ]
    }


def chat(**overrides: object) -> dict[str, object]:
    values: dict[str, object] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 100,
        "gen_ai.usage.output_tokens": 20,
    }
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


def items(doc: dict[str, object]) -> list[UsageEvent | InputError]:
    return list(parse_otlp_document(doc, source="otel"))


def only_event(doc: dict[str, object]) -> UsageEvent:
    (item,) = items(doc)
    assert isinstance(item, UsageEvent), item
    return item


def only_error(doc: dict[str, object]) -> str:
    (item,) = items(doc)
    assert isinstance(item, InputError), item
    return item.reason


def test_parse_otlp_document_reads_the_section_7_4_example() -> None:
    event = only_event(orjson.loads(SECTION_7_4))
    assert event == UsageEvent(
        ts=datetime(2025, 8, 10, 10, 0, 2, 150000, tzinfo=UTC),
        request_id="msg_01Q…",
        provider="anthropic",
        model="claude-sonnet-4-5-20250929",
        tokens_in=12840,
        tokens_out=412,
        cache_read_tokens=11900,
        cache_write_tokens=0,
        source="otel",
        project="support-bot",
        latency_ms=2150,
    )


def test_parse_otlp_document_falls_back_to_the_request_model() -> None:
    assert only_event(document(span(chat()))).model == "gpt-4o"


def test_parse_otlp_document_accepts_deprecated_attribute_names() -> None:
    values = chat(
        **{
            "gen_ai.provider.name": None,
            "gen_ai.system": "anthropic",
            "gen_ai.usage.input_tokens": None,
            "gen_ai.usage.output_tokens": None,
            "gen_ai.usage.prompt_tokens": 70,
            "gen_ai.usage.completion_tokens": 9,
            "gen_ai.openai.request.service_tier": "flex",
        }
    )
    event = only_event(document(span(values)))
    assert (event.provider, event.tokens_in, event.tokens_out) == ("anthropic", 70, 9)
    assert event.service_tier == "flex"


def test_parse_otlp_document_accepts_openinference_attributes() -> None:
    values = {
        "openinference.span.kind": "LLM",
        "llm.model_name": "claude-haiku-4-5",
        "llm.provider": "anthropic",
        "llm.token_count.prompt": 500,
        "llm.token_count.completion": 40,
        "llm.token_count.prompt_details.cache_read": 300,
        "llm.token_count.prompt_details.cache_write": 100,
    }
    event = only_event(document(span(values)))
    assert (event.model, event.provider) == ("claude-haiku-4-5", "anthropic")
    assert (event.tokens_in, event.tokens_out) == (500, 40)
    assert (event.cache_read_tokens, event.cache_write_tokens) == (300, 100)


def test_parse_otlp_document_accepts_llm_system_as_provider() -> None:
    values = {"llm.model_name": "gpt-4o", "llm.system": "openai", "llm.token_count.prompt": 5}
    assert only_event(document(span(values))).provider == "openai"


def test_parse_otlp_document_prefers_the_response_service_tier() -> None:
    values = chat(
        **{
            "openai.request.service_tier": "auto",
            "openai.response.service_tier": "default",
        }
    )
    assert only_event(document(span(values))).service_tier == "default"


def test_parse_otlp_document_reads_the_request_service_tier() -> None:
    values = chat(**{"openai.request.service_tier": "flex"})
    assert only_event(document(span(values))).service_tier == "flex"


def test_parse_otlp_document_uses_trace_and_span_id_without_a_response_id() -> None:
    assert only_event(document(span(chat()))).request_id == "aa" * 16 + ":" + "bb" * 8


def test_parse_otlp_document_reads_aispend_attributes_from_resource_and_span() -> None:
    resource = {
        "service.name": "search-api",
        "aispend.team": "growth",
        "aispend.feature": "search",
        "deployment.environment": "staging",
    }
    values = chat(**{"aispend.feature": "rerank", "aispend.customer": "acme"})
    event = only_event(document(span(values), resource=resource))
    assert (event.project, event.team, event.feature) == ("search-api", "growth", "rerank")
    assert (event.customer, event.environment) == ("acme", "staging")


def test_parse_otlp_document_prefers_deployment_environment_name() -> None:
    resource = {"deployment.environment": "old", "deployment.environment.name": "prod"}
    assert only_event(document(span(chat()), resource=resource)).environment == "prod"


@pytest.mark.parametrize("code", [2, "STATUS_CODE_ERROR"])
def test_parse_otlp_document_marks_error_status(code: object) -> None:
    event = only_event(document(span(chat(), status={"code": code, "message": "boom"})))
    assert event.status is EventStatus.ERROR


def test_parse_otlp_document_keeps_ok_status() -> None:
    assert only_event(document(span(chat(), status={"code": 1}))).status is EventStatus.OK


@pytest.mark.parametrize("operation", ["chat", "text_completion", "generate_content", "embeddings"])
def test_parse_otlp_document_counts_inference_operations(operation: str) -> None:
    only_event(document(span(chat(**{"gen_ai.operation.name": operation}))))


@pytest.mark.parametrize(
    "operation", ["invoke_agent", "create_agent", "invoke_workflow", "execute_tool", "retrieval"]
)
def test_parse_otlp_document_skips_agent_and_tool_spans(operation: str) -> None:
    assert items(document(span(chat(**{"gen_ai.operation.name": operation})))) == []


def test_parse_otlp_document_skips_openinference_agent_spans() -> None:
    values = {"openinference.span.kind": "AGENT", "llm.token_count.prompt": 5}
    assert items(document(span(values))) == []


def test_parse_otlp_document_counts_usage_without_an_operation_name() -> None:
    only_event(document(span(chat(**{"gen_ai.operation.name": None}))))


def test_parse_otlp_document_skips_spans_without_usage() -> None:
    values = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"}
    assert items(document(span(values), span({"http.method": "GET"}))) == []


def test_parse_otlp_document_reads_json_numbers_for_int_values() -> None:
    doc = document(span(chat()))
    doc_span = doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    doc_span["attributes"].append({"key": "gen_ai.usage.input_tokens", "value": {"intValue": 7}})
    doc_span["endTimeUnixNano"] = 1754820001000000000
    event = only_event(doc)
    assert event.tokens_in == 7
    assert event.ts == datetime(2025, 8, 10, 10, 0, 1, tzinfo=UTC)


@pytest.mark.parametrize("missing", ["gen_ai.request.model", "gen_ai.provider.name"])
def test_parse_otlp_document_reports_span_without_model_or_provider(missing: str) -> None:
    field = "model" if "model" in missing else "provider"
    assert only_error(document(span(chat(**{missing: None})))) == f'span 1: missing field "{field}"'


def test_parse_otlp_document_numbers_spans_across_the_document() -> None:
    agent = span(chat(**{"gen_ai.operation.name": "invoke_agent"}))
    bad = span(chat(**{"gen_ai.usage.output_tokens": -3}))
    results = items(document(agent, span(chat()), bad))
    assert isinstance(results[0], UsageEvent)
    assert isinstance(results[1], InputError)
    assert results[1].reason == ('span 3: tokens_out must be a whole number >= 0, got "-3"')


def test_parse_otlp_document_reports_unknown_provider_with_suggestion() -> None:
    reason = only_error(document(span(chat(**{"gen_ai.provider.name": "antropic"}))))
    assert reason == 'span 1: unknown provider "antropic" (did you mean "anthropic"?)'


def test_parse_otlp_document_reports_span_without_end_time() -> None:
    doc = document(span(chat(), endTimeUnixNano="soon"))
    assert only_error(doc) == "span 1: endTimeUnixNano is missing or not a number"


def test_parse_otlp_document_leaves_latency_empty_when_start_is_after_end() -> None:
    doc = document(span(chat(), startTimeUnixNano="1754820009000000000"))
    assert only_event(doc).latency_ms is None


def test_parse_otlp_document_reports_a_span_that_is_not_an_object() -> None:
    assert only_error(document("not a span")) == "span 1: not a JSON object"


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        ({"resourceSpans": {}}, "resourceSpans must be a list, got dict"),
        ({"resourceSpans": [1]}, "resourceSpans must hold objects, got int"),
        ({"resourceSpans": [{"scopeSpans": "x"}]}, "scopeSpans must be a list, got str"),
        ({"resourceSpans": [{"scopeSpans": [{"spans": 5}]}]}, "spans must be a list, got int"),
    ],
)
def test_parse_otlp_document_reports_a_malformed_document(
    doc: dict[str, object], reason: str
) -> None:
    assert only_error(doc) == f"not an OTLP trace document: {reason}"


def test_parse_otlp_document_ignores_malformed_attributes() -> None:
    doc = document(span(chat()))
    doc_span = doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    doc_span["attributes"] += [1, {"key": 2}, {"key": "a", "value": {"arrayValue": {}}}]
    assert only_event(doc).tokens_in == 100


def test_parse_otlp_document_yields_nothing_for_an_empty_document() -> None:
    assert items({}) == []


ATTRIBUTE_KEYS = st.sampled_from(
    [
        "gen_ai.operation.name",
        "gen_ai.provider.name",
        "gen_ai.response.model",
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.cache_read.input_tokens",
        "llm.token_count.prompt",
        "openinference.span.kind",
        "service.name",
    ]
)
ATTRIBUTE_VALUES = st.fixed_dictionaries(
    {},
    optional={
        "stringValue": st.sampled_from(["chat", "openai", "gpt-4o", "LLM", "12", "-1", "x"]),
        "intValue": st.one_of(st.integers(), st.text(max_size=5)),
        "doubleValue": st.one_of(st.floats(), st.sampled_from(["NaN", "Infinity"])),
        "boolValue": st.booleans(),
    },
)
ANY_JSON = st.one_of(st.none(), st.integers(), st.text(max_size=5), st.lists(st.none(), max_size=1))
SPANS = st.fixed_dictionaries(
    {
        "attributes": st.lists(
            st.fixed_dictionaries({"key": ATTRIBUTE_KEYS, "value": ATTRIBUTE_VALUES})
        )
    },
    optional={
        "endTimeUnixNano": st.one_of(ANY_JSON, st.just("1754820001000000000")),
        "startTimeUnixNano": st.one_of(ANY_JSON, st.just("1754820000000000000")),
        "traceId": ANY_JSON,
        "spanId": ANY_JSON,
        "status": st.one_of(ANY_JSON, st.fixed_dictionaries({"code": ANY_JSON})),
    },
)


@settings(deadline=None)
@given(
    st.lists(st.one_of(SPANS, ANY_JSON), max_size=4),
    st.dictionaries(ATTRIBUTE_KEYS, ATTRIBUTE_VALUES),
)
def test_parse_otlp_document_never_raises_for_odd_spans(
    spans: list[object], resource: dict[str, object]
) -> None:
    doc = document(*spans)
    doc["resourceSpans"][0]["resource"] = {
        "attributes": [{"key": k, "value": v} for k, v in resource.items()]
    }
    for item in items(doc):
        assert isinstance(item, UsageEvent | InputError)
