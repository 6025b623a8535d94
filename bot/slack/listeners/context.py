"""What every listener needs: the store, the team's aispend.toml, the settings, the Web API
client and the clock, and the executor its slow work runs on. Built once by the caller of
`create_app`; tests pass their own parts."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from slack_sdk import WebClient
from sqlalchemy import Engine

from bot.clock import Clock, SystemClock
from bot.config import Settings, TeamFile
from bot.errors import UsageError

logger = logging.getLogger(__name__)

# answers, shares, presses and Home tabs worked on at once: the work is mostly Python under
# the GIL, so more threads add no throughput, only contention with the acknowledgements
BACKGROUND_WORKERS = 2


def _background() -> Executor:
    return ThreadPoolExecutor(BACKGROUND_WORKERS, thread_name_prefix="aispend-slack")


@dataclass(frozen=True)
class AppContext:
    engine: Engine
    team_file: TeamFile
    settings: Settings
    client: WebClient  # WebClient(token, base_url=...): tests point it at the Slack stand-in
    clock: Clock = field(default_factory=SystemClock)
    # Slow work runs here, never on Bolt's listener threads: a listener acknowledges and
    # hands its work over, so a burst of slow answers cannot delay the next acknowledgement
    # (Slack wants it within 3 s; Bolt's threads are what run each `ack()`).
    background: Executor = field(default_factory=_background)
    # one incident press at a time, so the first press wins within this process
    presses: threading.Lock = field(default_factory=threading.Lock)

    def is_admin(self, user_id: str) -> bool:
        """Whether aispend.toml [slack].admins names this user (as U123 or <@U123>)."""
        admins = self.team_file.slack.admins
        return user_id in {a.removeprefix("<@").removesuffix(">") for a in admins}

    def later(
        self,
        work: Callable[..., None],
        *args: Any,
        failed: Callable[[Exception], None] | None = None,
    ) -> Future[None]:
        """Run `work(*args)` in the background. A failure is logged with its traceback and
        passed to `failed` (to tell the person who asked), never lost."""
        return self.background.submit(_guarded, work, args, failed)


def _guarded(
    work: Callable[..., None], args: tuple[Any, ...], failed: Callable[[Exception], None] | None
) -> None:
    name = getattr(work, "__name__", repr(work))
    try:
        work(*args)
    except UsageError as e:  # the person's mistake, shown to them: no traceback needed
        logger.info("slack listener work %s: %s", name, e.message)
        _tell(failed, e, name)
    except Exception as e:
        logger.exception("slack listener work %s failed", name)
        _tell(failed, e, name)


def _tell(failed: Callable[[Exception], None] | None, error: Exception, name: str) -> None:
    if failed is None:
        return
    try:
        failed(error)
    except Exception:
        logger.exception("could not tell the person that %s failed", name)
