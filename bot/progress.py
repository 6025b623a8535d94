"""Progress bars on a terminal, silence elsewhere (CI, pipes, logs)."""

from __future__ import annotations

import sys
from types import TracebackType

from rich.progress import (
    BarColumn,
    DownloadColumn,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.progress import Progress as RichProgress


class Progress:
    """A byte-count progress bar for one long job; does nothing when stderr is not a terminal."""

    def __init__(self, description: str, total: int | None) -> None:
        self._bar: RichProgress | None = None
        self._task: TaskID | None = None
        self._description, self._total = description, total

    def __enter__(self) -> Progress:
        if sys.stderr.isatty():
            self._bar = RichProgress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                transient=True,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task(self._description, total=self._total)
        return self

    def update(self, completed: int | None) -> None:
        if self._bar is not None and self._task is not None and completed is not None:
            self._bar.update(self._task, completed=completed)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.__exit__(kind, error, traceback)


class PageCounter:
    """A live count of pages per provider while collectors run; silent off a terminal."""

    def __init__(self, providers: list[str]) -> None:
        self._providers = providers
        self._bar: RichProgress | None = None
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> PageCounter:
        if sys.stderr.isatty():
            self._bar = RichProgress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.completed} pages"),
                transient=True,
            )
            self._bar.__enter__()
            self._tasks = {p: self._bar.add_task(p, total=None) for p in self._providers}
        return self

    def page(self, provider: str) -> None:
        if self._bar is not None and provider in self._tasks:
            self._bar.advance(self._tasks[provider])

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.__exit__(kind, error, traceback)
