"""Launch time of the local backend vs a plain ``subprocess.Popen`` loop, side by side.

For N in 1, 10, 100: start N processes that each bind a TCP port on 127.0.0.1 and
wait; measure the wall time until every port accepts a connection. Symphony's
figure includes everything a user waits for: validation, port reservation in the
shared state, the supervisor's start, and the processes' own start-up. Both sides
run the same command lines, in the same run, alternately.

    python bench/local_launch.py [--repeat 3]
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

SERVER = ("import os, socket, time; s = socket.create_server(('127.0.0.1', int(os.environ['SYMPH_S{i}_PORT']))); "
          "time.sleep(600)")


def wait_until_listening(ports, timeout=120):
    deadline = time.monotonic() + timeout
    pending = set(ports)
    while pending:
        for port in list(pending):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                pending.discard(port)
            except OSError:
                pass
        if pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(pending)} ports never listened")
            time.sleep(0.002)


def free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def run_popen(n):
    ports = free_ports(n)
    start = time.perf_counter()
    children = []
    for i, port in enumerate(ports):
        env = {**os.environ, f"SYMPH_S{i}_PORT": str(port)}
        children.append(subprocess.Popen([sys.executable, "-c", SERVER.format(i=i)], env=env,
                                         start_new_session=True, stdout=subprocess.DEVNULL))
    wait_until_listening(ports)
    elapsed = time.perf_counter() - start
    for child in children:
        child.kill()
        child.wait()
    return elapsed


def run_symphony(n, name):
    from symphony import Cluster
    cluster = Cluster.new("local", grace=1)
    start = time.perf_counter()
    exp = cluster.new_experiment(name)
    for i in range(n):
        exp.new_process(f"p{i}", command=sys.executable, args=["-c", SERVER.format(i=i)]).binds(f"s{i}")
    plan = cluster.launch(exp)
    wait_until_listening(plan.ports.values())
    elapsed = time.perf_counter() - start
    cluster.delete(name)
    return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sizes", default="1,10,100")
    args = parser.parse_args()
    os.environ.setdefault("SYMPHONY_HOME", tempfile.mkdtemp(prefix="symphony-bench-"))
    print("| processes | Popen loop (s) | Symphony local (s) | ratio |")
    print("|---:|---:|---:|---:|")
    for n in (int(s) for s in args.sizes.split(",")):
        popen, symphony = [], []
        for r in range(args.repeat):
            popen.append(run_popen(n))
            symphony.append(run_symphony(n, f"bench-{n}-{r}"))
        p, s = statistics.median(popen), statistics.median(symphony)
        print(f"| {n} | {p:.3f} | {s:.3f} | {s / p:.2f}× |", flush=True)
    print(f"\nmedian of {args.repeat} alternating runs each; {os.cpu_count()} cores; python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
