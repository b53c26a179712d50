"""Each window's runner: the process it runs, the status it records, and what a killed tmux server leaves."""

import json
import os
import signal
import subprocess
import sys

import pytest

from symphony import Cluster
from symphony.host.processes import find_run_processes
from symphony.status import ProcessState
from waiting import wait_for

pytestmark = [pytest.mark.tmux, pytest.mark.slow]

#: what tmux itself adds to the environment of a window's program
# tmux gives every pane SHELL (its default-shell) when the launching environment has none
TMUX_OWN = {"TMUX", "TMUX_PANE", "TERM", "TERM_PROGRAM", "TERM_PROGRAM_VERSION", "SHELL"}


def tmux(server_name, *args):
    return subprocess.run(["tmux", "-L", server_name, *args], capture_output=True, text=True)


def statuses(cluster, name):
    return {s.key: s for s in cluster.describe_experiment(name)}


def parsed(path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def lines_of(path):
    try:
        return path.read_text().split()
    except OSError:
        return []


def test_the_process_has_exactly_its_planned_argv_and_environment_and_owns_the_terminal(
        tmux_cluster, server_name, tmp_path, monkeypatch):
    probe = tmp_path / "probe.json"
    code = ("import json, os, sys, time; "  # (its environment as given: this Python adds LC_CTYPE to os.environ)
            "env = dict(e.split('=', 1) for e in open('/proc/self/environ').read().split(chr(0)) if '=' in e); "
            "json.dump({'env': env, 'pid': os.getpid(), 'pgrp': os.getpgrp(), 'foreground': os.tcgetpgrp(0)}, "
            "open(sys.argv[1], 'w')); time.sleep(600)")
    exp = tmux_cluster.new_experiment("exact", env={"OWN": "value"})
    exp.new_process("probe", command=sys.executable, args=["-c", code, str(probe), "two words", ""])
    exp.new_process("sleeper", command="sleep", args=["600"]).restart_policy("Never")
    with monkeypatch.context() as patch:  # a C locale: Python adds LC_CTYPE to its own environment (PEP 538)
        patch.setenv("LANG", "C")
        patch.delenv("LC_ALL", raising=False)
        patch.delenv("LC_CTYPE", raising=False)
        tmux_cluster.launch(exp)
        launching_env = dict(os.environ)
    seen = wait_for(lambda: parsed(probe))

    with open(f"/proc/{seen['pid']}/cmdline", "rb") as handle:
        argv = handle.read().split(b"\0")[:-1]
    assert argv == [os.fsencode(arg) for arg in (sys.executable, "-c", code, str(probe), "two words", "")]
    plan = tmux_cluster.plan(exp)
    planned_env = next(p for p in plan.processes if p.key == "probe").env
    extra = set(seen["env"]) - set(launching_env) - set(planned_env)
    assert extra <= TMUX_OWN, f"variables beyond the plan's and the launching shell's: {extra - TMUX_OWN}"
    assert "LC_CTYPE" not in seen["env"] and seen["env"]["OWN"] == "value"
    assert seen["foreground"] == seen["pgrp"] == seen["pid"], "the process leads the terminal's foreground group"
    with open(f"/proc/{seen['pid']}/comm") as handle:
        command = handle.read().strip()
    shown = tmux(server_name, "display-message", "-p", "-t", "=exact:1", "#{pane_current_command}").stdout.strip()
    assert shown == command
    assert statuses(tmux_cluster, "exact")["probe"].pid == seen["pid"]

    # keys typed in the window (after `symphony ssh`) reach the process, not its runner
    wait_for(lambda: statuses(tmux_cluster, "exact")["sleeper"].pid)
    assert tmux(server_name, "send-keys", "-t", "=exact:2", "C-c").returncode == 0
    sleeper = wait_for(lambda: (s := statuses(tmux_cluster, "exact")["sleeper"]).state.finished and s)
    assert (sleeper.state, sleeper.signal) == (ProcessState.KILLED, "SIGINT")


@pytest.mark.parametrize("ending, shown", [("exit 5", "restarting (exit 5): "),
                                           ("kill -TERM $$", "restarting (SIGTERM): ")])
def test_restarting_shows_how_the_last_run_ended_as_on_the_local_backend(server_name, ending, shown):
    tmux_cluster = Cluster.new("tmux", server_name=server_name, grace=1.0, restart_backoff=20)
    local_cluster = Cluster.new("local", grace=1.0, restart_backoff=20)
    texts = {}
    for cluster in (tmux_cluster, local_cluster):
        exp = cluster.new_experiment("again")
        exp.new_process("p", cmds=[ending]).restart_policy("OnFailure")
        cluster.launch(exp)
        found = wait_for(lambda: (s := statuses(cluster, "again")["p"]).state == ProcessState.RESTARTING and s)
        texts[cluster.backend_name] = found.state_text()
        cluster.delete("again")
    assert texts["tmux"].startswith(shown) and texts["local"].startswith(shown), texts


def test_a_program_gone_before_a_restart_ends_the_process_with_127_and_says_why(tmux_cluster, tmp_path):
    program = tmp_path / "once"
    program.write_text(f"#!/bin/sh\nrm -f '{program}'\nexit 1\n")
    program.chmod(0o755)
    exp = tmux_cluster.new_experiment("vanish")
    exp.new_process("p", command=str(program)).restart_policy("OnFailure")
    tmux_cluster.launch(exp)
    found = wait_for(lambda: (s := statuses(tmux_cluster, "vanish")["p"]).state.finished and s)
    assert (found.state, found.exit_code) == (ProcessState.EXITED, 127)
    logged = wait_for(lambda: [line for line in tmux_cluster.get_log("vanish", "p") if line.startswith("symphony:")])
    assert logged == [f"symphony: cannot run {str(program)!r}: No such file or directory"]


def test_a_tmux_server_killed_with_sigkill_leaves_nothing_running_and_nothing_started_twice(
        server_name, tmp_path):
    cluster = Cluster.new("tmux", server_name=server_name, grace=1.0, restart_backoff=0.1)
    starts = {key: tmp_path / f"{key}.starts" for key in ("plain", "ignores-hup", "stubborn", "daemon", "flaky")}
    daemon_pid = tmp_path / "daemon.pid"

    def started(key):
        return f"echo $$ >> '{starts[key]}'"
    exp = cluster.new_experiment("fault")
    exp.new_process("plain", cmds=[started("plain"), "exec sleep 600"])
    exp.new_process("ignores-hup", cmds=[started("ignores-hup"), "trap '' HUP", "sleep 600"])
    exp.new_process("stubborn", cmds=[started("stubborn"), "trap '' HUP TERM", "sleep 600 & wait"])
    exp.new_process("daemon", cmds=[started("daemon"),  # leaves the window's process group, ignores the hangup
                                    f"setsid sh -c 'trap \"\" HUP; echo $$ > {daemon_pid}; exec sleep 600' &",
                                    "sleep 600"])
    exp.new_process("flaky", cmds=[started("flaky"), "sleep 0.3", "exit 3"]).restart_policy("OnFailure")
    cluster.launch(exp)
    run_id = cluster.store.get_experiment("tmux", "fault")["run_id"]
    wait_for(lambda: all(lines_of(path) for path in starts.values()) and daemon_pid.exists()
             and len(lines_of(starts["flaky"])) >= 2)
    server_pid = int(tmux(server_name, "display-message", "-p", "#{pid}").stdout)

    os.kill(server_pid, signal.SIGKILL)
    wait_for(lambda: find_run_processes(run_id) == [], timeout=30)  # runners included: nobody can start anything

    assert all(len(lines_of(path)) == 1 for key, path in starts.items() if key != "flaky"), \
        {key: lines_of(path) for key, path in starts.items()}
    found = statuses(cluster, "fault")
    assert {s.state for s in found.values()} == {ProcessState.LOST}
    assert all(f"tmux server {server_name!r} is not running" in s.state_text() for s in found.values())
    assert len(lines_of(starts["flaky"])) == found["flaky"].restarts + 1, "each run started once"
    assert tmux(server_name, "list-sessions").returncode != 0, "no server was started again"

    cluster.delete("fault")
    assert cluster.list_experiments() == [] and find_run_processes(run_id) == []
    assert not os.path.exists(os.path.join(cluster.store.home, "logs", "tmux", "fault"))
