"""Incidents and their events: written by the detect job, read by `aispend alerts` and (with
the Slack issue) the notifier. Also the detector's and budgets' state between runs, as JSON.

An incident's identity is (kind, cadence, series_key, opened_at); every change to it appends
an incident_event, so what was said, and when, is never lost.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, RowMapping, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from bot.analysis.budgets import BudgetAlert, BudgetState
from bot.analysis.detector import (
    Feedback,
    FeedbackKind,
    IncidentKind,
    IncidentState,
    SeriesState,
)
from bot.analysis.series import SeriesKey
from bot.errors import UsageError
from bot.store.models import DetectorStateRow, Incident, IncidentEvent, table_of

_INCIDENT = table_of(Incident)
_EVENT = table_of(IncidentEvent)
_STATE = table_of(DetectorStateRow)

OPEN, RESOLVED = "open", "resolved"


def encode_key(key: Sequence[str]) -> str:
    return json.dumps(list(key), ensure_ascii=False, separators=(",", ":"))


def decode_key(text: str) -> tuple[str, ...]:
    return tuple(json.loads(text))


@dataclass(frozen=True, slots=True)
class Change:
    """One thing to record about one incident."""

    kind: str
    cadence: str
    key: tuple[str, ...]
    opened_at: datetime
    action: str  # open | update | escalate | resolve
    severity: str
    summary: str
    why: str = ""
    team: str = ""
    bucket: datetime | None = None
    observed: Decimal | None = None
    expected: Decimal | None = None
    impact_so_far: Decimal | None = None
    projected_impact: Decimal | None = None
    peak_ratio: float | None = None
    reason: str = ""  # on resolve


@dataclass(frozen=True, slots=True)
class IncidentView:
    id: int
    kind: str
    cadence: str
    key: tuple[str, ...]
    opened_at: datetime
    status: str
    severity: str
    summary: str
    why: str
    team: str
    updated_at: datetime
    projected_impact: Decimal | None
    feedback: str
    observed: Decimal | None = None
    handled: str = ""  # the first press on its Slack root
    handled_by: str = ""
    handled_at: datetime | None = None
    handled_until: datetime | None = None


def record(connection: Connection, changes: Iterable[Change], at: datetime) -> int:
    """Apply each change: open (or find) the incident, update it, append its event."""
    count = 0
    for change in changes:
        incident_id, created = _upsert(connection, change, at)
        # the first thing said of an incident opens it, even when the detector first sees
        # it mid-episode (a first run, or a series it had no state for)
        action = "open" if created and change.action in ("update", "escalate") else change.action
        connection.execute(
            insert(_EVENT).values(
                incident_id=incident_id,
                at=at,
                bucket=change.bucket,
                action=action,
                severity=change.severity,
                summary=change.summary,
            )
        )
        count += 1
    return count


def _upsert(connection: Connection, change: Change, at: datetime) -> tuple[int, bool]:
    """The incident's id, and whether this change created it."""
    identity = (
        (_INCIDENT.c.kind == change.kind)
        & (_INCIDENT.c.cadence == change.cadence)
        & (_INCIDENT.c.series_key == encode_key(change.key))
        & (_INCIDENT.c.opened_at == change.opened_at)
    )
    found = connection.execute(select(_INCIDENT.c.id).where(identity)).scalar_one_or_none()
    resolved = change.action == "resolve"
    values: dict[str, Any] = {"updated_at": at, "status": RESOLVED if resolved else OPEN}
    if not resolved or found is None:  # a resolution is an event; the incident keeps what it was
        values |= {"severity": change.severity, "summary": change.summary}
    if change.why:
        values["why"] = change.why
    if change.team:
        values["team"] = change.team
    for name in ("observed", "expected", "impact_so_far", "projected_impact", "peak_ratio"):
        if getattr(change, name) is not None:
            values[name] = getattr(change, name)
    if resolved:
        values |= {"resolved_at": at, "resolve_reason": change.reason}
    if found is not None:
        connection.execute(update(_INCIDENT).where(_INCIDENT.c.id == found).values(**values))
        return int(found), False
    values |= {
        "kind": change.kind,
        "cadence": change.cadence,
        "series_key": encode_key(change.key),
        "opened_at": change.opened_at,
        "why": change.why,
        "team": change.team,
    }
    created = connection.execute(insert(_INCIDENT).values(**values)).inserted_primary_key
    assert created is not None
    return int(created[0]), True


def open_incidents(
    connection: Connection, *, kinds: Iterable[str] | None = None
) -> list[IncidentView]:
    """Open incidents, most projected impact first."""
    statement = select(_INCIDENT).where(_INCIDENT.c.status == OPEN)
    if kinds is not None:
        statement = statement.where(_INCIDENT.c.kind.in_(list(kinds)))
    views = [_view(row) for row in connection.execute(statement).mappings()]
    return sorted(views, key=lambda v: (-(v.projected_impact or Decimal(0)), v.id))


