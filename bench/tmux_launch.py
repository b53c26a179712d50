"""Launch time of 100 tmux windows: TmuxCluster vs one chained tmux call vs libtmux per window.

All three build the same session on the same private tmux server, in the same run,
alternately: N windows, each running ``sleep 600`` and binding a service, so every
window sees 3 N SYMPH_* address variables (set once on the session) plus its own
SYMPH_PROCESS (``-e``); each with ``remain-on-exit on``, a ``pane-died`` hook and its
output piped to a log file. Measured is the wall time of the launch call itself:

* **symphony**: ``TmuxCluster.launch(exp)``, everything a user waits for: validation,
  planning, port reservation in the shared SQLite state, the tmux call;
* **chained**: the floor: one ``tmux source-file`` of a hand-written command sequence
  doing the same per window (no Symphony code, no state);
* **libtmux**: the idiomatic one-call-per-window way (``Session.new_window`` with
  ``environment=``, then ``set_option`` and ``pipe-pane`` per window), as the original
  Symphony did minus its "wait until the shell printed" poll.

The server is started once beforehand, so no method pays for starting it. Each
launch starts on a settled server: after a method's session is torn down, the next
launch waits until tmux has closed its windows and their processes are gone, so no
launch competes with the teardown of the previous one's 100 windows. The order of
the three methods rotates each repeat, so none always runs first or last. Printed:
every run's time, then per method the median time and the median over repeats of
its time over the chained call's time in the same repeat.

    python bench/tmux_launch.py [--windows 100] [--repeat 5]
"""

import argparse
import contextlib
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

import libtmux

from symphony import Cluster
from symphony.host.processes import find_run_processes
from symphony.tmux.script import log_pipe_command, quote


def tmux(server, *args):
    subprocess.run(["tmux", "-L", server, *args], check=True, capture_output=True)


def declare(cluster, name, windows):
    exp = cluster.new_experiment(name)
    for i in range(windows):
        exp.new_process(f"p{i}", command="sleep", args=["600"]).binds(f"s{i}")
    return exp


def baseline_envs(name, windows, log_dir):
    """Environment and logs of the baselines, as Symphony plans them: the variables every window
    shares (three per service) once on the session, each window's own with ``-e``."""
    shared = {f"SYMPH_S{i}_{part}": value for i in range(windows)
              for part, value in (("HOST", "127.0.0.1"), ("PORT", str(30000 + i)), ("ADDR", f"127.0.0.1:{30000 + i}"))}
    shared.update({"SYMPH_BIND_HOST": "127.0.0.1", "SYMPH_RUN_ID": name, "SYMPH_EXPERIMENT": name})
    return shared, [({"SYMPH_PROCESS": f"p{i}"}, os.path.join(log_dir, f"p{i}.log")) for i in range(windows)]


def run_symphony(cluster, windows, name):
    exp = declare(cluster, name, windows)
    with contextlib.redirect_stdout(io.StringIO()):  # its "attach with" line, not the table's
        start = time.perf_counter()
        cluster.launch(exp)
        elapsed = time.perf_counter() - start
    return elapsed, lambda: cluster.delete(name)


def run_chained(server, windows, name, log_dir):
    start = time.perf_counter()
    shared, own = baseline_envs(name, windows, log_dir)
    session_env = " ".join(f"-e {quote(f'{k}={v}')}" for k, v in shared.items())
    commands = [f"new-session -d -s {name} -n launch {session_env} -- sleep 600"]
    for i, (env, log) in enumerate(own, start=1):
        target = f"={name}:{i}"
        options = " ".join(f"-e {quote(f'{k}={v}')}" for k, v in env.items())
        commands += [f"new-window -d -t {target} -n p{i} {options} -- sleep 600",
                     f"set-option -w -t {target} remain-on-exit on",
                     f"set-hook -w -t {target} pane-died {quote('run-shell -b true')}",
                     f"pipe-pane -t {target} {quote(log_pipe_command(log))}"]
    commands.append(f"kill-window -t ={name}:launch")
    path = os.path.join(log_dir, f"{name}.tmux")
    with open(path, "w") as handle:
        handle.write(" ; ".join(commands) + "\n")
    tmux(server, "source-file", path)
    elapsed = time.perf_counter() - start
    return elapsed, lambda: tmux(server, "kill-session", "-t", f"={name}")


