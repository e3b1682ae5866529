"""Progress bars on stderr (rich), implementing layerscan.progress.Progress.

Only used when stderr is a terminal and neither --quiet nor --no-progress is
given; rich is imported here, never at CLI start-up.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from layerscan.progress import NULL_PROGRESS, Progress, ProgressTask


DESCRIPTION_WIDTH = 36


class _RichTask:
    def __init__(self, owner: "RichProgress", task_id: Any) -> None:
        self._owner = owner
        self._id = task_id

    def advance(self, n: int = 1) -> None:
        self._owner.bars.advance(self._id, n)

    def close(self) -> None:
        self._owner.bars.update(self._id, visible=False)
        self._owner.bars.stop_task(self._id)


class RichProgress:
    """One rich Progress display on stderr; tasks are bars (or spinners when total is unknown)."""

    def __init__(self, stream: TextIO) -> None:
        from rich.console import Console
        from rich.progress import (BarColumn, DownloadColumn, Progress as _Bars, SpinnerColumn,
                                   TextColumn, TimeElapsedColumn)

        self.bars = _Bars(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(bar_width=20),
                          DownloadColumn(), TimeElapsedColumn(),
                          console=Console(file=stream), transient=True)
        self.bars.start()

    def task(self, description: str, total: int | None = None) -> ProgressTask:
        text = description if len(description) <= DESCRIPTION_WIDTH else description[:DESCRIPTION_WIDTH - 1] + "…"
        return _RichTask(self, self.bars.add_task(text, total=total))

    def stop(self) -> None:
        self.bars.stop()


def make_progress(quiet: bool, no_progress: bool, stream: TextIO | None = None) -> Progress:
    """Rich bars when drawing makes sense, else the null progress."""
    stream = stream or sys.stderr
    if quiet or no_progress or not (hasattr(stream, "isatty") and stream.isatty()):
        return NULL_PROGRESS
    try:
        return RichProgress(stream)
    except Exception:  # noqa: BLE001 - a broken terminal must not break the scan
        return NULL_PROGRESS


def stop_progress(progress: Progress) -> None:
    if isinstance(progress, RichProgress):
        progress.stop()
