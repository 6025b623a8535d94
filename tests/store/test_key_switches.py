"""Key switches on both databases: every switch kept, the newest one per key wins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.domain import KeySwitch
from bot.store.key_switches import latest_switches, paused_keys, record_switch

T0 = datetime(2026, 11, 18, 9, tzinfo=UTC)


def test_the_newest_switch_of_each_key_is_its_state(engine):
    switches = [
        KeySwitch("anthropic", "apikey_a", False, "U1", T0, 7),
        KeySwitch("anthropic", "apikey_b", False, "U2", T0 + timedelta(minutes=1)),
        KeySwitch("anthropic", "apikey_a", True, "U3", T0 + timedelta(hours=1), 7),
        KeySwitch("other", "apikey_a", False, "U4", T0 + timedelta(hours=2)),
    ]
    with engine.begin() as connection:
        for switch in switches:
            record_switch(connection, switch)
    with engine.connect() as connection:
        latest = latest_switches(connection)
        some = latest_switches(connection, [("anthropic", "apikey_a")])
        none = latest_switches(connection, [])
        paused = paused_keys(connection)
    assert latest == {
        ("anthropic", "apikey_a"): switches[2],
        ("anthropic", "apikey_b"): switches[1],
        ("other", "apikey_a"): switches[3],
    }
    assert some == {("anthropic", "apikey_a"): switches[2]}
    assert none == {}
    assert paused == [switches[1], switches[3]]  # oldest first; apikey_a was resumed
    assert latest[("anthropic", "apikey_a")].at.tzinfo is not None
