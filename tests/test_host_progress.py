"""Host backends: a delete that takes a while counts the processes stopped on one terminal line."""

import sys
import time

from pseudoterminal import PseudoTerminal
from symphony import Cluster
from symphony.cluster import progress as progress_module


def test_a_slow_local_delete_counts_processes_stopped(symphony_home, monkeypatch):
    monkeypatch.setattr(progress_module, "DELAY", 0.2)
    cluster = Cluster.new("local", grace=1.5)
    exp = cluster.new_experiment("stopping")
    stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"
    for index in range(3):  # ignore SIGTERM: the delete waits its grace period, long enough to be shown
        exp.new_process(f"p{index}", command=sys.executable, args=["-c", stubborn])
    cluster.launch(exp)
    time.sleep(1.0)  # the SIGTERM handlers are set
    terminal = PseudoTerminal()
    monkeypatch.setattr(sys, "stderr", terminal.stream)
    try:
        cluster.delete("stopping")
        time.sleep(0.2)
    finally:
        monkeypatch.undo()
        terminal.close()
    text = terminal.data.decode()
    assert "\r\x1b[Kdeleting 'stopping': 0/3 processes stopped" in text, text
    assert text.endswith("\r\x1b[K") and "\n" not in text, text
