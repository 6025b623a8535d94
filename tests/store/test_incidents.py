"""The incident store: changes open, update and resolve incidents and keep every event;
detector state and feedback survive a round trip through JSON."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine

from bot.analysis.budgets import BudgetAlert, BudgetState
from bot.analysis.detector import (
    Feedback,
    FeedbackKind,
    IncidentKind,
    IncidentState,
    SeriesState,
)
from bot.errors import UsageError
from bot.store.incidents import (
    Change,
    give_feedback,
    incident_events,
    incidents_since,
    load_budget_states,
    load_states,
    open_incidents,
    record,
    save_budget_states,
    save_states,
    state_from_json,
    state_to_json,
)

NOW = datetime(2026, 11, 20, 7, tzinfo=UTC)
KEY = ("model", "provider:openai", "model:gpt-5")


def _change(action: str, **fields: object) -> Change:
    values: dict[str, object] = {
        "kind": "spike",
        "cadence": "daily",
        "key": KEY,
        "opened_at": NOW - timedelta(days=1),
        "action": action,
        "severity": "warning",
        "summary": f"gpt-5 {action}",
    }
    values.update(fields)
    return Change(**values)  # type: ignore[arg-type]


def test_changes_open_update_and_resolve_one_incident(engine: Engine) -> None:
    with engine.begin() as connection:
        record(connection, [_change("open", projected_impact=Decimal("120.50"))], NOW)
        record(connection, [_change("escalate", severity="critical")], NOW + timedelta(hours=1))
        (incident,) = open_incidents(connection)
        assert (incident.severity, incident.summary) == ("critical", "gpt-5 escalate")
        assert incident.projected_impact == Decimal("120.50")
        record(connection, [_change("resolve", severity="info", reason="recovered")], NOW)
        assert open_incidents(connection) == []
        (kept,) = incidents_since(connection, NOW - timedelta(days=2))
        events = incident_events(connection, kept.id)
    assert [action for _, action, _ in events] == ["open", "escalate", "resolve"]
    assert kept.status == "resolved"
    assert kept.summary == "gpt-5 escalate"  # a resolution does not overwrite what it was


def test_the_first_word_on_an_unknown_incident_opens_it(engine: Engine) -> None:
    with engine.begin() as connection:
        record(connection, [_change("update")], NOW)
        (incident,) = open_incidents(connection)
        assert [a for _, a, _ in incident_events(connection, incident.id)] == ["open"]


def test_series_state_round_trips_through_json() -> None:
    opened = NOW - timedelta(days=2)
    state = SeriesState(
        NOW,
        IncidentState(opened, IncidentKind.SPIKE, True, 3.5, 7.25, Decimal("42.10")),
        None,
        (Feedback(FeedbackKind.EXPECTED, opened, NOW),),
        "000000000000f87f" * 4,  # the detector's checkpoint: opaque text
    )
    assert state_from_json(json.loads(json.dumps(state_to_json(state)))) == state
    assert state_from_json(state_to_json(SeriesState())) == SeriesState()
    kept_before_checkpoints = state_to_json(state)
    del kept_before_checkpoints["checkpoint"]
    without = SeriesState(state.evaluated_through, state.incident, state.closed_at, state.feedback)
    assert state_from_json(kept_before_checkpoints) == without


def test_states_and_budget_states_are_kept_per_cadence(engine: Engine) -> None:
    budget = BudgetState(date(2026, 11, 1), frozenset({50, 80}), 2, True, BudgetAlert.WARNING)
    with engine.begin() as connection:
        save_states(connection, "daily", {KEY: SeriesState(NOW)}, NOW)
        save_states(connection, "daily", {KEY: SeriesState(NOW + timedelta(days=1))}, NOW)
        save_budget_states(connection, {"team growth": budget}, NOW)
    with engine.connect() as connection:
        assert load_states(connection, "daily") == {KEY: SeriesState(NOW + timedelta(days=1))}
        assert load_states(connection, "hourly") == {}
        assert load_budget_states(connection) == {"team growth": budget}


def test_feedback_reaches_the_detector_state_once(engine: Engine) -> None:
    with engine.begin() as connection:
        record(connection, [_change("open")], NOW)
        (incident,) = open_incidents(connection)
        give_feedback(connection, incident.id, FeedbackKind.EXPECTED, "maya", NOW)
        again = give_feedback(connection, incident.id, FeedbackKind.EXPECTED, "maya", NOW)
        state = load_states(connection, "daily")[KEY]
        events = incident_events(connection, incident.id)
    assert again.feedback == "expected"
    assert [f.kind for f in state.feedback] == [FeedbackKind.EXPECTED]
    assert [a for _, a, _ in events] == ["open", "feedback"]  # the second press changed nothing


def test_feedback_on_a_missing_or_non_spike_incident_is_refused(engine: Engine) -> None:
    with engine.begin() as connection:
        record(connection, [_change("open", kind="unowned", cadence="")], NOW)
        (incident,) = open_incidents(connection)
        with pytest.raises(UsageError, match="not a spend spike"):
            give_feedback(connection, incident.id, FeedbackKind.EXPECTED, "", NOW)
        with pytest.raises(UsageError, match="no incident 999"):
            give_feedback(connection, 999, FeedbackKind.EXPECTED, "", NOW)


def test_the_first_press_wins_and_expected_teaches_the_detector(engine: Engine) -> None:
    from bot.store.incidents import handle

    with engine.begin() as connection:
        record(connection, [_change("open")], NOW)
        (incident,) = open_incidents(connection)
        pressed, changed = handle(connection, incident.id, "expected", "U1", NOW)
        again, changed_again = handle(connection, incident.id, "acknowledged", "U2", NOW)
        state = load_states(connection, "daily")[KEY]
        actions = [a for _, a, _ in incident_events(connection, incident.id)]
    assert (changed, changed_again) == (True, False)
    assert (pressed.handled, pressed.handled_by, pressed.feedback) == ("expected", "U1", "expected")
    assert (again.handled, again.handled_by) == ("expected", "U1")
    assert [f.kind for f in state.feedback] == [FeedbackKind.EXPECTED]
    assert actions == ["open", "feedback"]


def test_an_acknowledgement_is_recorded_on_any_alert(engine: Engine) -> None:
    from bot.store.incidents import handle

    until = NOW + timedelta(hours=24)
    with engine.begin() as connection:
        record(connection, [_change("open", kind="stale_source", cadence="")], NOW)
        (incident,) = open_incidents(connection)
        snoozed, _ = handle(connection, incident.id, "snoozed", "U3", NOW, until)
        assert load_states(connection, "") == {}
    assert (snoozed.handled, snoozed.handled_until) == ("snoozed", until)
