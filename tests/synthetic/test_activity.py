"""The synthetic company: realistic shape, planted scenarios, billing, determinism."""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import astuple
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import numpy as np
import orjson
import pytest
from genai_prices import Usage, calc_price
from genai_prices.data_snapshot import get_snapshot

from bot.domain import CostLine, EventStatus, UsageEvent
from bot.ingest.fields import parse_event
from bot.providers import PROVIDERS
from bot.synthetic import (
    ActivitySpec,
    generate_cost_lines,
    generate_estimated_lines,
    generate_event_columns,
    generate_events,
    scenario,
    write_jsonl,
)
from bot.synthetic.catalog import BILLING_UPLIFT, FEATURES, MODELS, TEAMS, Model

SPEC = ActivitySpec(end=date(2026, 11, 22), days=28, events_per_day=1000, seed=11)
SMALL = ActivitySpec(end=date(2026, 11, 22), days=14, events_per_day=150, seed=3)


@pytest.fixture(scope="module")
def events() -> list[UsageEvent]:
    return list(generate_events(SPEC))


@pytest.fixture(scope="module")
def billed() -> list[CostLine]:
    return generate_cost_lines(SPEC)


def _per_day(events: list[UsageEvent], feature: str | None = None) -> Counter[date]:
    return Counter(e.ts.date() for e in events if feature in (None, e.feature))


def _full_days(spec: ActivitySpec) -> list[date]:
    return [spec.start + timedelta(days=k) for k in range(spec.days - 1)]


def _natural_key(line: CostLine) -> tuple[object, ...]:
    return astuple(line)[:10]  # source .. line_item


def test_generate_events_same_spec_same_output_and_seed_changes_it() -> None:
    first = list(generate_events(SMALL))
    assert first == list(generate_events(SMALL))
    reseeded = list(generate_events(ActivitySpec(end=SMALL.end, days=14, events_per_day=150)))
    assert [astuple(e)[2:] for e in first] != [astuple(e)[2:] for e in reseeded]


def test_generate_event_columns_match_the_stream_for_one_day(events: list[UsageEvent]) -> None:
    day = SPEC.start + timedelta(days=5)
    cols = generate_event_columns(SPEC, day)
    ours = [e for e in events if e.ts.date() == day]
    assert cols["request_id"].tolist() == [e.request_id for e in ours]
    assert cols["tokens_in"].tolist() == [e.tokens_in for e in ours]
    assert cols["ts"].astype(datetime).tolist() == [e.ts.replace(tzinfo=None) for e in ours]
    assert cols["status"].tolist() == [e.status for e in ours]


def test_generate_event_columns_rejects_a_day_outside_the_range() -> None:
    with pytest.raises(ValueError, match="outside"):
        generate_event_columns(SPEC, SPEC.end + timedelta(days=1))


def test_activity_spec_rejects_a_short_range() -> None:
    with pytest.raises(ValueError, match="at least"):
        ActivitySpec(end=date(2026, 11, 22), days=7)


def test_generate_events_weekdays_busier_than_weekends(events: list[UsageEvent]) -> None:
    counts = _per_day(events)
    weekday = [counts[d] for d in _full_days(SPEC) if d.weekday() < 5]
    weekend = [counts[d] for d in _full_days(SPEC) if d.weekday() >= 5]
    ratio = np.mean(weekend) / np.mean(weekday)
    assert 0.3 < ratio < 0.55


def test_generate_events_grow_over_the_range(events: list[UsageEvent]) -> None:
    counts = _per_day(events)
    days = _full_days(SPEC)
    assert sum(counts[d] for d in days[-7:]) > 1.1 * sum(counts[d] for d in days[:7])


def test_generate_events_launch_feature_absent_before_launch_day(events: list[UsageEvent]) -> None:
    plan = scenario(SPEC)
    counts = _per_day(events, plan.launch_feature)
    assert all(counts[d] == 0 for d in _full_days(SPEC) if d < plan.launch_day)
    assert all(counts[d] > 0 for d in _full_days(SPEC) if d >= plan.launch_day)
    assert counts[plan.launch_day + timedelta(days=3)] > 2 * counts[plan.launch_day]


