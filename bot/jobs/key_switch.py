"""Switching an api key off (pause) or back on at its provider, from an alert's root or the
command line: the provider is called first; only when it confirms is the switch recorded, and
then, in one transaction, the switch, a note on the incident, a reply in its thread and the
root redrawn with the button that switches it back."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from sqlalchemy import Engine

from bot.clock import Clock
from bot.collectors import COLLECTORS, key_switching_providers
from bot.collectors.base import SwitchesKeys
from bot.collectors.http import make_http_client
from bot.config import Settings, TeamFile
from bot.credentials import with_stored_keys
from bot.domain import KeySwitch
from bot.errors import UsageError
from bot.jobs.alerting import key_control, root_key, root_message
from bot.slack.incidents import key_reply
from bot.store.incidents import get_incident, note_press
from bot.store.key_switches import record_switch
from bot.store.outbox import Outgoing, enqueue


@dataclass(frozen=True)
class KeySwitcher:
    """What switching a key needs: the store, the settings holding provider keys, the team
    file (to redraw an alert's root) and the clock."""

    engine: Engine
    settings: Settings
    team_file: TeamFile
    clock: Clock

    def switch_for_incident(self, incident_id: int, *, active: bool, by: str) -> KeySwitch:
        """Pause (or resume) the key alert #`incident_id` is about."""
        with self.engine.connect() as connection:
            incident = get_incident(connection, incident_id)
            control = None if incident is None else key_control(connection, incident)
        if incident is None:
            raise UsageError(f"no incident {incident_id}")
        if control is None:
            raise UsageError(f"alert #{incident_id} is not about a key aispend can pause")
        return self.switch(
            control.provider, control.api_key, active=active, by=by, incident_id=incident_id
        )

    def switch(
        self,
        provider: str,
        api_key: str,
        *,
        active: bool,
        by: str,
        incident_id: int | None = None,
        http: httpx.Client | None = None,
    ) -> KeySwitch:
        """Switch the key at its provider, then record it; raises UsageError when the
        provider cannot switch keys or has no admin key, CollectorError when it refuses."""
        if http is None:
            with make_http_client() as own:
                return self.switch(
                    provider, api_key, active=active, by=by, incident_id=incident_id, http=own
                )
        self._switcher(provider, http).set_key_active(api_key, active)
        switch = KeySwitch(provider, api_key, active, by, self.clock.now(), incident_id)
        self._record(switch)
        return switch

    def _switcher(self, provider: str, http: httpx.Client) -> SwitchesKeys:
        if provider not in key_switching_providers():
            able = ", ".join(sorted(key_switching_providers()))
            raise UsageError(
                f"{provider}'s API cannot switch keys off; pause or rotate the key in its "
                f"console (aispend can for: {able})"
            )
        entry = COLLECTORS[provider]
        with self.engine.connect() as connection:
            settings = with_stored_keys(self.settings, connection)
        collector = entry.build(settings, http, None)
        if collector is None:
            raise UsageError(
                f"no {provider} admin key: set {entry.key_setting.upper()} or store one with "
                f"`aispend credentials set {provider}`"
            )
        assert isinstance(collector, SwitchesKeys)
        return collector

    def _record(self, switch: KeySwitch) -> None:
        did = "resumed" if switch.active else "paused"
        with self.engine.begin() as connection:
            record_switch(connection, switch)
            if switch.incident_id is None:
                return
            incident = get_incident(connection, switch.incident_id)
            assert incident is not None
            note_press(connection, incident.id, switch.at, f"{switch.by} {did} the key")
            control = key_control(connection, incident)
            assert control is not None
            root = root_key(incident.id)
            moment = switch.at.isoformat()
            reply = key_reply(incident, control.name, switch)
            redrawn = root_message(incident, self.team_file, control)
            enqueue(
                connection,
                [
                    Outgoing(f"{root}:key:{did}:{moment}", "reply", "", reply.payload(), root),
                    Outgoing(
                        f"{root}:key:{did}:{moment}:root", "update", "", redrawn.payload(), root
                    ),
                ],
                switch.at,
            )
