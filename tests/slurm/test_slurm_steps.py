"""The steps' side of the slurm backend on the real test cluster: the runner (started before the
addresses are known, told what to run on its stdin), the driver's node-list reading, and an
interactive ``symphony ssh`` through ``srun --overlap --pty``."""

import os
import pty
import select
import subprocess
import sys
import time

import pytest

from slurmhelpers import experiment_processes
from symphony.slurm.driver import hostnames
from waiting import wait_for

pytestmark = pytest.mark.slow


def statuses(cluster, name):
    return {status.key: status for status in cluster.describe_experiment(name)}


@pytest.mark.parametrize("nodelist", ["n1", "n[1-3]", "n[1,3]", "n1,n[2-3]", "gpu[07-09,11],login",
                                      "a[01-02],c", "node[9-11]"])
def test_node_lists_are_expanded_as_scontrol_does(slurm_conf, nodelist):
    expected = subprocess.run(["scontrol", "show", "hostnames", nodelist], capture_output=True, text=True, check=True,
                              env={**os.environ, "SLURM_CONF": slurm_conf}).stdout.split()
    assert hostnames(nodelist) == expected


def test_a_looking_runner_prints_its_node_s_free_ports_before_it_waits():
    """The first step on each node answers the driver's port question, then reads its stdin as every runner."""
    import json
    import socket
    from symphony.slurm.paths import RUNNER
    holder = socket.socket()
    holder.bind(("0.0.0.0", 0))
    holder.listen()
    taken = holder.getsockname()[1]
    try:
        runner = subprocess.Popen([sys.executable, "-I", "-S", RUNNER, "--probe", f"20000,30000,3,{taken}", "-"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        answer = json.loads(runner.stdout.readline())
        assert runner.poll() is None  # still waiting on its stdin
        runner.stdin.close()  # nothing to run: the launch failed before it told this step anything
        assert runner.wait(timeout=30) == 0
    finally:
        holder.close()
    assert answer["busy"] == [taken]
    assert len(set(answer["free"])) == 3 and all(20000 <= port <= 30000 for port in answer["free"])


def test_a_missing_program_and_a_process_ignoring_sigterm(slurm):
    cluster = slurm(grace=1.0)
    exp = cluster.new_experiment("ends")
    exp.new_process("missing", command="no-such-program-here", args=["x"])
    exp.new_process("stubborn", ["trap '' TERM; echo up; while true; do sleep 0.2; done"])
    cluster.launch(exp)
    missing = wait_for(lambda: statuses(cluster, "ends")["missing"].state == "exited"
                       and statuses(cluster, "ends")["missing"])
    assert missing.exit_code == 127 and missing.restarts == 0
    assert "symphony: no-such-program-here: No such file or directory" in "\n".join(cluster.get_log("ends", "missing"))
    wait_for(lambda: "up" in "\n".join(cluster.get_log("ends", "stubborn")))
    assert experiment_processes("ends")
    started = time.monotonic()
    cluster.delete("ends")  # SIGTERM is ignored: SIGKILL after the 1 s grace ends it
    wait_for(lambda: not experiment_processes("ends"), timeout=15)
    assert time.monotonic() - started < 30
    assert cluster.list_experiments() == []


def test_ssh_is_an_interactive_shell_on_the_process_s_node(slurm):
    cluster = slurm()
    exp = cluster.new_experiment("shell")
    exp.new_process("box", ["sleep 600"], env={"MARK": "here"}).node_selector("node", "node2")
    cluster.launch(exp)
    pid, fd = pty.fork()
    if pid == 0:  # the child: the command as a user types it, on a terminal
        os.execv(sys.executable, [sys.executable, "-m", "symphony.cli", "-b", "slurm", "ssh", "box", "shell"])
    seen = b""
    deadline = time.monotonic() + 90
    try:
        os.write(fd, b"echo tty=$(tty | cut -c1-8) $((6*7)) $SLURMD_NODENAME $MARK; exit 3\n")
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 1.0)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the terminal closed: the shell ended
                break
            if not chunk:
                break
            seen += chunk
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    text = seen.decode(errors="replace")
    assert "tty=/dev/pts 42 n2 here" in text, text
    assert os.waitstatus_to_exitcode(status) == 3, text
