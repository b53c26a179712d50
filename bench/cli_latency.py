"""How long `symphony p` takes on a 100-process local experiment, next to `python -c pass` and `tmux ls`.

    .venv/bin/python bench/cli_latency.py [--processes 100] [--rounds 30]

All commands are timed in the same run, interleaved round by round, so a busy
machine slows them all alike; the ratios are the result, the milliseconds are
context. `symphony p` is timed twice: piped (plain text, what scripts see) and on a
pseudo-terminal (the coloured table people see); `symphony ls` and `symphony logs` are
timed too. The budgets: 150 ms wall, and at most 5 times `python -c pass`. The load
average is printed with the table: other work on the machine shows in the milliseconds.

The commands run as after an install: Python's bytecode cache is used even when
PYTHONDONTWRITEBYTECODE is set here (the warm-up round writes the .pyc files), since
compiling every module on every run is not what a user's `symphony p` does.
"""

import argparse
import os
import pty
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from installed import compile_sources

BUDGET_MS = 150.0
#: at most this many times `python -c pass`
BUDGET_RATIO = 5.0


def timed(argv, env, on_terminal=False):
    """Wall time in ms of one run of ``argv``, output discarded (or drained from a pty)."""
    if on_terminal:
        master, slave = pty.openpty()
        start = time.perf_counter()
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, env=env)
        os.close(slave)
        while True:
            try:
                if not os.read(master, 65536):
                    break
            except OSError:
                break
        process.wait()
        elapsed = time.perf_counter() - start
        os.close(master)
    else:
        start = time.perf_counter()
        process = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        elapsed = time.perf_counter() - start
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed with exit code {process.returncode}")
    return elapsed * 1000


def symphony_command():
    script = os.path.join(os.path.dirname(sys.executable), "symphony")
    return [script] if os.path.exists(script) else [sys.executable, "-m", "symphony.cli"]


def main():
    compile_sources()  # measured as installed: bytecode compiled (see bench/installed.py)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()

    home = tempfile.mkdtemp(prefix="symphony-cli-bench-")
    os.environ["SYMPHONY_HOME"] = home
    env = {**os.environ, "SYMPHONY_BACKEND": "local"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # see the module docstring
    tmux_socket = f"symphony-bench-{os.getpid()}"
    from symphony import Cluster
    cluster = Cluster.new("local", grace=1.0)
    exp = cluster.new_experiment("latency")
    for i in range(args.processes):
        exp.new_process(f"worker-{i}", command="sleep", args=["600"])
    cluster.launch(exp)
    try:
        commands = {
            "python -c pass": ([sys.executable, "-c", "pass"], False),
            f"symphony p ({args.processes} processes, piped)": ([*symphony_command(), "p"], False),
            f"symphony p ({args.processes} processes, terminal)": ([*symphony_command(), "p"], True),
            "symphony ls": ([*symphony_command(), "ls"], False),
            "symphony logs worker-0": ([*symphony_command(), "logs", "worker-0"], False),
        }
        if shutil.which("tmux"):
            subprocess.run(["tmux", "-L", tmux_socket, "new-session", "-d", "-s", "bench", "sleep 600"], check=True)
            commands["tmux ls"] = (["tmux", "-L", tmux_socket, "ls"], False)
        for argv, on_terminal in commands.values():  # warm the page cache and .pyc files
            timed(argv, env, on_terminal)
        samples = {name: [] for name in commands}
        for _ in range(args.rounds):
            for name, (argv, on_terminal) in commands.items():
                samples[name].append(timed(argv, env, on_terminal))
    finally:
        cluster.delete("latency")
        subprocess.run(["tmux", "-L", tmux_socket, "kill-server"], stderr=subprocess.DEVNULL)
        socket_path = os.path.join(os.environ.get("TMUX_TMPDIR") or "/tmp", f"tmux-{os.getuid()}", tmux_socket)
        if os.path.exists(socket_path):  # tmux leaves its socket file behind
            os.unlink(socket_path)
        shutil.rmtree(home, ignore_errors=True)

    medians = {name: statistics.median(values) for name, values in samples.items()}
    base = medians["python -c pass"]
    tmux = medians.get("tmux ls")
    print(f"{'command':44} {'median ms':>10} {'p90 ms':>8} {'x python':>9} {'x tmux ls':>10}")
    for name, values in samples.items():
        p90 = statistics.quantiles(values, n=10)[-1]
        versus_tmux = f"{medians[name] / tmux:10.1f}" if tmux else f"{'-':>10}"
        print(f"{name:44} {medians[name]:10.1f} {p90:8.1f} {medians[name] / base:9.1f} {versus_tmux}")
    print("load average (1, 5, 15 min): " + ", ".join(f"{load:.2f}" for load in os.getloadavg()))
    for name in samples:
        if name.startswith("symphony p"):
            verdict = "within" if medians[name] <= BUDGET_MS else "OVER"
            ratio = "within" if medians[name] <= BUDGET_RATIO * base else "OVER"
            print(f"{name}: {verdict} the {BUDGET_MS:.0f} ms budget, {ratio} {BUDGET_RATIO:.0f}x python -c pass")


if __name__ == "__main__":
    main()
