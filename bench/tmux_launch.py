"""Launch time of N tmux windows: TmuxCluster vs one chained tmux call, side by side, N = 10, 100, 400.

Both build the same session on the same private tmux server, in the same run, alternately:
N windows, each running a program that binds its own TCP port on 127.0.0.1 (a service of the
experiment, so every window's program sees 3 N SYMPH_* address variables, plus its own
SYMPH_PROCESS with ``-e``), with ``remain-on-exit on`` and its output piped to a log file.
The chained call sets the addresses once on the session, as a hand-written script would;
Symphony writes them to a file that each window's runner adds to its process's environment
(tmux would set the session's variables in every window one by one, in time growing with
their number squared: see symphony/tmux/runner.pl). Both pick ports below the kernel's
ephemeral range. Measured is the wall time from the launch call until every port accepts a
connection:

* **symphony**: ``TmuxCluster.launch(exp)``, everything a user waits for: validation,
  planning, port reservation in the shared SQLite state, the tmux call, each window's runner
  starting its process;
* **chained**: the floor: one ``tmux source-file`` of a hand-written command sequence doing
  the same per window, the program being the window's own (no runner, no Symphony code).

Also measured, for Symphony, once every port accepts: ``symphony p`` (the command, a fresh
process, as a user runs it); per window, the CPU time and private memory of its runner; and the
CPU the runners and the experiment's log indexer use together while the processes idle.

The server is started once beforehand, so no launch pays for starting it. After each
launch the session is torn down, and the next launch waits until tmux has closed its windows
and their processes are gone. The order of the two methods alternates per repeat. Printed:
every run's time, then per N the medians and the median over repeats of Symphony's time over
the chained call's time in the same repeat.

    python bench/tmux_launch.py [--sizes 10,100,400] [--repeat 3]

The CPU every process involved used for each launch is also measured (this process and the tmux
clients it ran, the tmux server and the helpers it reaped, the session's processes), a figure that
other work on a shared machine disturbs less than wall time.

``measure_tmux(n)`` returns one N's figures as a dict (``symphony_s``, ``baseline_s``, ``p_s``,
``ratio``, ``cpu_ratio``, ``idle_cpu_pct``, ``runner_cpu_ms``, ``runner_private_kb``) for other benchmarks to tabulate.
"""

import argparse
import contextlib
import io
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

from listening import free_ports, wait_until_listening

from symphony import Cluster
from symphony.host.processes import all_pids, find_run_processes
from symphony.tmux.script import log_pipe_command, quote
from installed import compile_sources

#: how a window's runner is told apart: its program file (a Perl one; Python before it) is among its arguments
RUNNER_FILES = (os.path.join("symphony", "tmux", "runner.pl"), os.path.join("symphony", "tmux", "runner.py"))
#: how long the runners' and the log indexer's CPU is sampled while the processes idle
IDLE_SECONDS = 3.0
#: each window's program: bind the port of its own service and wait; in Python (about 30 ms of CPU to
#: start, as most experiments' processes), or in Perl (about 10 ms: Symphony's own cost weighs more)
SERVERS = {
    "python": [sys.executable, "-S", "-c",
               "import os, socket, sys, time; "
               "s = socket.create_server(('127.0.0.1', int(os.environ['SYMPH_S' + sys.argv[1] + '_PORT']))); "
               "time.sleep(600)"],
    "perl": ["perl", "-MSocket", "-e",
             'socket(my $s, PF_INET, SOCK_STREAM, 0) or die "$!"; setsockopt($s, SOL_SOCKET, SO_REUSEADDR, 1); '
             'bind($s, pack_sockaddr_in($ENV{"SYMPH_S$ARGV[0]_PORT"}, inet_aton("127.0.0.1"))) or die "$!"; '
             'listen($s, 16); sleep 600'],
}


def program(kind, i):
    return [*SERVERS[kind], str(i)]


def tmux(server, *args):
    subprocess.run(["tmux", "-L", server, *args], check=True, capture_output=True)


