from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain import EventStatus, UsageEvent
from bot.errors import InputError
from bot.ingest.fields import FIELD_NAMES, MAX_VALUE_CHARS, parse_event

AT = datetime(2025, 8, 10, 10, 0, tzinfo=UTC)
AT_EPOCH = 1754820000  # AT in epoch seconds


def record(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "ts": "2025-08-10T10:00:00Z",
        "request_id": "req_1",
        "provider": "openai",
        "model": "gpt-4o",
    }
    return {**base, **fields}


def parse(obj: dict[str, object]) -> UsageEvent:
    return parse_event(obj, source="events")


def reason(obj: dict[str, object]) -> str:
    with pytest.raises(InputError) as caught:
        parse(obj)
    assert caught.value.line is None
    return caught.value.reason


def test_parse_event_reads_every_canonical_field() -> None:
    event = parse(
        record(
            tokens_in=1200,
            tokens_out=300,
            cache_read_tokens=1000,
            cache_write_tokens=100,
            feature="search",
            team="growth",
            customer="acme",
            environment="prod",
            project="support-bot",
            api_key="key_1",
            service_tier="flex",
            batch=True,
            latency_ms=812,
            status="error",
            cost="0.0123",
        )
    )
    assert event == UsageEvent(
        ts=AT,
        request_id="req_1",
        provider="openai",
        model="gpt-4o",
        tokens_in=1200,
        tokens_out=300,
        cache_read_tokens=1000,
        cache_write_tokens=100,
        source="events",
        project="support-bot",
        api_key="key_1",
        feature="search",
        team="growth",
        customer="acme",
        environment="prod",
        service_tier="flex",
        batch=True,
        latency_ms=812,
        status=EventStatus.ERROR,
        cost=Decimal("0.0123"),
    )


def test_parse_event_defaults_optional_fields() -> None:
    event = parse(record())
    assert (event.tokens_in, event.tokens_out, event.cache_read_tokens) == (0, 0, 0)
    assert (event.feature, event.batch, event.latency_ms, event.cost) == ("", False, None, None)
    assert event.status is EventStatus.OK


@pytest.mark.parametrize(
    ("alias", "value", "attribute", "expected"),
    [
        ("timestamp", "2025-08-10T10:00:00Z", "ts", AT),
        ("time", "2025-08-10T10:00:00Z", "ts", AT),
        ("id", "abc", "request_id", "abc"),
        ("response_id", "resp_9", "request_id", "resp_9"),
        ("input_tokens", 50, "tokens_in", 50),
        ("prompt_tokens", 51, "tokens_in", 51),
        ("output_tokens", 7, "tokens_out", 7),
        ("completion_tokens", 8, "tokens_out", 8),
        ("cached_tokens", 3, "cache_read_tokens", 3),
        ("cache_creation_input_tokens", 4, "cache_write_tokens", 4),
        ("env", "staging", "environment", "staging"),
        ("key", "key_2", "api_key", "key_2"),
        ("cost_usd", "1.5", "cost", Decimal("1.5")),
    ],
)
def test_parse_event_accepts_alias(
    alias: str, value: object, attribute: str, expected: object
) -> None:
    obj = {name: given for name, given in record(tokens_in=100).items() if name != attribute}
    obj[alias] = value
    assert getattr(parse(obj), attribute) == expected


def test_parse_event_takes_the_last_of_two_aliases() -> None:
    assert parse(record(tokens_in=5, input_tokens=6)).tokens_in == 6


def test_parse_event_ignores_unknown_fields() -> None:
    assert parse(record(prompt="hello", nested={"a": [1, 2]})).model == "gpt-4o"


@pytest.mark.parametrize("empty", [None, ""])
def test_parse_event_treats_null_and_empty_as_missing(empty: object) -> None:
    assert parse(record(feature=empty, tokens_in=empty)).feature == ""
    assert reason(record(model=empty)) == 'missing field "model"'


@pytest.mark.parametrize("field", ["ts", "provider", "model"])
def test_parse_event_rejects_missing_required_field(field: str) -> None:
    obj = record()
    del obj[field]
    assert reason(obj) == f'missing field "{field}"'


def test_parse_event_rejects_blank_model() -> None:
    assert reason(record(model="   ")) == 'model must not be blank, got "   "'