def test_generate_events_runaway_hours_ten_times_prior_week(events: list[UsageEvent]) -> None:
    plan = scenario(SPEC)
    first, last = plan.runaway_hours

    def volume(day: date) -> int:
        return sum(
            1
            for e in events
            if e.feature == plan.runaway_feature
            and e.ts.date() == day
            and first <= e.ts.hour < last
        )

    assert last - first == 6
    assert SPEC.end - timedelta(days=4) <= plan.runaway_day <= SPEC.end - timedelta(days=2)
    assert 6 < volume(plan.runaway_day) / volume(plan.runaway_day - timedelta(days=7)) < 18


def test_generate_events_unpriced_model_has_a_small_share_and_no_price(
    events: list[UsageEvent],
) -> None:
    plan = scenario(SPEC)
    share = sum(e.model == plan.unpriced_model for e in events) / len(events)
    assert 0.01 < share < 0.06
    provider = next(e.provider for e in events if e.model == plan.unpriced_model)
    with pytest.raises(LookupError):
        get_snapshot().find_provider_model(
            plan.unpriced_model, None, PROVIDERS[provider].prices_id, None
        )


@pytest.mark.parametrize("model", [m for m in MODELS if m.negotiated_mtok is None])
def test_catalog_priced_models_known_to_genai_prices(model: Model) -> None:
    get_snapshot().find_provider_model(model.name, None, PROVIDERS[model.provider].prices_id, None)


def test_catalog_features_owned_by_teams_with_one_to_three_models() -> None:
    teams = {t.name for t in TEAMS}
    assert all(f.team in teams and 1 <= len(f.models) <= 3 for f in FEATURES)


def test_generate_events_late_day_comes_last_otherwise_time_order(events: list[UsageEvent]) -> None:
    plan = scenario(SPEC)
    late = sum(e.ts.date() == plan.late_day for e in events)
    assert late > 0
    assert all(e.ts.date() == plan.late_day for e in events[-late:])
    head = [e.ts for e in events[:-late]]
    assert head == sorted(head)
    assert [e.ts for e in events[-late:]] == sorted(e.ts for e in events[-late:])


def test_generate_events_token_invariants(events: list[UsageEvent]) -> None:
    for e in events:
        assert min(e.tokens_in, e.tokens_out, e.cache_read_tokens, e.cache_write_tokens) >= 0
        assert e.cache_read_tokens + e.cache_write_tokens <= e.tokens_in
    embeddings = [e for e in events if e.model == "text-embedding-3-small"]
    assert embeddings
    assert all(e.tokens_out == 0 for e in embeddings)


def test_generate_events_anthropic_chat_mostly_cache_reads(events: list[UsageEvent]) -> None:
    chat = [e for e in events if e.feature == "assistant-chat" and e.provider == "anthropic"]
    tokens_in = sum(e.tokens_in for e in chat)
    assert sum(e.cache_read_tokens for e in chat) > 0.5 * tokens_in
    assert 0 < sum(e.cache_write_tokens for e in chat) < 0.2 * tokens_in


def test_generate_events_timestamps_aware_utc_inside_the_range(events: list[UsageEvent]) -> None:
    assert all(e.ts.utcoffset() == timedelta(0) for e in events)
    assert all(SPEC.start <= e.ts.date() <= SPEC.end for e in events)
    today = [e for e in events if e.ts.date() == SPEC.end]
    assert today
    assert max(e.ts.hour for e in today) < SPEC.now_hour


def test_generate_events_request_ids_unique(events: list[UsageEvent]) -> None:
    assert len({e.request_id for e in events}) == len(events)


def test_generate_events_rare_errors_with_small_tokens(events: list[UsageEvent]) -> None:
    errors = [e for e in events if e.status is EventStatus.ERROR]
    assert 0.005 < len(errors) / len(events) < 0.02
    assert all(e.tokens_out == 0 for e in errors)


def test_generate_events_mix_tiers_batch_and_latency(events: list[UsageEvent]) -> None:
    tiers = Counter(e.service_tier for e in events if e.provider == "openai")
    assert {"default", "flex", "priority"} <= set(tiers)
    assert any(e.batch for e in events)
    assert all(e.latency_ms is not None and e.latency_ms > 0 for e in events)


