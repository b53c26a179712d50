"""Start order on the local backend: what holding processes until a service is ready costs.

1. **Held start.** 100 processes: one server that listens only after ``--delay`` seconds
   and 99 clients that ``connects('svc', wait=True)`` and connect once. Measured: the
   time from ``launch`` until the server has heard from every client, against
   ``--delay`` plus the same launch without waits (the server listening at once, the
   clients retrying until it does). Goal: at most 1.2×: holding adds at most about one
   check interval.
2. **Cost of a check.** One server process binding ``--services`` services, each with a
   declared ``tcp(interval=0.1)`` check, all listening: the supervisor's CPU time (user +
   system, from ``/proc``) over ``--seconds``, divided by the checks it ran (counted by the
   server, which accepts each one). Goal: well under 1 ms each.
3. **Idle.** The supervisor's CPU over ``--seconds`` once phase 1's clients have started
   and every default check has passed: checks that passed are not repeated, so it must be
   about zero.
4. **``symphony -b tmux p``** (a new process, as a user runs it), which runs the checks
   when asked: ``--services`` listening processes each binding a service and 1 declaring
   an HTTP check, against the same processes binding nothing (nothing to check).

    python bench/readiness.py [--delay 3] [--services 100] [--seconds 3] [--repeat 1] [--no-tmux]
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid

from installed import compile_sources

CLIENTS = 99

SERVER = r"""
import os, selectors, socket, sys, time
time.sleep(float(sys.argv[1]))
expected, done = int(sys.argv[2]), sys.argv[3]
server = socket.create_server(('127.0.0.1', int(os.environ['SYMPH_SVC_PORT'])), backlog=256)
server.setblocking(False)
selector = selectors.DefaultSelector()
selector.register(server, selectors.EVENT_READ)
heard = 0
while heard < expected:
    for key, _ in selector.select():
        if key.fileobj is server:
            conn, _ = server.accept()
            conn.setblocking(False)
            selector.register(conn, selectors.EVENT_READ)
        else:
            data = key.fileobj.recv(64)
            selector.unregister(key.fileobj)
            key.fileobj.close()
            if data.startswith(b'hello'):
                heard += 1
with open(done + '.tmp', 'w') as handle:
    handle.write(repr(time.time()))
os.replace(done + '.tmp', done)
time.sleep(3600)
"""

CLIENT = r"""
import os, socket, time
while True:
    try:
        with socket.create_connection((os.environ['SYMPH_SVC_HOST'], int(os.environ['SYMPH_SVC_PORT']))) as conn:
            conn.sendall(b'hello')
            break
    except OSError:
        time.sleep(0.01)  # (only the run without waits retries: a held client connects the first time)
time.sleep(3600)
"""

COUNTER = r"""
import os, selectors, socket, sys, time
selector = selectors.DefaultSelector()
for name, value in os.environ.items():
    if name.startswith('SYMPH_C') and name.endswith('_PORT'):
        server = socket.create_server(('127.0.0.1', int(value)), backlog=256)
        server.setblocking(False)
        selector.register(server, selectors.EVENT_READ)
accepted, written = 0, time.monotonic()
while True:
    for key, _ in selector.select(0.2):
        try:
            conn, _ = key.fileobj.accept()
            conn.close()
            accepted += 1
        except BlockingIOError:
            pass
    if time.monotonic() - written >= 0.2:
        written = time.monotonic()
        with open(sys.argv[1] + '.tmp', 'w') as handle:
            handle.write(str(accepted))
        os.replace(sys.argv[1] + '.tmp', sys.argv[1])
"""


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_for_file(path, timeout=300.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(path) as handle:
                return handle.read()
        except OSError:
            time.sleep(0.005)
    raise TimeoutError(f"{path} not written within {timeout:.0f}s")


def held_start(cluster, delay, wait, scratch):
    """Seconds from launch until the server heard all clients; and the experiment's name, still running."""
    name = f"bench-ready-{uuid.uuid4().hex[:6]}"
    done = os.path.join(scratch, name)
    exp = cluster.new_experiment(name)
    exp.new_process("server", command=sys.executable, args=["-c", SERVER, str(delay), str(CLIENTS), done]) \
        .binds("svc")
    for i in range(CLIENTS):
        exp.new_process(f"client-{i}", command=sys.executable, args=["-c", CLIENT]).connects("svc", wait=wait)
    start = time.time()
    cluster.launch(exp)
    finished = float(wait_for_file(done))
    return finished - start, name


def supervisor_pid(cluster, name):
    return cluster.store.get_experiment(cluster.backend_name, name)["supervisor_pid"]