def run_libtmux(server, windows, name, log_dir):
    start = time.perf_counter()
    shared, own = baseline_envs(name, windows, log_dir)
    session = libtmux.Server(socket_name=server).new_session(
        session_name=name, window_name="launch", window_command="sleep 600", environment=shared, attach=False)
    for i, (env, log) in enumerate(own, start=1):
        window = session.new_window(window_name=f"p{i}", window_shell="sleep 600", environment=env, attach=False)
        window.set_option("remain-on-exit", "on")
        window.cmd("set-hook", "-w", "pane-died", "run-shell -b true")
        window.active_pane.cmd("pipe-pane", log_pipe_command(log))
    session.kill_window("launch")
    elapsed = time.perf_counter() - start
    return elapsed, lambda: tmux(server, "kill-session", "-t", f"={name}")


def settle(server, name, timeout=30):
    """Wait until ``name``'s session is gone and its windows' processes have exited, then a little more.

    (Symphony's own delete already waits for its processes; the baselines' kill-session does not.)
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sessions = subprocess.run(["tmux", "-L", server, "list-sessions", "-F", "#{session_name}"],
                                  capture_output=True, text=True).stdout.split()
        if name not in sessions and not find_run_processes(name):  # the baselines' SYMPH_RUN_ID is their name
            break
        time.sleep(0.05)
    time.sleep(0.5)


def load_average():
    return " ".join(f"{load:.2f}" for load in os.getloadavg())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("SYMPHONY_HOME", tempfile.mkdtemp(prefix="symphony-bench-"))
    log_dir = tempfile.mkdtemp(prefix="symphony-bench-logs-")
    server = f"symphony-bench-{uuid.uuid4().hex[:8]}"
    tmux(server, "-f", os.devnull, "new-session", "-d", "-s", "keep-server-up", "sleep", "3600")
    cluster = Cluster.new("tmux", server_name=server, grace=1)
    start_load = load_average()
    methods = ["symphony", "chained", "libtmux"]
    times = {method: [] for method in methods}
    try:
        for r in range(args.repeat):
            for method in methods[r % 3:] + methods[:r % 3]:
                name = f"{method}-{r}"
                if method == "symphony":
                    elapsed, cleanup = run_symphony(cluster, args.windows, name)
                elif method == "chained":
                    elapsed, cleanup = run_chained(server, args.windows, name, log_dir)
                else:
                    elapsed, cleanup = run_libtmux(server, args.windows, name, log_dir)
                times[method].append(elapsed)
                time.sleep(0.5)  # let the windows' processes start before tearing down
                cleanup()
                settle(server, name)
    finally:
        subprocess.run(["tmux", "-L", server, "kill-server"], capture_output=True)
        socket = os.path.join(os.environ.get("TMUX_TMPDIR") or "/tmp", f"tmux-{os.getuid()}", server)
        if os.path.exists(socket):  # tmux leaves its socket file behind
            os.unlink(socket)
    print("every run (s), in the order measured within each repeat:")
    for r in range(args.repeat):
        order = methods[r % 3:] + methods[:r % 3]
        print(f"  repeat {r + 1}: " + ", ".join(f"{method} {times[method][r]:.3f}" for method in order))
    chained = times["chained"]
    print(f"\n| {args.windows} windows | median launch (s) | median ratio to one chained tmux call |")
    print("|---|---:|---:|")
    for method, label in (("chained", "one chained tmux call (source-file)"),
                          ("symphony", "TmuxCluster.launch"),
                          ("libtmux", "libtmux, one call per window")):
        ratio = statistics.median(t / c for t, c in zip(times[method], chained))  # within each repeat
        print(f"| {label} | {statistics.median(times[method]):.3f} | {ratio:.2f}× |")
    print(f"\nmedian of {args.repeat} runs each (order rotated per repeat); ratio: median over repeats of "
          f"time / chained time of the same repeat; {os.cpu_count()} cores; load average {start_load} "
          f"at the start, {load_average()} at the end; "
          f"tmux {subprocess.run(['tmux', '-V'], capture_output=True, text=True).stdout.split()[-1]}; "
          f"python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
