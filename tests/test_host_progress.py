"""Host backends: a launch or delete that takes a while counts the processes running or stopped on one
terminal line, and writes nothing extra when stderr is not a terminal."""

import os
import sys
import threading

from pseudoterminal import PseudoTerminal
from symphony import Cluster
from symphony.cluster import progress as progress_module
from waiting import wait_for


def test_a_slow_local_delete_counts_processes_stopped(symphony_home, monkeypatch, tmp_path):
    monkeypatch.setattr(progress_module, "DELAY", 0.2)
    cluster = Cluster.new("local", grace=1.5)
    exp = cluster.new_experiment("stopping")
    # ignore SIGTERM (the delete waits its grace period, long enough to be shown), then say so
    stubborn = ("import pathlib, signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                "pathlib.Path(sys.argv[1]).touch(); time.sleep(600)")
    ready = [tmp_path / f"p{index}.ready" for index in range(3)]
    for index, path in enumerate(ready):
        exp.new_process(f"p{index}", command=sys.executable, args=["-c", stubborn, str(path)])
    cluster.launch(exp)
    wait_for(lambda: all(path.exists() for path in ready))
    terminal = PseudoTerminal()
    monkeypatch.setattr(sys, "stderr", terminal.stream)
    try:
        cluster.delete("stopping")
    finally:
        monkeypatch.undo()
        terminal.close()
    text = terminal.data.decode()
    assert "\r\x1b[Kdeleting 'stopping': 0/3 processes stopped" in text, text
    assert text.endswith("\r\x1b[K") and "\n" not in text, text


def _hold_second_start(name):
    """Make the second of the three processes of :func:`_launch_in_background` block its start until the
    test lets it go: its log is a FIFO, which the supervisor's open for writing waits on until someone
    opens it for reading. Returns the FIFO and the first process's log."""
    from symphony.host.plan import log_path_for
    log_dir = Cluster.new("local")._log_dir(name)
    os.makedirs(log_dir, mode=0o700, exist_ok=True)
    fifo = log_path_for(log_dir, "p1")
    os.mkfifo(fifo, 0o600)
    return fifo, log_path_for(log_dir, "p0")


def _launch_in_background(name):
    """Launch three processes from another thread (with its own cluster: a state connection stays in its thread)."""
    errors = []

    def launch():
        try:
            cluster = Cluster.new("local")
            exp = cluster.new_experiment(name)
            for index in range(3):
                exp.new_process(f"p{index}", command="sleep", args=["600"])
            cluster.launch(exp)
        except BaseException as exc:  # (said by the test)
            errors.append(exc)
    thread = threading.Thread(target=launch, daemon=True)
    thread.start()
    return thread, errors


def _delete_if_launched(name):
    cluster = Cluster.new("local")
    if name in cluster.list_experiments():
        cluster.delete(name)


def test_a_slow_local_launch_counts_processes_running(symphony_home, monkeypatch, tmp_path):
    monkeypatch.setattr(progress_module, "DELAY", 0.2)
    fifo, _ = _hold_second_start("holding")
    terminal = PseudoTerminal()
    monkeypatch.setattr(sys, "stderr", terminal.stream)
    reader = None
    try:
        thread, errors = _launch_in_background("holding")
        # the first start is reported at once; the second waits on its log, so the count stays there
        terminal.wait_for("\r\x1b[Klaunching 'holding': 1/3 processes running")
        reader = os.open(fifo, os.O_RDONLY)  # lets the second start go on
        thread.join(60)
        assert not thread.is_alive() and not errors, errors
    finally:
        monkeypatch.undo()
        text = terminal.text()
        terminal.close()
        if reader is None:  # (failed before letting the start go on: let it, so that the delete can end)
            reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        thread.join(60)
        try:
            _delete_if_launched("holding")
        finally:
            os.close(reader)
    # the line is erased before the summary, which stays alone on its line
    assert text.endswith("\r\x1b[Klaunched 'holding' on the local backend: 3 processes (symphony p to watch)\r\n"), text


def test_a_slow_local_launch_writes_nothing_extra_when_piped(symphony_home, monkeypatch, tmp_path):
    monkeypatch.setattr(progress_module, "DELAY", 0.0)  # (would draw at once on a terminal)
    fifo, first_log = _hold_second_start("piped")
    read_end, write_end = os.pipe()
    piped = open(write_end, "w", buffering=1, encoding="utf-8")
    monkeypatch.setattr(sys, "stderr", piped)
    reader = None
    try:
        thread, errors = _launch_in_background("piped")
        wait_for(lambda: os.path.exists(first_log))  # the first process started (and was reported)
        reader = os.open(fifo, os.O_RDONLY)
        thread.join(60)
        assert not thread.is_alive() and not errors, errors
    finally:
        monkeypatch.undo()
        piped.close()
        if reader is None:  # (failed before letting the start go on: let it, so that the delete can end)
            reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        thread.join(60)
        try:
            _delete_if_launched("piped")
        finally:
            os.close(reader)
    with open(read_end, encoding="utf-8") as written:
        assert written.read() == "launched 'piped' on the local backend: 3 processes (symphony p to watch)\n"