def incidents_since(connection: Connection, since: datetime) -> list[IncidentView]:
    """Every incident opened since `since`, open or not, oldest first."""
    statement = (
        select(_INCIDENT)
        .where(_INCIDENT.c.opened_at >= since)
        .order_by(_INCIDENT.c.opened_at, _INCIDENT.c.id)
    )
    return [_view(row) for row in connection.execute(statement).mappings()]


def get_incident(connection: Connection, incident_id: int) -> IncidentView | None:
    row = connection.execute(select(_INCIDENT).where(_INCIDENT.c.id == incident_id)).mappings()
    found = row.one_or_none()
    return None if found is None else _view(found)


def last_buckets(connection: Connection, incident_ids: Sequence[int]) -> dict[int, datetime]:
    """The bucket each incident last spoke of (its latest event that names one)."""
    if not incident_ids:
        return {}
    rows = connection.execute(
        select(_EVENT.c.incident_id, _EVENT.c.bucket)
        .where(_EVENT.c.incident_id.in_(list(incident_ids)), _EVENT.c.bucket.is_not(None))
        .order_by(_EVENT.c.id)
    )
    return {int(row.incident_id): row.bucket for row in rows}


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    id: int
    incident_id: int
    at: datetime
    action: str
    severity: str
    summary: str


def events_since(connection: Connection, since: datetime) -> list[RecordedEvent]:
    """Every incident event recorded since `since`, in the order they were recorded."""
    rows = connection.execute(
        select(_EVENT).where(_EVENT.c.at >= since).order_by(_EVENT.c.id)
    ).mappings()
    return [
        RecordedEvent(r["id"], r["incident_id"], r["at"], r["action"], r["severity"], r["summary"])
        for r in rows
    ]


def incident_events(connection: Connection, incident_id: int) -> list[tuple[datetime, str, str]]:
    """(recorded at, action, summary) of one incident, oldest first."""
    rows = connection.execute(
        select(_EVENT.c.at, _EVENT.c.action, _EVENT.c.summary)
        .where(_EVENT.c.incident_id == incident_id)
        .order_by(_EVENT.c.id)
    )
    return [(r.at, r.action, r.summary) for r in rows]


def _view(row: RowMapping) -> IncidentView:
    return IncidentView(
        id=row["id"],
        kind=row["kind"],
        cadence=row["cadence"],
        key=decode_key(row["series_key"]),
        opened_at=row["opened_at"],
        status=row["status"],
        severity=row["severity"],
        summary=row["summary"],
        why=row["why"],
        team=row["team"],
        updated_at=row["updated_at"],
        projected_impact=row["projected_impact"],
        feedback=row["feedback"],
        observed=row["observed"],
        handled=row["handled"],
        handled_by=row["handled_by"],
        handled_at=row["handled_at"],
        handled_until=row["handled_until"],
    )


def give_feedback(
    connection: Connection, incident_id: int, kind: FeedbackKind, by: str, at: datetime
) -> IncidentView:
    """Mark a detector incident expected or not an anomaly; the detector's state for its
    series learns it, so the next run stays quiet at that level. A second press changes
    nothing."""
    incident = get_incident(connection, incident_id)
    if incident is None:
        raise UsageError(f"no incident {incident_id}")
    if incident.cadence not in ("daily", "hourly"):
        raise UsageError(f"incident {incident_id} is a {incident.kind} alert, not a spend spike")
    if incident.feedback == kind.value:
        return incident
    states = load_states(connection, incident.cadence)
    state = states.get(incident.key, SeriesState())
    note = Feedback(kind, incident.opened_at, at)
    save_states(
        connection,
        incident.cadence,
        {
            incident.key: SeriesState(
                state.evaluated_through, state.incident, state.closed_at, (*state.feedback, note)
            )
        },
        at,
    )
    connection.execute(
        update(_INCIDENT)
        .where(_INCIDENT.c.id == incident_id)
        .values(feedback=kind.value, feedback_by=by, feedback_at=at, updated_at=at)
    )
    _press(connection, incident, at, f"{by or 'someone'} marked it {kind.value.replace('_', ' ')}")
    found = get_incident(connection, incident_id)
    assert found is not None
    return found


def _press(connection: Connection, incident: IncidentView, at: datetime, summary: str) -> None:
    """Append a press on the incident's Slack root to its events."""
    connection.execute(
        insert(_EVENT).values(
            incident_id=incident.id,
            at=at,
            action="feedback",
            severity=incident.severity,
            summary=summary,
        )
    )


FEEDBACK_PRESSES = {"expected": FeedbackKind.EXPECTED, "not_anomaly": FeedbackKind.NOT_ANOMALY}


