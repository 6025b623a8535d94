"""What every listener needs: the store, the team's aispend.toml, the settings, the Web API
client and the clock, and the executor its slow work runs on. Built once by the caller of
`create_app`; tests pass their own parts.

Slow work waits for a lull in requests before it starts (`Lull`): answers are mostly Python,
and while one runs it holds the GIL that the server's accept loop and every acknowledgement
need, so a burst of 50 commands was acknowledged 2-3 times slower than the same server
answering nothing (`python -m bench slack`). Held back until the burst is acknowledged, or
`LULL_MOST` at most, the answers come about as soon: the work is the same, only its order
changes."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from slack_sdk import WebClient
from sqlalchemy import Connection, Engine

from bot.clock import Clock, SystemClock
from bot.config import Settings, TeamFile
from bot.errors import UsageError
from bot.jobs.alerting import root_key
from bot.slack.permalinks import Workspace, message_link
from bot.store.outbox import delivered

logger = logging.getLogger(__name__)

# answers, shares, presses and Home tabs worked on at once: the work is mostly Python under
# the GIL, so more threads add no throughput, only contention with the acknowledgements
# (50 answers over the 10M-event store: 2 threads beat 1, 4 and 8)
BACKGROUND_WORKERS = 2
LULL = 0.02  # seconds without a new request before slow work starts ...
LULL_MOST = 0.25  # ... or this long after its request came, whichever is first


def _background() -> Executor:
    return ThreadPoolExecutor(BACKGROUND_WORKERS, thread_name_prefix="aispend-slack")


class Lull:
    """Holds slow work back while requests keep coming, so that a burst is acknowledged
    first: work starts once `quiet` seconds pass without a new request, or `most` seconds
    after its own request came. Work that has waited that long already starts at once, so
    under steady load nothing waits more than `most` and the throughput is unchanged."""

    def __init__(self, quiet: float = LULL, most: float = LULL_MOST) -> None:
        self.quiet, self.most = quiet, most
        self._last = -math.inf  # one float, written whole: no lock needed

    def arrived(self) -> float:
        """Note a request; its time (time.monotonic()), for `wait`."""
        self._last = now = time.monotonic()
        return now

    def wait(self, since: float) -> None:
        """Until the lull, for work whose request came at `since`."""
        while (pause := min(self._last + self.quiet, since + self.most) - time.monotonic()) > 0:
            time.sleep(pause)


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
    # slow work waits for a lull in requests (see the module docstring)
    lull: Lull = field(default_factory=Lull)
    # the workspace's URL, for links to alerts' threads
    workspace: Workspace = field(default_factory=Workspace)

    def alert_links(self, connection: Connection, incident_ids: Sequence[int]) -> dict[int, str]:
        """Links to the Slack threads of these alerts, for those posted so far."""
        roots = delivered(connection, [root_key(i) for i in incident_ids])
        found = {i: roots.get(root_key(i)) for i in incident_ids}
        posted = {i: root for i, root in found.items() if root is not None}
        url = self.workspace.url(self.client) if posted else None
        if url is None:
            return {}
        return {i: message_link(url, root.channel_id, root.ts) for i, root in posted.items()}

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
        """Run `work(*args)` in the background, once requests pause (`Lull`). A failure is
        logged with its traceback and passed to `failed` (to tell the person who asked),
        never lost."""
        return self.background.submit(_guarded, work, args, failed, self.lull, self.lull.arrived())


def _guarded(
    work: Callable[..., None],
    args: tuple[Any, ...],
    failed: Callable[[Exception], None] | None,
    lull: Lull,
    since: float,
) -> None:
    name = getattr(work, "__name__", repr(work))
    lull.wait(since)
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
