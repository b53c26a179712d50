"""The local backend at scale, side by side with a plain ``subprocess.Popen`` loop.

For each N (default 10, 100, 400, 1000): start N processes that each bind a TCP port on
127.0.0.1 and wait; measure the wall time until every port accepts a connection. Symphony's
figure includes everything a user waits for: the declaration, validation, port reservation
in the shared state, the supervisor's start, and the processes' own start-up. Both sides run
the same program, in the same run, alternately (baseline first); one untimed launch of one
process comes before the first measured one, so that no size carries alone what a script pays once
(the modules a launch imports, the state database's creation). Then, with Symphony's N
processes running:

* the supervisor's idle CPU: its (and its guardian's) user + system time from
  ``/proc/<pid>/stat`` over a few seconds in which nothing happens, in % of one core;
* ``symphony p``: the wall time of the command (a new Python process, as a user runs it).

Every process Symphony starts is handed every service's address (``SYMPH_<S>_HOST/_PORT/_ADDR``
for all N services), so its environment grows with N: at 1,000 services each Python start
reads 3,000 more variables, which on this machine makes every process's start-up about a
third slower, whoever starts it. The baseline therefore starts the very processes Symphony
plans (the same command line, cwd and environment, from the launch's dry-run plan): the
ratio is the launcher's cost, not the cost of the environment a user asked for.
``--minimal`` adds the old baseline beside it: each process handed only its own port.

    python bench/local_launch.py [--sizes 10,100,400,1000] [--repeat 1] [--idle 3] [--minimal]

``measure_local(n)`` returns one size's figures as a dict (``symphony_s``, ``baseline_s``,
``idle_cpu_pct``, ``p_s``) for other scripts (bench/scaling.py).
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

from listening import free_ports, wait_until_listening
from installed import compile_sources

SERVER = ("import os, socket, time; s = socket.create_server(('127.0.0.1', int(os.environ['SYMPH_S{i}_PORT']))); "
          "time.sleep(3600)")


def declare(cluster, name, n):
    exp = cluster.new_experiment(name)
    for i in range(n):
        exp.new_process(f"p{i}", command=sys.executable, args=["-c", SERVER.format(i=i)]).binds(f"s{i}")
    return exp


def planned_processes(n):
    """``[(argv, cwd, env)]``: the processes Symphony would start for ``n`` servers (its dry-run plan)."""
    from symphony import Cluster
    cluster = Cluster.new("local")
    plan = cluster.plan(declare(cluster, f"bench-plan-{n}", n))
    return [(process.argv, process.cwd, {**os.environ, **process.env}) for process in plan.processes], plan.ports


def minimal_processes(n):
    """The same servers, each handed only its own port."""
    ports = free_ports(n)
    return [([sys.executable, "-c", SERVER.format(i=i)], None, {**os.environ, f"SYMPH_S{i}_PORT": str(port)})
            for i, port in enumerate(ports)], {f"s{i}": port for i, port in enumerate(ports)}


def run_popen(n, minimal=False):
    """Seconds for a plain Popen loop of ``n`` servers until every port accepts: the processes Symphony
    plans, or (``minimal``) each with only its own port."""
    processes, ports = minimal_processes(n) if minimal else planned_processes(n)
    start = time.perf_counter()
    children = []
    try:
        for argv, cwd, env in processes:
            children.append(subprocess.Popen(argv, cwd=cwd, env=env, start_new_session=True,
                                             stdout=subprocess.DEVNULL))
        wait_until_listening(ports.values())
        return time.perf_counter() - start
    finally:
        for child in children:
            child.kill()
        for child in children:
            child.wait()


def cpu_seconds(pids):
    """User + system CPU seconds used so far by ``pids`` (from /proc/<pid>/stat)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / os.sysconf("SC_CLK_TCK")


def idle_cpu_percent(pids, seconds):
    """% of one core ``pids`` used over ``seconds`` of wall time."""
    before, start = cpu_seconds(pids), time.monotonic()
    time.sleep(seconds)
    return 100.0 * (cpu_seconds(pids) - before) / (time.monotonic() - start)


