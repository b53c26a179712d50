"""A Docker launch or delete that takes a while counts its containers on one terminal line."""

import os
import pty
import sys
import threading
import time

from dockerhelpers import BASE_IMAGE
from symphony.cluster import progress as progress_module
from symphony.spec.model import ExperimentSpec


class _Terminal:
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


def test_launch_and_delete_on_a_terminal_count_containers(cluster, new_name, monkeypatch):
    monkeypatch.setattr(progress_module, "DELAY", 0.05)  # any real launch of a dozen containers takes longer
    name = new_name()
    exp = ExperimentSpec(name)
    group = exp.new_process_group("pair")
    for index in range(2):
        group.new_process(f"g{index}", container_image=BASE_IMAGE, command="sleep", args=["600"])
    for index in range(9):
        exp.new_process(f"p{index}", container_image=BASE_IMAGE, command="sleep", args=["600"])
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal.stream)
    try:
        cluster.launch(exp)
        cluster.delete(name)
        time.sleep(0.2)
    finally:
        monkeypatch.undo()
        terminal.stream.close()
        os.close(terminal.master)
    text = terminal.data.decode()
    # 12 containers: the group's holder, its two members, nine standalone processes
    assert f"\r\x1b[Klaunching {name!r}: " in text and "/12 containers started" in text, text
    assert f"\r\x1b[Kdeleting {name!r}: " in text and "/12 containers removed" in text, text
    lines = text.split("\r\n")
    assert len(lines) == 2 and lines[1].endswith("\r\x1b[K"), lines  # the launch's summary line, then one erased line
