"""Layer analysis in forked worker processes.

The tar walk and the analyzers are Python code that holds the GIL, so threads share one
core (only inflating and hashing release it). A fork of the scanning process has every
module imported and every object in place, so nothing is pickled on the way in; each worker
takes the next item from a pipe of tickets (the slow layers do not all land on one worker)
and sends each result back pickled. This process works through the tickets too.

Only on Linux (``fork`` is the default there and cheap), only when a core is free
(``core_free``), and only when no other thread is running: a fork copies the calling
thread alone, and a lock another thread held (logging, an HTTP pool) would stay locked in
the child. Anything a worker cannot deliver (it died, its result does not pickle, or the
item raised) is done again here, so errors are raised here as without workers.
"""

from __future__ import annotations

import os
import pickle
import signal
import struct
import sys
import threading
from typing import BinaryIO, Callable, Iterator, Sequence, TypeVar

T = TypeVar("T")
R = TypeVar("R")
_TICKET = struct.Struct("<I")
_MAX_ITEMS = 4096  # the tickets must fit in the pipe's buffer (64 KiB on Linux) before any worker reads


def available(items: int) -> bool:
    """Can ``map_forked`` run ``items`` items in worker processes from here?"""
    return (sys.platform == "linux" and hasattr(os, "fork") and 2 <= items <= _MAX_ITEMS
            and threading.active_count() == 1)


def core_free() -> bool:
    """Is a CPU of this process's idle enough for a worker? On a busy machine workers cost up
    to ~15% more CPU in all (a child's copy-on-write pages, the results pickled back) and
    gain nothing; they pay when the child gets a core of its own (the load average over the
    last minute at least one below the CPUs; benchmarks/README.md, issue 11)."""
    return os.getloadavg()[0] + 1 <= len(os.sched_getaffinity(0))


def _tickets(fd: int) -> Iterator[int]:
    while len(raw := os.read(fd, _TICKET.size)) == _TICKET.size:  # one 4-byte read is one ticket
        yield _TICKET.unpack(raw)[0]


def _work(fn: Callable[[T], R], items: Sequence[T], tickets: int, out: BinaryIO) -> None:
    # results are written once the tickets are gone: a result larger than the pipe's buffer
    # would block this worker until the parent reads, and the parent reads after its own share
    done: list[bytes] = []
    for index in _tickets(tickets):
        try:
            done.append(pickle.dumps((index, fn(items[index])), protocol=pickle.HIGHEST_PROTOCOL))
        except Exception:  # noqa: BLE001 - not delivered: the parent does it again and raises
            continue
    for payload in done:
        out.write(payload)


def _child(fn: Callable[[T], R], items: Sequence[T], tickets: int, write_fd: int) -> None:
    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C reaches the parent, which stops us
        with os.fdopen(write_fd, "wb") as out:
            _work(fn, items, tickets, out)
    except BaseException:  # noqa: BLE001 - whatever happens, never return into the parent's code
        code = 1
    finally:
        os._exit(code)


def _collect(read_fd: int, results: dict[int, R]) -> None:
    with os.fdopen(read_fd, "rb") as inp:
        while True:
            try:
                index, value = pickle.load(inp)
            except EOFError:
                return
            except Exception:  # noqa: BLE001 - a torn or odd result: the item is done again here
                return
            results[index] = value


def map_forked(fn: Callable[[T], R], items: Sequence[T], workers: int) -> list[R]:
    """``[fn(item) for item in items]`` with ``workers - 1`` forked processes helping (at most
    one process per CPU this process may run on)."""
    workers = min(workers, len(os.sched_getaffinity(0)))
    read_tickets, write_tickets = os.pipe()
    try:
        os.write(write_tickets, b"".join(_TICKET.pack(i) for i in range(len(items))))
    finally:
        os.close(write_tickets)  # workers read to EOF once the tickets are taken
    children: list[tuple[int, int]] = []
    results: dict[int, R] = {}
    try:
        for _ in range(max(0, workers - 1)):
            read_fd, write_fd = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(read_fd)
                _child(fn, items, read_tickets, write_fd)
            os.close(write_fd)
            children.append((pid, read_fd))
        for index in _tickets(read_tickets):
            results[index] = fn(items[index])
        while children:
            pid, read_fd = children.pop(0)
            _collect(read_fd, results)
            os.waitpid(pid, 0)
    finally:
        os.close(read_tickets)
        for pid, read_fd in children:  # this process raised: stop the workers
            os.close(read_fd)
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    return [results[i] if i in results else fn(item) for i, item in enumerate(items)]
