"""A pseudo-terminal for tests of what Symphony draws only on a terminal (the progress line)."""

import os
import pty
import threading


class PseudoTerminal:
    """``stream`` is the slave side (a real tty to write to); ``data`` all that reached the master."""

    def __init__(self):
        self.master, slave = pty.openpty()
        self.stream = open(slave, "w", buffering=1, encoding="utf-8")
        self.data = b""
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            while chunk := os.read(self.master, 4096):
                self.data += chunk
        except OSError:
            pass

    def close(self):
        self.stream.close()
        os.close(self.master)

    def text(self):
        return self.data.decode()
