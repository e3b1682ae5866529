"""Progress reporting contract. Library code reports; the CLI decides how to draw
(rich bars on stderr, or nothing with --no-progress / -q)."""

from __future__ import annotations

from typing import Protocol


class ProgressTask(Protocol):
    def advance(self, n: int = 1) -> None: ...
    def close(self) -> None: ...


class Progress(Protocol):
    def task(self, description: str, total: int | None = None) -> ProgressTask: ...


class _NullTask:
    def advance(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


class NullProgress:
    def task(self, description: str, total: int | None = None) -> ProgressTask:
        return _NullTask()


NULL_PROGRESS = NullProgress()
