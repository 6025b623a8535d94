"""The App Home tab, drawn afresh from the store each time someone opens it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.slack.home import home_view
from bot.slack.listeners.context import AppContext
from bot.slack.listeners.gather import home_data


def handle_home_opened(deps: AppContext, event: Mapping[str, Any]) -> None:
    """Bolt acknowledges events itself; the tab is drawn in the background. The same event
    comes when someone opens the Messages tab: that one is left alone."""
    if event.get("tab", "home") == "home":
        deps.later(publish_home, deps, str(event["user"]))


def publish_home(deps: AppContext, user: str) -> None:
    now = deps.clock.now()
    with deps.engine.connect() as connection:
        data = home_data(connection, deps.team_file, now, deps.alert_links)
    deps.client.views_publish(user_id=user, view=home_view(data))
