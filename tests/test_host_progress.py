"""Host backends: a delete that takes a while counts the processes stopped on one terminal line."""

import sys

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
