"""The leader lease on SQLite and PostgreSQL: one holder at a time, renewals, expiry and
release; and a race of many processes' worth of threads for a free lease, which one wins.
Time comes from an injected clock."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from bot.clock import FixedClock
from bot.runtime.lease import Leadership, current_holder, release, try_acquire
from bot.store.db import make_engine
from tests.slack.test_notifier import SteppingClock

T0 = datetime(2026, 11, 20, 9, tzinfo=UTC)
TTL = timedelta(seconds=30)


def _take(engine: Engine, holder: str, at: datetime, name: str = "scheduler") -> bool:
    with engine.begin() as connection:
        return try_acquire(connection, name, holder, at, TTL)


def _holder(engine: Engine, name: str = "scheduler") -> str | None:
    with engine.connect() as connection:
        return current_holder(connection, name)


def test_one_holder_at_a_time_and_renewals_keep_it(engine):
    assert _take(engine, "a", T0)
    assert not _take(engine, "b", T0 + timedelta(seconds=1))
    assert _take(engine, "a", T0 + timedelta(seconds=20))  # renewed: now good until +50 s
    assert not _take(engine, "b", T0 + timedelta(seconds=40))
    assert _holder(engine) == "a"
    assert _take(engine, "x", T0, name="other")  # leases by other names are apart


def test_an_expired_lease_goes_to_the_next_one_who_asks(engine):
    assert _take(engine, "a", T0)
    assert not _take(engine, "b", T0 + TTL - timedelta(seconds=1))
    assert _take(engine, "b", T0 + TTL)
    assert not _take(engine, "a", T0 + TTL + timedelta(seconds=1))  # a lost it for good
    assert _holder(engine) == "b"


def test_a_released_lease_is_free_at_once(engine):
    assert _take(engine, "a", T0)
    with engine.begin() as connection:
        assert not release(connection, "scheduler", "b", T0)  # not b's to give
        assert release(connection, "scheduler", "a", T0 + timedelta(seconds=5))
    assert _take(engine, "b", T0 + timedelta(seconds=5))


def test_of_many_racing_for_a_free_lease_exactly_one_wins(engine):
    racers = 8
    barrier = threading.Barrier(racers)
    won: list[str] = []

    def race(holder: str) -> None:
        barrier.wait()
        if _take(engine, holder, T0):
            won.append(holder)

    threads = [threading.Thread(target=race, args=(f"r{n}",)) for n in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1
    assert _holder(engine) == won[0]


def test_leadership_takes_over_when_the_leader_stops_renewing(engine):
    clock = SteppingClock(T0)
    changes: list[bool] = []
    first = Leadership(engine, clock, ttl=30, holder="first")
    second = Leadership(engine, clock, ttl=30, holder="second", on_change=changes.append)
    assert first.check()
    assert not second.check()
    clock.advance(29)
    assert not second.check()
    clock.advance(1)  # the first died 30 s ago: it never renewed
    assert second.check()
    assert second.held
    assert not first.check()
    assert changes == [True]


def test_a_stopped_leadership_gives_the_lease_up_and_never_takes_it_again(engine):
    clock = SteppingClock(T0)
    first = Leadership(engine, clock, ttl=30, holder="first")
    second = Leadership(engine, clock, ttl=30, holder="second")
    first.start()
    assert first.held
    first.stop()
    assert not first.held
    assert second.check()  # at once: no wait for expiry
    clock.advance(60)
    assert not first.check()


def test_a_store_that_cannot_be_reached_means_not_the_leader(caplog):
    gone = make_engine("postgresql://postgres@127.0.0.1:9/aispend_nowhere")
    leadership = Leadership(gone, FixedClock(T0), holder="lonely")
    assert not leadership.check()
    assert "cannot renew the leader lease" in caplog.text
    gone.dispose()