@pytest.mark.parametrize(
    "ts",
    [
        "2025-08-10T10:00:00Z",
        "2025-08-10T10:00:00.000Z",
        "2025-08-10T12:00:00+02:00",
        "2025-08-10 05:00:00-05:00",
        "2025-08-10T10:00:00+00:00",
        AT_EPOCH,
        float(AT_EPOCH),
        str(AT_EPOCH),
        AT_EPOCH * 1000,
        AT_EPOCH * 1_000_000,
        AT_EPOCH * 1_000_000_000,
        str(AT_EPOCH * 1_000_000_000),
        f"{AT_EPOCH}.0",
    ],
)
def test_parse_event_converts_timestamps_to_aware_utc(ts: object) -> None:
    event = parse(record(ts=ts))
    assert event.ts == AT
    assert event.ts.tzinfo is UTC


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        (AT_EPOCH + 0.25, datetime(2025, 8, 10, 10, 0, 0, 250000, tzinfo=UTC)),
        (AT_EPOCH * 1000 + 250, datetime(2025, 8, 10, 10, 0, 0, 250000, tzinfo=UTC)),
        (AT_EPOCH * 10**6 + 7, datetime(2025, 8, 10, 10, 0, 0, 7, tzinfo=UTC)),
        (AT_EPOCH * 10**9 + 7000, datetime(2025, 8, 10, 10, 0, 0, 7, tzinfo=UTC)),
    ],
)
def test_parse_event_keeps_sub_second_epoch_precision(ts: object, expected: datetime) -> None:
    assert parse(record(ts=ts)).ts == expected


def test_parse_event_rejects_naive_timestamp() -> None:
    assert reason(record(ts="2025-08-10T10:00:00")) == (
        'timestamp has no timezone: "2025-08-10T10:00:00"'
    )


@pytest.mark.parametrize(
    "ts",
    [
        "1999-12-31T23:59:59Z",
        "2101-01-01T00:00:00Z",
        "2000-01-01T00:30:00+01:00",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        0,
        -5,
        AT_EPOCH * 10**12,
        "1e400",
        "nan",
    ],
)
def test_parse_event_rejects_timestamp_outside_2000_to_2100(ts: object) -> None:
    assert reason(record(ts=ts)).startswith("timestamp year must be between 2000 and 2100, got")


@pytest.mark.parametrize("ts", ["yesterday", "2025-13-01T00:00:00Z", True, [1], {"a": 1}])
def test_parse_event_rejects_unreadable_timestamp(ts: object) -> None:
    assert "must be an ISO 8601 time or epoch seconds, got" in reason(record(ts=ts))


@pytest.mark.parametrize(
    ("value", "expected"), [(12, 12), ("12", 12), (" 12 ", 12), (12.0, 12), ("12.0", 12)]
)
def test_parse_event_accepts_whole_token_counts(value: object, expected: int) -> None:
    assert parse(record(tokens_out=value)).tokens_out == expected


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (-5, "-5"),
        ("-5", '"-5"'),
        (1.5, "1.5"),
        ("1.5", '"1.5"'),
        (True, "true"),
        ("abc", '"abc"'),
        ([], "[]"),
        (2**64, "18446744073709551616"),
        ("²", '"²"'),
    ],
)
def test_parse_event_rejects_bad_token_count(value: object, shown: str) -> None:
    assert reason(record(tokens_in=value)) == f"tokens_in must be a whole number >= 0, got {shown}"


def test_parse_event_names_the_alias_the_record_used() -> None:
    assert reason(record(prompt_tokens=-1)) == "prompt_tokens must be a whole number >= 0, got -1"


def test_parse_event_requires_tokens_in_to_include_cached_tokens() -> None:
    message = reason(record(tokens_in=100, cache_read_tokens=80, cache_write_tokens=30))
    assert message == (
        "cache_read_tokens + cache_write_tokens (110) exceed tokens_in (100):"
        " tokens_in must include cached tokens"
    )
    assert parse(record(tokens_in=110, cache_read_tokens=80, cache_write_tokens=30))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("openai", "openai"),
        ("OpenAI", "openai"),
        ("aws.bedrock", "bedrock"),
        (" gcp.gemini", "google"),
    ],
)
def test_parse_event_resolves_provider_aliases(name: str, expected: str) -> None:
    assert parse(record(provider=name)).provider == expected


def test_parse_event_suggests_the_closest_provider() -> None:
    assert reason(record(provider="opnai")) == 'unknown provider "opnai" (did you mean "openai"?)'
    assert 'did you mean "bedrock"' in reason(record(provider="aws.bedrok"))


def test_parse_event_rejects_unknown_provider_without_a_close_one() -> None:
    assert reason(record(provider="zzzzzz")) == 'unknown provider "zzzzzz"'


def test_parse_event_limits_string_length() -> None:
    assert parse(record(feature="x" * MAX_VALUE_CHARS)).feature == "x" * MAX_VALUE_CHARS
    message = reason(record(feature="x" * (MAX_VALUE_CHARS + 1)))
    assert message.startswith(f"feature is longer than {MAX_VALUE_CHARS} characters: ")
    assert len(message) < 120


