"""A Docker launch or delete that takes a while counts its containers on one terminal line."""

import sys
import time

from dockerhelpers import BASE_IMAGE
from pseudoterminal import PseudoTerminal
from symphony.cluster import progress as progress_module
from symphony.spec.model import ExperimentSpec


def test_launch_and_delete_on_a_terminal_count_containers(cluster, new_name, monkeypatch):
    monkeypatch.setattr(progress_module, "DELAY", 0.05)  # any real launch of a dozen containers takes longer
    name = new_name()
    exp = ExperimentSpec(name)
    group = exp.new_process_group("pair")
    for index in range(2):
        group.new_process(f"g{index}", container_image=BASE_IMAGE, command="sleep", args=["600"])
    for index in range(9):
        exp.new_process(f"p{index}", container_image=BASE_IMAGE, command="sleep", args=["600"])
    terminal = PseudoTerminal()
    monkeypatch.setattr(sys, "stderr", terminal.stream)
    try:
        cluster.launch(exp)
        cluster.delete(name)
        time.sleep(0.2)
    finally:
        monkeypatch.undo()
        terminal.close()
    text = terminal.data.decode()
    # 12 containers: the group's holder, its two members, nine standalone processes
    assert f"\r\x1b[Klaunching {name!r}: " in text and "/12 containers started" in text, text
    assert f"\r\x1b[Kdeleting {name!r}: " in text and "/12 containers removed" in text, text
    lines = text.split("\r\n")
    assert len(lines) == 2 and lines[1].endswith("\r\x1b[K"), lines  # the launch's summary line, then one erased line