def time_symphony_p(name, repeat=3):
    """Median wall time of ``symphony p <name>`` run as a command."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "symphony.cli", "p", name, "-b", "local"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


_WARM_HOMES = set()


def _warm_up(cluster):
    """One untimed launch of one process before the first measured one (once per process and state
    directory): what a script pays once, whatever it launches, would otherwise be carried by the first
    size measured alone. That is the modules a launch imports (a few tenths of a second: the model, the
    resolver, the host plan, uuid, subprocess) and the state database's creation on first use."""
    if cluster.store.home in _WARM_HOMES:
        return
    _WARM_HOMES.add(cluster.store.home)
    name = f"bench-warm-{uuid.uuid4().hex[:6]}"
    exp = cluster.new_experiment(name)
    exp.new_process("p0", command=sys.executable, args=["-c", "import time; time.sleep(3600)"])
    cluster.launch(exp)
    cluster.delete(name)


def run_symphony(n, name, idle_seconds=3.0):
    """``(launch seconds, idle CPU %, symphony p seconds)`` of ``n`` servers on the local backend."""
    from symphony import Cluster
    cluster = Cluster.new("local", grace=1)
    _warm_up(cluster)
    start = time.perf_counter()
    try:
        plan = cluster.launch(declare(cluster, name, n))
        wait_until_listening(plan.ports.values())
        elapsed = time.perf_counter() - start
        time.sleep(1.0)  # the launch's last state writes and index passes settle
        supervisor = cluster.store.get_experiment("local", name)["supervisor_pid"]
        with open(f"/proc/{supervisor}/stat") as handle:
            guardian = int(handle.read().rsplit(")", 1)[1].split()[1])
        idle = idle_cpu_percent([supervisor, guardian], idle_seconds)
        p_time = time_symphony_p(name)
        return elapsed, idle, p_time
    finally:
        if name in cluster.list_experiments():
            cluster.delete(name)


def measure_local(n, repeat=1, idle_seconds=3.0, minimal=False):
    """One size's figures, medians of ``repeat`` alternating runs: ``baseline_s`` (Popen loop of the
    processes Symphony plans), ``symphony_s`` (launch until every port accepts), ``ratio``,
    ``idle_cpu_pct`` (the supervisor and its guardian, % of one core, with the ``n`` processes
    running), ``p_s`` (``symphony p``); with ``minimal``, ``minimal_s`` (the Popen loop of processes
    handed only their own port) too."""
    os.environ.setdefault("SYMPHONY_HOME", tempfile.mkdtemp(prefix="symphony-bench-"))
    baseline, least, launch, idle, listing = [], [], [], [], []
    for _ in range(repeat):
        baseline.append(run_popen(n))
        if minimal:
            least.append(run_popen(n, minimal=True))
        seconds, cpu, p_time = run_symphony(n, f"bench-{n}-{uuid.uuid4().hex[:6]}", idle_seconds)
        launch.append(seconds)
        idle.append(cpu)
        listing.append(p_time)
    result = {"n": n, "baseline_s": statistics.median(baseline), "symphony_s": statistics.median(launch),
              "idle_cpu_pct": statistics.median(idle), "p_s": statistics.median(listing)}
    result["ratio"] = result["symphony_s"] / result["baseline_s"]
    if minimal:
        result["minimal_s"] = statistics.median(least)
    return result


def main():
    compile_sources()  # measured as installed: bytecode compiled (see bench/installed.py)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--sizes", default="10,100,400,1000")
    parser.add_argument("--idle", type=float, default=3.0, help="seconds over which idle CPU is measured")
    parser.add_argument("--minimal", action="store_true",
                        help="also a Popen loop of the servers each handed only its own port")
    args = parser.parse_args()
    rows = []
    minimal = " Popen, own port only (s) | vs own port only |" if args.minimal else ""
    print("| processes | Popen loop (s) | Symphony local (s) | ratio |" + minimal
          + " supervisor idle CPU | symphony p (s) | p vs first |")
    print("|---:|---:|---:|---:|" + ("---:|---:|" if args.minimal else "") + "---:|---:|---:|")
    for n in (int(s) for s in args.sizes.split(",")):
        row = measure_local(n, args.repeat, args.idle, minimal=args.minimal)
        rows.append(row)
        extra = f" {row['minimal_s']:.3f} | {row['symphony_s'] / row['minimal_s']:.2f}× |" if args.minimal else ""
        print(f"| {n} | {row['baseline_s']:.3f} | {row['symphony_s']:.3f} | {row['ratio']:.2f}× |{extra} "
              f"{row['idle_cpu_pct']:.2f} % | {row['p_s']:.3f} | {row['p_s'] / rows[0]['p_s']:.2f}× |", flush=True)
    print(f"\nmedian of {args.repeat} alternating run(s) per size; {os.cpu_count()} cores; load average "
          f"{os.getloadavg()[0]:.1f} at the end; python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
