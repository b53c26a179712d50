"""A pseudo-terminal for tests of what Symphony draws only on a terminal (the progress line).

What was written is known for certain, never after a pause: :meth:`PseudoTerminal.text`
writes a marker after it and returns once the marker is read back (the terminal keeps
the order of what is written), and :meth:`PseudoTerminal.close` closes the terminal's
side written to, then reads the rest until the end.
"""

import itertools
import os
import pty
import threading

#: a terminal passes an operating-system command through as it is, and none is ever drawn
_MARKER = "\x1b]pseudoterminal-sync-{}\x07"


class PseudoTerminal:
    """``stream`` is the slave side (a real tty to write to); ``data`` all that reached the master."""

    def __init__(self):
        self.master, slave = pty.openpty()
        self.stream = open(slave, "w", buffering=1, encoding="utf-8")
        self.data = b""
        self._arrived = threading.Condition()
        self._ended = False
        self._markers = itertools.count()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        try:
            while chunk := os.read(self.master, 4096):
                with self._arrived:
                    self.data += chunk
                    self._arrived.notify_all()
        except OSError:  # EIO: the slave side is closed and all it was given has been read
            pass
        finally:
            with self._arrived:
                self._ended = True
                self._arrived.notify_all()

    def _wait(self, predicate, timeout, what):
        with self._arrived:
            if not self._arrived.wait_for(lambda: predicate() or self._ended, timeout):
                raise AssertionError(f"{what} not read from the terminal within {timeout}s: {self.data!r}")
            return self.data.decode()

    def text(self, timeout=10.0):
        """All that was written so far, every byte of it (call it while nothing else writes)."""
        marker = _MARKER.format(next(self._markers)).encode()
        self.stream.write(marker.decode())
        self.stream.flush()
        self._wait(lambda: marker in self.data, timeout, repr(marker))
        with self._arrived:
            self.data = self.data.replace(marker, b"", 1)
            return self.data.decode()

    def wait_for(self, expected, timeout=10.0):
        """All text read so far, once ``expected`` is in it (a loaded machine may draw late)."""
        text = self._wait(lambda: expected.encode() in self.data, timeout, repr(expected))
        assert expected in text, f"{expected!r} not shown: {text!r}"
        return text

    def close(self, timeout=10.0):
        """Close the terminal, once everything written to it has been read into ``data``."""
        self.stream.close()
        self._reader.join(timeout)
        os.close(self.master)
        assert not self._reader.is_alive(), "the terminal is still open elsewhere (a process inherited it?)"
