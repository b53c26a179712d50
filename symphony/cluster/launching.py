"""What keeps a launch whole: one launch of a name at a time, and rollbacks that finish.

Launches of one experiment name on this machine are serialised (:func:`launch_lock`),
so two ``symphony launch --force`` of one file at once replace each other in turn
instead of interleaving their deletes and starts. A failure part-way through
``apply`` removes what was created, and that removal runs to its end even if
Ctrl-C is pressed again (:func:`rollback_shield`).
"""

from __future__ import annotations

import contextlib
import os
import sys
TYPE_CHECKING = False  # (typing.TYPE_CHECKING without importing typing on every command's path)
if TYPE_CHECKING:
    from typing import Iterator


@contextlib.contextmanager
def launch_lock(backend: str, name: str) -> Iterator[None]:
    """Hold the lock of experiment ``name`` on ``backend`` (this machine) from the existence
    check to the saved spec: an advisory ``flock`` on ``$SYMPHONY_HOME/locks/``, released
    by the kernel if the launching process dies."""
    import fcntl
    from ..state import private_dir, symphony_home
    directory = private_dir(os.path.join(symphony_home(), "locks"))
    fd = os.open(os.path.join(directory, f"{backend}-{name}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting for another launch of {name!r} on this machine to finish ...", file=sys.stderr)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        try:  # (explicitly: a child forked meanwhile shares the descriptor's lock until it closes its copy)
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


@contextlib.contextmanager
def rollback_shield() -> Iterator[None]:
    """Let a rollback finish: Ctrl-C pressed again while it runs is ignored (the launch is
    already being undone and its error re-raised), since an interrupted rollback would
    leave half an experiment running."""
    import signal
    import threading  # (here: only a launch needs them, not every command that imports the cluster)
    if threading.current_thread() is not threading.main_thread():
        yield  # signals only reach the main thread
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        # None: a handler installed from C, which Python cannot put back; Python's own then, so that
        # Ctrl-C interrupts again (KeyboardInterrupt) rather than staying ignored for good
        signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)
