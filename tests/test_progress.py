"""The progress line: on a terminal after the delay, rewritten in place and erased at the end; else nothing."""

import io
import os
import threading
import time

import pytest

from pseudoterminal import PseudoTerminal
from symphony.cluster.progress import DELAY, Progress, delete_progress, launch_progress


@pytest.fixture
def terminal():
    term = PseudoTerminal()
    yield term
    term.close()


def test_a_slow_launch_on_a_terminal_shows_counts_on_one_updated_line_then_erases_it(terminal):
    assert terminal.stream.isatty()
    with launch_progress("rl", total=10, what="pods", stream=terminal.stream) as progress:
        for _ in range(4):
            progress.advance()
        time.sleep(DELAY / 2)
        assert terminal.text() == ""  # nothing before the delay
        shown = terminal.wait_for("\r\x1b[Klaunching 'rl': 4/10 pods created (")
        assert "\n" not in shown
        progress.advance(6)
        terminal.wait_for("\r\x1b[Klaunching 'rl': 10/10 pods created")
        progress.phase(10, what="processes", state="running")
        progress.update(7)
        terminal.wait_for("\r\x1b[Klaunching 'rl': 7/10 processes running")
    final = terminal.text()
    assert final.endswith("\r\x1b[K") and "\n" not in final  # one line, rewritten, then erased


def test_a_fast_launch_on_a_terminal_shows_nothing(terminal):
    with launch_progress("rl", total=3, stream=terminal.stream) as progress:
        progress.advance(3)
        time.sleep(0.2)
    assert terminal.text() == ""


def test_a_slow_delete_that_is_piped_writes_nothing_and_starts_no_thread():
    read_end, write_end = os.pipe()
    with open(write_end, "w") as piped, open(read_end) as reader:
        before = threading.active_count()
        with delete_progress("rl", total=5, stream=piped, delay=0.2) as progress:
            assert threading.active_count() == before
            for _ in range(5):
                progress.advance()
            time.sleep(0.5)
        piped.close()
        assert reader.read() == ""
    captured = io.StringIO()  # a stream without a terminal behind it (e.g. pytest's capture)
    with delete_progress("rl", total=5, stream=captured, delay=0) as progress:
        progress.advance()
        time.sleep(0.2)
    assert captured.getvalue() == ""


def test_the_line_fits_the_terminal_width_so_it_can_be_rewritten(terminal):
    import fcntl
    import struct
    import termios
    fcntl.ioctl(terminal.stream.fileno(), termios.TIOCSWINSZ, struct.pack("HHHH", 24, 30, 0, 0))
    with launch_progress("an-experiment-with-a-long-name", total=1000, stream=terminal.stream, delay=0.1):
        terminal.wait_for("launching")
    drawn = [part for part in terminal.text().split("\r\x1b[K") if part]
    assert drawn and all(len(part) < 30 for part in drawn)


def test_counts_from_many_threads_add_up():
    progress = Progress("launching 'rl'", total=8000, stream=io.StringIO())
    workers = [threading.Thread(target=lambda: [progress.advance() for _ in range(1000)]) for _ in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert progress.line().startswith("launching 'rl': 8000/8000 processes created")