def run_symphony(cluster, windows, name, kind):
    exp = cluster.new_experiment(name)
    for i in range(windows):
        command, *args = program(kind, i)
        exp.new_process(f"p{i}", command=command, args=args).binds(f"s{i}")
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        start = time.perf_counter()
        cluster.launch(exp)
        ports = [cluster.store.service_port("tmux", name, f"s{i}") for i in range(windows)]
        wait_until_listening(ports)
        elapsed = time.perf_counter() - start
    return elapsed


def run_chained(server, windows, name, log_dir, kind):
    ports = free_ports(windows)
    start = time.perf_counter()
    shared = {f"SYMPH_S{i}_{part}": value for i, port in enumerate(ports)
              for part, value in (("HOST", "127.0.0.1"), ("PORT", str(port)), ("ADDR", f"127.0.0.1:{port}"))}
    shared.update({"SYMPH_BIND_HOST": "127.0.0.1", "SYMPH_RUN_ID": name, "SYMPH_EXPERIMENT": name})
    session_env = " ".join(f"-e {quote(f'{k}={v}')}" for k, v in shared.items())
    commands = [f"new-session -d -s {name} -n launch {session_env} -- true"]
    for i in range(windows):
        target = f"={name}:{i + 1}"
        commands += [f"new-window -d -t {target} -n p{i} -e {quote(f'SYMPH_PROCESS=p{i}')} -- "
                     + " ".join(quote(arg) for arg in program(kind, i)),
                     f"set-option -w -t {target} remain-on-exit on",
                     f"pipe-pane -t {target} {quote(log_pipe_command(os.path.join(log_dir, f'{name}-p{i}.log')))}"]
    commands.append(f"kill-window -t ={name}:launch")
    path = os.path.join(log_dir, f"{name}.tmux")
    with open(path, "w") as handle:
        handle.write(" ; ".join(commands) + "\n")
    tmux(server, "source-file", path)
    wait_until_listening(ports)
    return time.perf_counter() - start


def symphony_p_seconds(name, server):
    """Wall time of ``symphony -b tmux p NAME`` in a fresh process, as a user runs it."""
    env = {**os.environ, "SYMPHONY_BACKEND": "tmux"}
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "symphony.cli", "p", name], capture_output=True, text=True,
                            env=env)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"symphony p failed: {result.stderr.strip()}")
    return elapsed


def symphony_costs():
    """``{pid: (CPU ms so far, private KB, is a runner)}`` of the windows' runners and the log indexer
    (CPU from schedstat, in ns; private memory from smaps_rollup)."""
    costs = {}
    for pid in all_pids():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                args = [arg.decode(errors="replace") for arg in handle.read().split(b"\0")]
            runner = any(arg.endswith(RUNNER_FILES) for arg in args)
            if not runner and "symphony.tmux.log_index" not in args:
                continue
            with open(f"/proc/{pid}/schedstat") as handle:
                cpu_ns = int(handle.read().split()[0])
            private = 0
            with open(f"/proc/{pid}/smaps_rollup") as handle:
                for line in handle:
                    if line.startswith(("Private_Clean:", "Private_Dirty:")):
                        private += int(line.split()[1])
        except (OSError, ValueError, IndexError):
            continue
        costs[pid] = (cpu_ns / 1e6, private, runner)
    return costs


def session_cpu_seconds(name):
    """CPU seconds used so far by the live processes of experiment ``name`` (windows' programs, runners, log
    pipes, indexer: each carries SYMPH_EXPERIMENT=name)."""
    marker = f"SYMPH_EXPERIMENT={name}".encode()
    total = 0
    for pid in all_pids():
        try:
            with open(f"/proc/{pid}/environ", "rb") as handle:
                if marker not in handle.read().split(b"\0"):
                    continue
            with open(f"/proc/{pid}/schedstat") as handle:
                total += int(handle.read().split()[0])
        except (OSError, ValueError, IndexError):
            continue
    return total / 1e9


