"""Log files with enough timing to answer ``--since``, without touching the output.

Processes write straight into their log file (no relay process that could die and
take their stdout with it). Beside each log, a small *index* file records
``<unix time> <byte offset>`` lines: the writer of the index (the local
supervisor, the tmux log pipe) appends one whenever the file has grown, at most
every ``INDEX_INTERVAL`` seconds. ``--since 5m`` then starts reading at the last
offset recorded before the cutoff, at a line boundary. Precision is about the
index interval, as with ``kubectl logs --since``, which is per line but coarse.
"""

import os
import time

from ..errors import SymphonyError

INDEX_INTERVAL = 0.5
#: a ``--since`` duration; matched with ``re`` imported when one is read (the supervisor never reads one)
_DURATION = r"^(\d+(?:\.\d+)?)(s|m|h|d)$"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_since(text):
    """``'5s'``, ``'2m'``, ``'3h'``, ``'1d'`` -> seconds (float); numbers pass through."""
    if text is None:
        return None
    if isinstance(text, (int, float)) and not isinstance(text, bool) and text >= 0:
        return float(text)
    import re
    match = re.match(_DURATION, str(text).strip())
    if not match:
        raise SymphonyError(f"invalid --since {text!r}: use a number followed by s, m, h or d, e.g. 5s, 2m, 3h")
    return float(match.group(1)) * _UNITS[match.group(2)]


def index_path(log_path):
    return log_path + ".idx"


class IndexWriter:
    """Appends ``time offset`` to a log's index when the log has grown.

    An empty log gets no index (no file, no line): offset 0 is where every read begins
    anyway, and a launch of a thousand quiet processes would otherwise create a thousand
    files that say nothing while those processes start."""

    def __init__(self, log_path):
        self.log_path = log_path
        self.index = index_path(log_path)
        self.last_size = 0
        self.last_write = 0.0

    def update(self, now=None, force=False):
        now = now or time.time()
        if not force and now - self.last_write < INDEX_INTERVAL:
            return
        try:
            size = os.path.getsize(self.log_path)
        except OSError:
            return
        if size != self.last_size:
            with open(os.open(self.index, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "a") as handle:
                handle.write(f"{now:.3f} {size}\n")
            self.last_size, self.last_write = size, now


def _offset_since(log_path, cutoff):
    """Byte offset from which every byte was written after ``cutoff`` (approximately)."""
    offset = 0
    try:
        with open(index_path(log_path)) as handle:
            for line in handle:
                parts = line.split()
                if len(parts) == 2 and float(parts[0]) <= cutoff:
                    offset = int(parts[1])
    except OSError:
        pass
    return offset


def _tail_offset(handle, size, lines):
    """Offset where the last ``lines`` lines of the file start."""
    if lines <= 0:
        return size
    position, newlines, block = size, 0, 8192
    handle.seek(max(0, size - 1))
    ends_with_newline = handle.read(1) == b"\n"
    wanted = lines + (1 if ends_with_newline else 0)
    while position > 0:
        step = min(block, position)
        position -= step
        handle.seek(position)
        chunk = handle.read(step)
        for i in range(len(chunk) - 1, -1, -1):
            if chunk[i:i + 1] == b"\n":
                newlines += 1
                if newlines == wanted:
                    return position + i + 1
    return 0


def read_log(log_path, follow=False, since=None, tail=None, still_running=lambda: False, poll=0.2, settle=0.0):
    """Yield the lines of a log file (without newline).

    ``since`` in seconds, ``tail`` a line count (None or -1: everything), ``follow``
    keeps yielding new lines while ``still_running()`` is true, and then until the log has
    not grown for ``settle`` seconds: a backend whose output reaches the file through
    another process (tmux's pane pipe) may still be writing a process's last lines when
    its end is already on record.
    """
    if not os.path.exists(log_path):
        return
    with open(log_path, "rb") as handle:
        start = 0
        if since is not None:
            start = _offset_since(log_path, time.time() - since)
            if start > 0:
                handle.seek(start - 1)
                if handle.read(1) != b"\n":
                    handle.readline()  # drop the partial line
                    start = handle.tell()
        if tail is not None and tail >= 0:
            size = os.fstat(handle.fileno()).st_size
            start = max(start, _tail_offset(handle, size, tail))
        handle.seek(start)
        pending = b""
        finished = not follow
        quiet_until = None  # once it ended: when the log has been still for ``settle`` seconds
        while True:
            chunk = handle.read()
            if chunk:
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    yield line.decode(errors="replace")
                quiet_until = None
                continue
            if finished:
                break
            if quiet_until is not None or not still_running():
                now = time.monotonic()
                if quiet_until is None:
                    quiet_until = now + settle
                if now >= quiet_until:
                    finished = True  # one more read: output written just before the exit
                    continue
                time.sleep(min(poll, quiet_until - now))
                continue
            time.sleep(poll)
        if pending:
            yield pending.decode(errors="replace")