def test_generate_cost_lines_none_for_the_last_day(billed: list[CostLine]) -> None:
    days = {line.bucket_start.date() for line in billed}
    assert days == set(_full_days(SPEC))
    assert all(line.source == f"{line.provider}.costs" and line.cost for line in billed)


def test_generate_cost_lines_exceed_what_apps_report(
    events: list[UsageEvent], billed: list[CostLine]
) -> None:
    day = SPEC.start + timedelta(days=3)
    for provider, uplift in BILLING_UPLIFT.items():
        reported = sum(e.tokens_in for e in events if e.provider == provider and e.ts.date() == day)
        billed_in = sum(
            x.tokens_in for x in billed if x.provider == provider and x.bucket_start.date() == day
        )
        assert reported * (uplift - 0.01) <= billed_in <= reported * uplift


def test_generate_cost_lines_list_price_of_the_summed_usage(billed: list[CostLine]) -> None:
    line = next(x for x in billed if x.model == "gpt-5-mini" and not x.batch)
    usage = Usage(
        input_tokens=line.tokens_in,
        output_tokens=line.tokens_out,
        cache_read_tokens=line.cache_read_tokens,
    )
    at = datetime.combine(line.bucket_start.date(), time(12), UTC)
    context = {"service_tier": line.service_tier}
    expected = calc_price(
        usage, "gpt-5-mini", provider_id="openai", genai_request_timestamp=at, price_context=context
    )
    assert line.cost == expected.total_price


def test_generate_cost_lines_unpriced_model_billed_at_negotiated_rate(
    billed: list[CostLine],
) -> None:
    ranker = [x for x in billed if x.model == scenario(SPEC).unpriced_model]
    assert ranker
    assert all(x.cost is not None and x.cost > 0 for x in ranker)


def test_generate_cost_lines_revision_restates_last_three_days_only(billed: list[CostLine]) -> None:
    before = {_natural_key(x): x for x in billed}
    after = {_natural_key(x): x for x in generate_cost_lines(SPEC, revision=1)}
    restated = SPEC.end - timedelta(days=3)
    new = set(after) - set(before)
    assert not set(before) - set(after)
    assert len(new) == 1
    assert after[new.pop()].bucket_start.date() >= restated
    for key, old in before.items():
        if old.bucket_start.date() < restated:
            assert after[key] == old
        else:
            new_cost, old_cost = after[key].cost, old.cost
            assert new_cost is not None
            assert old_cost is not None
            change = abs(new_cost / old_cost - 1)
            assert Decimal("0.019") < change < Decimal("0.061")
            assert after[key].tokens_in == old.tokens_in


def test_generate_estimated_lines_hourly_for_today_before_now(events: list[UsageEvent]) -> None:
    lines = generate_estimated_lines(SPEC)
    assert lines
    for line in lines:
        assert line.bucket_start.date() == SPEC.end
        assert line.bucket_start.hour < SPEC.now_hour
        assert (line.bucket_hours, line.estimated, line.cost) == (1, True, None)
        assert line.source == f"{line.provider}.usage"
    reported = sum(e.ts.date() == SPEC.end for e in events)
    assert reported <= sum(x.requests for x in lines) <= reported * 1.2


def test_scenario_plants_launch_runaway_and_late_day() -> None:
    plan = scenario(ActivitySpec(end=date(2026, 11, 22)))
    assert plan.launch_day == date(2026, 11, 9)
    assert plan.late_day == date(2026, 11, 21)
    assert plan.runaway_day.weekday() < 5
    assert plan.launch_feature != plan.runaway_feature


def test_write_jsonl_round_trips_through_the_ingest_parser() -> None:
    sample = list(generate_events(SMALL))[:500]
    stream = io.BytesIO()
    assert write_jsonl(sample, stream) == len(sample)
    rows = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    assert all("source" not in r and "cost" not in r for r in rows)  # as an app would send
    assert [parse_event(r, source=sample[0].source) for r in rows] == sample
