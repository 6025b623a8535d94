"""The production HTTP server: waitress (pure Python, threaded, no development server), run on
a thread of the service's process beside the scheduler, and stopped so that requests in
flight are answered: it stops accepting, waits for the requests it has to be answered, then
stops its threads."""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any

import waitress
from waitress import wasyncore

from bot.errors import ConfigError
from bot.runtime.web import WsgiApp

logger = logging.getLogger(__name__)

THREADS = 16  # requests served at once: each only acknowledges Slack or stores a batch
BACKLOG = 128  # connections waiting to be accepted (a burst of slash commands)
LOOP_WAKE = 0.1  # seconds: how soon the accept loop notices it is stopped


class Server:
    def __init__(self, app: WsgiApp, host: str, port: int, *, max_body: int) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:  # bound here, so a failure leaves no socket or thread of waitress's behind
            listener = socket.create_server((host, port), family=family, backlog=BACKLOG)
        except OSError as e:
            raise ConfigError(f"cannot listen on {host}:{port}: {e.strerror or e}") from e
        try:
            self._server: Any = waitress.create_server(
                app,
                sockets=[listener],
                threads=THREADS,
                backlog=BACKLOG,
                max_request_body_size=max_body,
                ident="aispend",
                expose_tracebacks=False,
                clear_untrusted_proxy_headers=True,
            )
        except BaseException:
            listener.close()
            raise
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="aispend-http", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.effective_port)

    def start(self) -> None:
        logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # a burst queues by design
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop accepting, answer what is in flight (within `timeout` seconds), stop."""
        server = self._server
        if not self._thread.is_alive():  # never started (the start failed after binding)
            wasyncore.close_all(server._map)
            return
        server.accepting = False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._busy():
            time.sleep(0.02)
        server.task_dispatcher.shutdown(timeout=max(0.1, deadline - time.monotonic()))
        self._stopped.set()
        self._thread.join(timeout=2)

    def _serve(self) -> None:
        """waitress's loop, a pass at a time, so that it stops when told and closes every
        socket on its own thread."""
        server = self._server
        while not self._stopped.is_set():
            wasyncore.loop(timeout=LOOP_WAKE, map=server._map, count=1)
        wasyncore.close_all(server._map)

    def _busy(self) -> bool:
        dispatcher = self._server.task_dispatcher
        channels = list(self._server.active_channels.values())
        pending = any(c.requests or c.total_outbufs_len for c in channels)
        return bool(pending or dispatcher.queue)
