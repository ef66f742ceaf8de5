"""What a long run tells the person waiting for it: the stage it is in (encoder k of n, analysis k of n), each
epoch with its own time and an estimate of what is left, and no silent stretch of more than a few seconds.

Modes: "bar" (a terminal: a live tqdm bar under the log lines, its elapsed time ticking even while a step
reports nothing), "plain" (one line per event, no control characters: for log files, CI and notebooks; a
"still working" line after HEARTBEAT seconds of silence), "quiet" (nothing). "auto": bar on a terminal,
else plain.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from sslab.i18n import _

HEARTBEAT = 10.0  # seconds of silence before plain mode says what is still running
MODES = ("auto", "bar", "plain", "quiet")


class Task:
    """One step of a run that may take a while; `update` tells how far it is."""

    def __init__(self, desc: str, total: int | None, unit: str):
        self.desc, self.total, self.unit, self.done = desc, total, unit, 0
        self.started = time.monotonic()
        self.bar = None

    def update(self, done: int, total: int | None = None) -> None:
        """`done` of `total` units finished so far (total: set or corrected now, e.g. once a loop knows it)."""
        if total is not None and total != self.total:
            self.total = total
            if self.bar is not None:
                self.bar.total = total
        if self.bar is not None:
            self.bar.update(done - self.done)
        self.done = done

    def status(self) -> str:
        count = f"{self.done}/{self.total} {self.unit}, " if self.total else ""
        return f"{self.desc} ({count}{time.monotonic() - self.started:.0f} s)"


class Progress:
    """Log lines and live tasks, in one of MODES; `write` replaces the stream for plain lines (e.g. a
    notebook's print)."""

    def __init__(self, mode: str = "auto", stream: TextIO | None = None, write: Callable[[str], None] | None = None):
        self.stream = stream or sys.stderr
        if mode == "auto":
            mode = "bar" if write is None and _is_terminal(self.stream) else "plain"
        self.mode = mode
        self._write = write or (lambda m: print(m, file=self.stream, flush=True))
        self._tasks: list[Task] = []
        self._last = time.monotonic()
        self._lock = threading.RLock()
        self._ticker: threading.Thread | None = None
        self._stop = threading.Event()

    def __call__(self, message: str) -> None:  # a Progress is also a plain `log(message)` callable
        self.log(message)

    def log(self, message: str) -> None:
        if self.mode == "quiet":
            return
        with self._lock:
            if self.mode == "bar" and any(t.bar is not None for t in self._tasks):
                from tqdm import tqdm

                tqdm.write(message, file=self.stream)
            else:
                self._write(message)
            self._last = time.monotonic()

    @contextmanager
    def task(self, desc: str, total: int | None = None, unit: str = "") -> Iterator[Task]:
        """A step that may take a while: a live bar with its elapsed time and, for a counted task (a unit, a
        total), how far it is and what is left."""
        task = Task(desc, total, unit)
        with self._lock:
            if self.mode == "bar":
                from tqdm import tqdm

                fmt = "{desc} {bar} {n_fmt}/{total_fmt} {unit} [{elapsed}<{remaining}]" if total or unit else \
                    "{desc} [{elapsed}]"  # a counted task (its total may come later), or a clock
                size = shutil.get_terminal_size((100, 20))  # where a terminal reports no size (0 x 0)
                task.bar = tqdm(total=total, desc=desc, unit=unit, file=self.stream, leave=False, bar_format=fmt,
                                ncols=size.columns, nrows=size.lines, mininterval=0.5)
            self._tasks.append(task)
            self._last = time.monotonic()
            if self.mode in ("bar", "plain") and self._ticker is None:
                self._stop.clear()
                self._ticker = threading.Thread(target=self._tick, daemon=True)
                self._ticker.start()
        try:
            yield task
        finally:
            with self._lock:
                self._tasks.remove(task)
                if task.bar is not None:
                    task.bar.close()
                if not self._tasks and self._ticker is not None:
                    self._stop.set()
                    self._ticker = None

    def _tick(self) -> None:
        """Every second: refresh the bars' clocks (bar mode), or break a long silence (plain mode)."""
        stop = self._stop
        while not stop.wait(1.0):
            with self._lock:
                if not self._tasks:
                    continue
                if self.mode == "bar":
                    for t in self._tasks:
                        if t.bar is not None:
                            t.bar.refresh()
                elif time.monotonic() - self._last >= HEARTBEAT:
                    self.log("  ... " + _("still {what}").format(what=self._tasks[-1].status()))


def duration(seconds: float) -> str:
    """A time left, as a person says it: 40 s, 12 min, 1 h 05 min."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds // 3600:.0f} h {seconds % 3600 / 60:02.0f} min"


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def as_progress(log: Callable[[str], None] | Progress | None) -> Progress:
    """A Progress from what a caller passed as `log`: itself, or plain lines through a function (print)."""
    if isinstance(log, Progress):
        return log
    return Progress("plain", write=log or print)
