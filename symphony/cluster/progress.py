"""One updating line on a terminal while a long launch or delete runs; nothing otherwise.

Launching a thousand pods takes half a minute: without a word, that looks like a hang.
So a launch or delete that takes longer than :data:`DELAY` seconds shows where it is on
one line of stderr, rewritten in place (``launching 'rl': 340/1000 pods created``, then
``launching 'rl': 610/1000 processes running``), and erases that line when it ends, so
what stays on the screen is what was there before plus the backend's own summary line.
When stderr is not a terminal (a pipe, a file, CI) nothing at all is written, and a
launch that finishes within :data:`DELAY` writes nothing either: short commands and
scripts reading Symphony's output see exactly what they saw before.

Usage, the same on every backend::

    with launch_progress(exp.name, total=len(objects), what="objects") as progress:
        for obj in objects:
            create(obj)
            progress.advance()          # from any thread
        progress.phase(len(processes), what="processes", state="running")
        progress.update(count_running())  # an absolute count, e.g. from a poll

The line is drawn by a small daemon thread, started only on a terminal, so a step that
blocks (waiting for the first pod to be scheduled) still shows the line after the delay
and counts stay current without every ``advance()`` writing to the terminal.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
TYPE_CHECKING = False  # (typing.TYPE_CHECKING without importing typing on every command's path)
if TYPE_CHECKING:
    from typing import IO, ContextManager, Iterator, Optional
    import threading

#: Seconds a launch or delete runs before its progress line appears.
DELAY = 1.0
#: Seconds between redraws of the line (only when something changed).
INTERVAL = 0.1
_CLEAR = "\r\x1b[K"  # back to the line's start, erase to its end


class Progress:
    """Counts of one long operation, shown on a terminal by :meth:`start` until :meth:`close`.

    ``title`` names the operation (``launching 'rl'``); the current phase counts ``done``
    of ``total`` ``what`` (``pods``) that are now ``state`` (``created``). Every method
    is safe to call from several threads and does nothing visible unless the stream is a
    terminal and :data:`DELAY` has passed.
    """

    def __init__(self, title: str, total: int, what: str = "processes", state: str = "created",
                 stream: Optional[IO[str]] = None, delay: Optional[float] = None,
                 interval: float = INTERVAL) -> None:
        self.title = title
        self.total, self.what, self.state, self.done = total, what, state, 0
        self.stream = stream if stream is not None else sys.stderr
        self.delay = DELAY if delay is None else delay  # (read now: tests shorten it)
        self.interval = interval
        self.shown = False          # whether the line was ever drawn (then it is erased at the end)
        import threading  # (here: `symphony p` imports this module through its backend, and draws nothing)
        self._lock = threading.Lock()
        self._changed = True
        self._started = time.monotonic()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    @property
    def visible(self) -> bool:
        """Whether this progress may draw at all: only on a terminal."""
        try:
            return bool(self.stream.isatty())
        except (AttributeError, ValueError, OSError):  # a closed or fake stream
            return False

    def start(self) -> "Progress":
        """Begin timing; on a terminal, start the thread that draws the line after the delay."""
        self._started = time.monotonic()
        if self.visible and self._thread is None:
            import threading
            self._thread = threading.Thread(target=self._run, name="symphony-progress", daemon=True)
            self._thread.start()
        return self

    def advance(self, count: int = 1) -> None:
        """``count`` more of the current phase are done."""
        with self._lock:
            self.done += count
            self._changed = True

    def update(self, done: int) -> None:
        """Exactly ``done`` of the current phase are done (a count read from a poll)."""
        with self._lock:
            if done != self.done:
                self.done, self._changed = done, True

    def phase(self, total: int, what: Optional[str] = None, state: Optional[str] = None) -> None:
        """Start the next phase (e.g. from "created" to "running"), counting from zero."""
        with self._lock:
            self.total, self.done, self._changed = total, 0, True
            self.what = what if what is not None else self.what
            self.state = state if state is not None else self.state

    def line(self) -> str:
        """The text shown now: ``launching 'rl': 340/1000 pods created (12 s)``."""
        with self._lock:
            done, total, what, state = self.done, self.total, self.what, self.state
        elapsed = time.monotonic() - self._started
        return f"{self.title}: {done}/{total} {what} {state} ({elapsed:.0f} s)"

    def close(self) -> None:
        """Stop drawing and erase the line if it was drawn."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self.shown:
            self._write(_CLEAR)
            self.shown = False

    def _run(self) -> None:
        if self._stop.wait(max(0.0, self.delay - (time.monotonic() - self._started))):
            return  # finished within the delay: nothing is shown
        last_second = -1
        while True:
            with self._lock:
                changed, self._changed = self._changed, False
            second = int(time.monotonic() - self._started)
            if changed or second != last_second:  # the elapsed time ticks even when counts do not
                last_second = second
                self._draw()
            if self._stop.wait(self.interval):
                return

    def _draw(self) -> None:
        width = _width(self.stream)
        text = self.line()
        if len(text) >= width:  # a wrapped line could no longer be rewritten in place
            text = text[:max(0, width - 2)] + "…"
        self.shown = True
        self._write(_CLEAR + text)

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # the terminal went away: the operation goes on
            pass


def _width(stream: IO[str]) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns or 80
    except (AttributeError, ValueError, OSError):
        return 80


@contextlib.contextmanager
def progress(title: str, total: int, what: str = "processes", state: str = "created",
             stream: Optional[IO[str]] = None, delay: Optional[float] = None) -> Iterator[Progress]:
    """A started :class:`Progress`, closed (its line erased) however the block ends."""
    reporter = Progress(title, total, what, state, stream=stream, delay=delay).start()
    try:
        yield reporter
    finally:
        reporter.close()


def launch_progress(experiment: str, total: int, what: str = "processes", state: str = "created",
                    stream: Optional[IO[str]] = None, delay: Optional[float] = None) -> ContextManager[Progress]:
    """Progress of launching ``experiment``: ``launching 'rl': 3/10 processes created``."""
    return progress(f"launching {experiment!r}", total, what, state, stream=stream, delay=delay)


def delete_progress(experiment: str, total: int, what: str = "processes", state: str = "stopped",
                    stream: Optional[IO[str]] = None, delay: Optional[float] = None) -> ContextManager[Progress]:
    """Progress of deleting ``experiment``: ``deleting 'rl': 3/10 processes stopped``."""
    return progress(f"deleting {experiment!r}", total, what, state, stream=stream, delay=delay)