def handle(
    connection: Connection,
    incident_id: int,
    how: str,
    by: str,
    at: datetime,
    until: datetime | None = None,
) -> tuple[IncidentView, bool]:
    """Record a press on the incident's Slack root. The first press wins: a later one (the
    same button twice, or another) changes nothing and returns False. Expected and not an
    anomaly also teach the detector, as `give_feedback` does."""
    incident = get_incident(connection, incident_id)
    if incident is None:
        raise UsageError(f"no incident {incident_id}")
    if incident.handled:
        return incident, False
    if how in FEEDBACK_PRESSES and incident.cadence in ("daily", "hourly"):
        give_feedback(connection, incident_id, FEEDBACK_PRESSES[how], by, at)
    else:
        _press(connection, incident, at, f"{by or 'someone'} {how.replace('_', ' ')}")
    connection.execute(
        update(_INCIDENT)
        .where(_INCIDENT.c.id == incident_id)
        .values(handled=how, handled_by=by, handled_at=at, handled_until=until, updated_at=at)
    )
    found = get_incident(connection, incident_id)
    assert found is not None
    return found, True


def load_states(connection: Connection, cadence: str) -> dict[SeriesKey, SeriesState]:
    rows = connection.execute(
        select(_STATE.c.series_key, _STATE.c.state).where(_STATE.c.cadence == cadence)
    )
    return {decode_key(key): state_from_json(json.loads(text)) for key, text in rows}


def save_states(
    connection: Connection, cadence: str, states: Mapping[SeriesKey, SeriesState], at: datetime
) -> None:
    _save(connection, cadence, {k: state_to_json(s) for k, s in states.items()}, at)


def load_budget_states(connection: Connection) -> dict[str, BudgetState]:
    rows = connection.execute(
        select(_STATE.c.series_key, _STATE.c.state).where(_STATE.c.cadence == "budget")
    )
    return {key: _budget_from_json(json.loads(text)) for key, text in rows}


def save_budget_states(
    connection: Connection, states: Mapping[str, BudgetState], at: datetime
) -> None:
    _save(connection, "budget", {(k,): _budget_to_json(s) for k, s in states.items()}, at, raw=True)


def _save(
    connection: Connection,
    cadence: str,
    states: Mapping[tuple[str, ...], dict[str, Any]],
    at: datetime,
    *,
    raw: bool = False,
) -> None:
    if not states:
        return
    dialect_insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    rows = [
        {
            "cadence": cadence,
            "series_key": key[0] if raw else encode_key(key),
            "state": json.dumps(state, separators=(",", ":")),
            "updated_at": at,
        }
        for key, state in states.items()
    ]
    statement = dialect_insert(_STATE)
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=["cadence", "series_key"],
            set_={"state": statement.excluded.state, "updated_at": statement.excluded.updated_at},
        ),
        rows,
    )


def state_to_json(state: SeriesState) -> dict[str, Any]:
    incident = state.incident
    return {
        "through": _moment(state.evaluated_through),
        "closed": _moment(state.closed_at),
        "incident": None
        if incident is None
        else {
            "opened": incident.opened_at.isoformat(),
            "kind": incident.kind.value,
            "announced": incident.announced,
            "last_ratio": incident.last_announced_ratio,
            "peak": incident.peak_ratio,
            "impact": str(incident.impact_so_far),
        },
        "feedback": [
            [f.kind.value, f.incident_opened_at.isoformat(), f.given_at.isoformat()]
            for f in state.feedback
        ],
        "checkpoint": state.checkpoint,
    }


def state_from_json(data: Mapping[str, Any]) -> SeriesState:
    raw = data["incident"]
    incident = (
        None
        if raw is None
        else IncidentState(
            datetime.fromisoformat(raw["opened"]),
            IncidentKind(raw["kind"]),
            bool(raw["announced"]),
            float(raw["last_ratio"]),
            float(raw["peak"]),
            Decimal(raw["impact"]),
        )
    )
    feedback = tuple(
        Feedback(FeedbackKind(kind), datetime.fromisoformat(opened), datetime.fromisoformat(given))
        for kind, opened, given in data["feedback"]
    )
    return SeriesState(
        _parsed(data["through"]),
        incident,
        _parsed(data["closed"]),
        feedback,
        data.get("checkpoint"),  # absent from states kept before checkpoints: a full replay
    )


def _budget_to_json(state: BudgetState) -> dict[str, Any]:
    return {
        "month": state.month.isoformat(),
        "announced": sorted(state.announced),
        "over": state.over_in_a_row,
        "warning": state.warning_open,
        "alert": state.alert_announced.value,
    }


def _budget_from_json(data: Mapping[str, Any]) -> BudgetState:
    return BudgetState(
        date.fromisoformat(data["month"]),
        frozenset(int(t) for t in data["announced"]),
        int(data["over"]),
        bool(data["warning"]),
        BudgetAlert(data["alert"]),
    )


def _moment(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _parsed(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def note_press(connection: Connection, incident_id: int, at: datetime, summary: str) -> None:
    """Append a press that changes nothing about the incident to its events, as `handle`
    records presses (action "feedback"): e.g. a request to pause a key, which the bot cannot
    carry out yet."""
    incident = get_incident(connection, incident_id)
    if incident is None:
        raise UsageError(f"no incident {incident_id}")
    _press(connection, incident, at, summary)
