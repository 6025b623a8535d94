"""Links to messages the bot posted: https://WORKSPACE.slack.com/archives/CHANNEL/pTS, the form
chat.getPermalink answers for a top-level message, built from the workspace's URL (auth.test,
asked once per process) and the channel and ts the outbox recorded when it posted."""

from __future__ import annotations

import logging
import threading

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

logger = logging.getLogger(__name__)


def message_link(workspace_url: str, channel_id: str, ts: str) -> str:
    """The permalink of the top-level message `ts` in `channel_id`."""
    return f"{workspace_url.rstrip('/')}/archives/{channel_id}/p{ts.replace('.', '')}"


class Workspace:
    """The workspace's URL, as auth.test gives it, asked once and kept; None while Slack
    cannot be asked (messages then go without links, and the next one asks again)."""

    def __init__(self) -> None:
        self._url: str | None = None
        self._lock = threading.Lock()

    def url(self, client: WebClient) -> str | None:
        with self._lock:
            if self._url is None:
                try:
                    found = client.auth_test().get("url")
                except (SlackApiError, SlackClientError, OSError) as e:
                    logger.warning("auth.test for the workspace URL failed: %s", type(e).__name__)
                    return None
                self._url = str(found) if found else None
            return self._url