@pytest.mark.parametrize("field", ["request_id", "model", "provider", "team", "service_tier"])
def test_parse_event_rejects_long_value_in_any_text_field(field: str) -> None:
    assert reason(record(**{field: "y" * 1000})).startswith(f"{field} is longer than")


def test_parse_event_truncates_shown_values() -> None:
    message = reason(record(tokens_in="9" * 200 + "x"))
    assert message.startswith('tokens_in must be a whole number >= 0, got "999')
    assert len(message) < 120


@pytest.mark.parametrize("value", [[1], {"a": 1}, 1.5, False])
def test_parse_event_rejects_non_string_text(value: object) -> None:
    assert reason(record(team=value)).startswith("team must be a string, got")


def test_parse_event_accepts_integer_ids_as_text() -> None:
    assert parse(record(request_id=42, customer=7)).request_id == "42"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (False, False),
        ("true", True),
        ("FALSE", False),
        ("1", True),
        ("0", False),
        (1, True),
    ],
)
def test_parse_event_reads_batch_flags(value: object, expected: bool) -> None:
    assert parse(record(batch=value)).batch is expected


@pytest.mark.parametrize("value", ["maybe", 2, 1.0, []])
def test_parse_event_rejects_bad_batch_flag(value: object) -> None:
    assert reason(record(batch=value)).startswith('batch must be true, false, "1" or "0", got')


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("ok", EventStatus.OK),
        ("ERROR", EventStatus.ERROR),
        (200, EventStatus.OK),
        ("201", EventStatus.OK),
        (399, EventStatus.OK),
        (400, EventStatus.ERROR),
        ("503", EventStatus.ERROR),
    ],
)
def test_parse_event_reads_status_words_and_http_codes(
    value: object, expected: EventStatus
) -> None:
    assert parse(record(status=value)).status is expected


@pytest.mark.parametrize("value", ["teapot", 42, 600, True, 404.5])
def test_parse_event_rejects_bad_status(value: object) -> None:
    assert reason(record(status=value)).startswith(
        'status must be "ok", "error" or an HTTP status code, got'
    )


@pytest.mark.parametrize(("value", "expected"), [(812, 812), (812.4, 812), ("15", 15), ("2.6", 3)])
def test_parse_event_reads_latency(value: object, expected: int) -> None:
    assert parse(record(latency_ms=value)).latency_ms == expected


@pytest.mark.parametrize("value", [-1, "-1", "fast", True, [5]])
def test_parse_event_rejects_bad_latency(value: object) -> None:
    assert reason(record(latency_ms=value)).startswith(
        "latency_ms must be a number of milliseconds"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0.0123", Decimal("0.0123")), (0.1, Decimal("0.1")), (2, Decimal(2)), ("0", Decimal(0))],
)
def test_parse_event_reads_reported_cost(value: object, expected: Decimal) -> None:
    assert parse(record(cost=value)).cost == expected


def test_parse_event_rejects_negative_cost() -> None:
    assert reason(record(cost_usd="-0.5")) == 'cost_usd must be >= 0, got "-0.5"'


@pytest.mark.parametrize("value", ["abc", "Infinity", True, [1], "1" * 100])
def test_parse_event_rejects_unreadable_cost(value: object) -> None:
    assert reason(record(cost=value)).startswith("cost must be an amount in USD, got")


def test_parse_event_derives_the_same_request_id_for_the_same_record() -> None:
    first = parse(record(request_id=None, tokens_in=5, extra={"b": 1, "a": 2}))
    again = parse({"extra": {"a": 2, "b": 1}, "tokens_in": 5, **record(request_id=None)})
    assert first.request_id == again.request_id
    assert first.request_id.startswith("h:")
    assert len(first.request_id) == 2 + 32


def test_parse_event_derives_different_request_ids_for_different_records() -> None:
    one = parse(record(request_id="", tokens_in=5))
    two = parse(record(request_id="", tokens_in=6))
    assert one.request_id != two.request_id


def test_parse_event_rejects_record_too_deep_to_derive_an_id() -> None:
    deep: object = 1
    for _ in range(300):
        deep = [deep]
    assert reason(record(request_id=None, deep=deep)).startswith(
        "no request_id, and cannot derive one"
    )


def test_parse_event_sets_the_source() -> None:
    assert parse_event(record(), source="otel").source == "otel"


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=5,
)


@settings(deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(FIELD_NAMES)) | st.text(max_size=8), JSON_VALUES))
def test_parse_event_raises_only_input_error(obj: dict[str, object]) -> None:
    try:
        event = parse(obj)
    except InputError:
        return
    assert event.ts.tzinfo is UTC
    assert event.cache_read_tokens + event.cache_write_tokens <= event.tokens_in