def check_cost(cluster, services, seconds, scratch):
    """(supervisor CPU seconds per check, checks per second) with ``services`` checks every 0.1 s."""
    from symphony import tcp
    name = f"bench-checks-{uuid.uuid4().hex[:6]}"
    counted = os.path.join(scratch, name)
    exp = cluster.new_experiment(name)
    server = exp.new_process("server", command=sys.executable, args=["-c", COUNTER, counted])
    for i in range(services):
        server.binds(f"c{i}", ready=tcp(interval=0.1))
    cluster.launch(exp)
    try:
        deadline = time.monotonic() + 60
        while not all(s.ready for s in cluster.describe_experiment(name)):
            if time.monotonic() > deadline:
                raise TimeoutError("the services never became ready")
            time.sleep(0.1)
        pid = supervisor_pid(cluster, name)
        time.sleep(0.5)
        before_cpu, before_count, begun = cpu_seconds(pid), int(wait_for_file(counted)), time.monotonic()
        time.sleep(seconds)
        cpu, count = cpu_seconds(pid) - before_cpu, int(wait_for_file(counted)) - before_count
        return cpu / max(count, 1), count / (time.monotonic() - begun)
    finally:
        cluster.delete(name)


LISTENER = ("import os, socket, time; s = socket.create_server(('127.0.0.1', int(os.environ['SYMPH_S{i}_PORT']))); "
            "time.sleep(3600)")
HTTP = ("import http.server, os; http.server.HTTPServer(('127.0.0.1', int(os.environ['SYMPH_S{i}_PORT'])), "
        "http.server.SimpleHTTPRequestHandler).serve_forever()")


def tmux_p(count, checked, repeat=5):
    """Median seconds of ``symphony -b tmux p`` over ``count`` listening processes, each binding a service
    (one with an HTTP check) when ``checked``, else binding nothing."""
    import shutil
    import subprocess
    from symphony import Cluster, http
    server = f"bench-{uuid.uuid4().hex[:6]}"
    cluster = Cluster.new("tmux", server_name=server, grace=1.0)
    name = f"bench-p-{uuid.uuid4().hex[:6]}"
    exp = cluster.new_experiment(name)
    for i in range(count):
        if checked:
            process = exp.new_process(f"p{i}", command=sys.executable, args=["-c", (HTTP if i == 0 else LISTENER).format(i=i)])
            process.binds(f"s{i}", ready=http("/") if i == 0 else None)
        else:
            exp.new_process(f"p{i}", command="sleep", args=["3600"])
    cluster.launch(exp)
    try:
        deadline = time.monotonic() + 120
        while not all(s.ready for s in cluster.describe_experiment(name)):
            if time.monotonic() > deadline:
                raise TimeoutError("not every process became ready")
            time.sleep(0.2)
        times = []
        for _ in range(repeat):
            begun = time.perf_counter()
            subprocess.run([sys.executable, "-m", "symphony.cli", "p", name, "-b", "tmux"], check=True,
                           capture_output=True)
            times.append(time.perf_counter() - begun)
        return statistics.median(times)
    finally:
        cluster.delete(name)
        subprocess.run([shutil.which("tmux") or "tmux", "-L", server, "kill-server"], capture_output=True)


def main(argv=None):
    compile_sources()  # measured as installed: bytecode compiled (see bench/installed.py)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, default=3.0, help="seconds before the server listens")
    parser.add_argument("--services", type=int, default=100, help="checked services in the cost phase")
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds over which CPU is measured")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--no-tmux", action="store_true", help="skip the tmux `p` measure")
    args = parser.parse_args(argv)
    from symphony import Cluster
    cluster = Cluster.new("local")
    held, plain, idle = [], [], []
    with tempfile.TemporaryDirectory() as scratch:
        for _ in range(args.repeat):
            seconds, name = held_start(cluster, 0.0, False, scratch)
            cluster.delete(name)
            plain.append(seconds)
            seconds, name = held_start(cluster, args.delay, True, scratch)
            held.append(seconds)
            try:
                pid = supervisor_pid(cluster, name)
                time.sleep(1.0)  # (the last clients' starts settle)
                before, begun = cpu_seconds(pid), time.monotonic()
                time.sleep(args.seconds)
                idle.append(100.0 * (cpu_seconds(pid) - before) / (time.monotonic() - begun))
                with open(os.path.join(cluster._log_dir(name), "readiness.json")) as handle:
                    checks = json.load(handle)["checks"]
            finally:
                cluster.delete(name)
        per_check, rate = check_cost(cluster, args.services, args.seconds, scratch)
    launch = statistics.median(plain)
    wanted = args.delay + launch
    result = statistics.median(held)
    print(f"held start, {CLIENTS + 1} processes: {result:.2f} s until every client connected; launch without waits "
          f"{launch:.2f} s + server delay {args.delay:g} s = {wanted:.2f} s; ratio {result / wanted:.2f}x (goal <= 1.2x); "
          f"{checks} checks ran")
    print(f"check cost: {per_check * 1e6:.0f} us of supervisor CPU per check ({rate:.0f} checks/s over "
          f"{args.services} services; goal < 1000 us)")
    print(f"idle supervisor after the held start: {statistics.median(idle):.2f} % of one core")
    if not args.no_tmux:
        checked, plain = tmux_p(args.services, True), tmux_p(args.services, False)
        print(f"symphony -b tmux p, {args.services} processes: {checked * 1000:.0f} ms with a check each (one HTTP), "
              f"{plain * 1000:.0f} ms with none; ratio {checked / plain:.2f}x")
    print(f"(median of {args.repeat}; {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