def process_cpu_seconds(pid):
    """CPU seconds of ``pid`` and of the children it has reaped (a tmux server reaps its helpers)."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return sum(int(field) for field in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds():
    """CPU seconds of this process and the children it has waited for (tmux clients, `symphony p`)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def idle_cpu_percent(seconds=IDLE_SECONDS):
    """CPU (% of one core) the runners and the log indexer use while every process idles."""
    before = symphony_costs()
    time.sleep(seconds)
    after = symphony_costs()
    used = sum(after[pid][0] - before[pid][0] for pid in before.keys() & after.keys())
    return used / (seconds * 1000) * 100


def settle(server, name, timeout=60):
    """Wait until ``name``'s session is gone and its windows' processes have exited, then a little more."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sessions = subprocess.run(["tmux", "-L", server, "list-sessions", "-F", "#{session_name}"],
                                  capture_output=True, text=True).stdout.split()
        if name not in sessions and not find_run_processes(name):  # the baseline's SYMPH_RUN_ID is its name
            break
        time.sleep(0.1)
    time.sleep(0.5)


class Bench:
    """One private tmux server (started once) and a private SYMPHONY_HOME for a series of launches."""

    def __init__(self, kind="python"):
        self.kind = kind
        os.environ.setdefault("SYMPHONY_HOME", tempfile.mkdtemp(prefix="symphony-bench-"))
        # ports of a range of their own, for Symphony and the chained call alike: on a shared machine other
        # launches take ports of Symphony's default range, and a window whose port was taken before it bound
        # it (minutes after the pick, at 1,000 windows under load) would never listen
        os.environ.setdefault("SYMPHONY_PORT_RANGE", "10000-19999")
        self.log_dir = tempfile.mkdtemp(prefix="symphony-bench-logs-")
        self.server = f"symphony-bench-{uuid.uuid4().hex[:8]}"
        tmux(self.server, "-f", os.devnull, "new-session", "-d", "-s", "keep-server-up", "sleep", "3600")
        self.cluster = Cluster.new("tmux", server_name=self.server, grace=1)
        self.server_pid = int(subprocess.run(["tmux", "-L", self.server, "display-message", "-p", "#{pid}"],
                                             capture_output=True, text=True, check=True).stdout)
        self.count = 0
        self.symphony(2)  # (a first launch loads Symphony's modules: not measured)

    def close(self):
        subprocess.run(["tmux", "-L", self.server, "kill-server"], capture_output=True)
        socket_path = os.path.join(os.environ.get("TMUX_TMPDIR") or "/tmp", f"tmux-{os.getuid()}", self.server)
        if os.path.exists(socket_path):  # tmux leaves its socket file behind
            os.unlink(socket_path)

    def cpu_before(self):
        return own_cpu_seconds() + process_cpu_seconds(self.server_pid)

    def cpu_used(self, before, name):
        """CPU seconds the launch of ``name`` cost every process involved (this one, tmux, the session's)."""
        return own_cpu_seconds() + process_cpu_seconds(self.server_pid) + session_cpu_seconds(name) - before

    def symphony(self, n):
        self.count += 1
        name = f"symphony-{n}-{self.count}"
        before = self.cpu_before()
        elapsed = run_symphony(self.cluster, n, name, self.kind)
        cpu = self.cpu_used(before, name)
        p_seconds = symphony_p_seconds(name, self.server)
        time.sleep(1.0)  # (the runners' costs once their processes run)
        costs = [(ms, kb) for ms, kb, runner in symphony_costs().values() if runner]
        idle = idle_cpu_percent()
        self.cluster.delete(name)
        settle(self.server, name)
        return elapsed, cpu, p_seconds, costs, idle

    def chained(self, n):
        self.count += 1
        name = f"chained-{n}-{self.count}"
        before = self.cpu_before()
        elapsed = run_chained(self.server, n, name, self.log_dir, self.kind)
        cpu = self.cpu_used(before, name)
        tmux(self.server, "kill-session", "-t", f"={name}")
        settle(self.server, name)
        return elapsed, cpu


def measure_tmux(n, repeat=3, kind="python", bench=None, runs=None):
    """Median figures of ``repeat`` alternating launches of ``n`` windows each way (see the module's text);
    ``kind``: the windows' programs, Python or Perl port-binding servers."""
    own = bench is None
    bench = bench or Bench(kind)
    symphony, chained, p_times, ratios, cpu, private, idle = [], [], [], [], [], [], []
    cpu_ratios = []
    try:
        for r in range(repeat):
            order = ("symphony", "chained") if r % 2 == 0 else ("chained", "symphony")
            times, cpu_times = {}, {}
            for method in order:
                if method == "symphony":
                    times[method], cpu_times[method], p_seconds, costs, idle_pct = bench.symphony(n)
                    p_times.append(p_seconds)
                    idle.append(idle_pct)
                    cpu += [ms for ms, _ in costs]
                    private += [kb for _, kb in costs]
                else:
                    times[method], cpu_times[method] = bench.chained(n)
            symphony.append(times["symphony"])
            chained.append(times["chained"])
            ratios.append(times["symphony"] / times["chained"])
            cpu_ratios.append(cpu_times["symphony"] / cpu_times["chained"])
            if runs is not None:
                runs.append((n, r + 1, order, times, cpu_times))
                print(run_line(*runs[-1]), file=sys.stderr, flush=True)  # (as it comes: a run may take minutes)
    finally:
        if own:
            bench.close()
    return {"n": n, "symphony_s": statistics.median(symphony), "baseline_s": statistics.median(chained),
            "p_s": statistics.median(p_times), "ratio": statistics.median(ratios),
            "cpu_ratio": statistics.median(cpu_ratios),
            "idle_cpu_pct": statistics.median(idle), "runner_cpu_ms": statistics.mean(cpu) if cpu else None,
            "runner_private_kb": statistics.mean(private) if private else None}


def run_line(n, r, order, times, cpu_times):
    return f"  N={n} repeat {r}: " + ", ".join(f"{method} {times[method]:.3f} (CPU {cpu_times[method]:.2f})"
                                               for method in order)


def load_average():
    return " ".join(f"{load:.2f}" for load in os.getloadavg())


def main():
    compile_sources()  # measured as installed: bytecode compiled (see bench/installed.py)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,400", help="comma-separated window counts")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--program", choices=sorted(SERVERS), default="python", help="what each window runs")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    start_load = load_average()
    bench = Bench(args.program)
    runs, results = [], []
    try:
        for n in sizes:
            results.append(measure_tmux(n, args.repeat, args.program, bench, runs))
    finally:
        bench.close()
    print("every run (s), in the order measured:")
    for run in runs:
        print(run_line(*run))
    print("\n| windows | one chained tmux call (s) | TmuxCluster.launch (s) | ratio | CPU ratio | `symphony p` (s) "
          "| runners + indexer idle CPU (%) | runner CPU per window (ms) | runner private memory per window (KB) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for result in results:
        print(f"| {result['n']} | {result['baseline_s']:.3f} | {result['symphony_s']:.3f} | {result['ratio']:.2f}× "
              f"| {result['cpu_ratio']:.2f}× | {result['p_s']:.3f} | {result['idle_cpu_pct']:.1f} | {result['runner_cpu_ms']:.1f} | {result['runner_private_kb']:.0f} |")
    print(f"\nlaunch: until every window's port accepts ({args.program} servers); median of {args.repeat} runs each (order alternated); "
          f"ratio: median over repeats of symphony / chained in the same repeat; CPU ratio: the same of the CPU "
          f"time every process involved used (this one, the tmux server, the session's processes); {os.cpu_count()} cores; "
          f"load average {start_load} at the start, {load_average()} at the end; "
          f"tmux {subprocess.run(['tmux', '-V'], capture_output=True, text=True).stdout.split()[-1]}; "
          f"perl {subprocess.run(['perl', '-e', 'print $^V'], capture_output=True, text=True).stdout}; "
          f"python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
