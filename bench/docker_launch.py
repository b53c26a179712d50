"""Launch cost on Docker: Symphony next to raw SDK calls and ``docker-compose up -d``, at N containers.

    .venv/bin/python bench/docker_launch.py [--sizes 10,50,200] [--rounds 1]

Needs a Docker engine with symphony-test-base:latest (sudo .ci/docker-up); the compose column
needs Debian's docker-compose (1.29, ``apt-get install docker-compose``) and says ``-`` without it.

Every side starts the same N containers on one internal network: the base image running a
Python program that binds its own port (Symphony assigns it; the others are given the same
numbers) and sleeps. A launch counts from the first call until every port accepts a
connection on the container's address, so the engine's and the programs' own work is in
every figure, and what differs is what each launcher adds:

* symphony: ``cluster.launch(exp)`` of an experiment whose processes each ``binds`` a service;
* raw SDK: ``networks.create`` and, per container, the low-level ``create_container`` and
  ``start``, with as many calls in flight as Symphony has (``LAUNCH_THREADS``): the least any
  Python launcher could do;
* compose: ``docker-compose -p <project> up -d`` of a file with the same services.

Sides alternate within a round (their order rotates from round to round) so a busy machine
slows them alike; the best round of each counts. ``p`` is ``symphony -b docker p`` on the
launched experiment. ``measure_docker(n)`` returns one size's figures for bench/scaling.py.
"""

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

IMAGE = "symphony-test-base:latest"
#: each container: bind the port its service variable names (argv[1]), accept, sleep
PROGRAM = ("import os, socket, sys, time\n"
           "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
           "s.bind(('0.0.0.0', int(os.environ[sys.argv[1]]))); s.listen(64)\n"
           "time.sleep(3600)\n")
#: seconds every port may take to accept before a round counts as failed
PORT_TIMEOUT = 600
#: seconds the baselines' engine calls may take (the SDK's default, 60, is too short for a busy engine)
ENGINE_TIMEOUT = 600


def service_variable(index):
    return f"SYMPH_SVC{index}_PORT"


def wait_for_ports(client, network_name, ports):
    """Until every ``container name -> port`` accepts on the container's address in ``network_name``."""
    deadline = time.monotonic() + PORT_TIMEOUT
    pending = dict(ports)
    addresses = {}
    while pending:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(pending)} port(s) never accepted, e.g. {next(iter(pending))}")
        if len(addresses) < len(ports):  # one request for every address on the network
            attached = client.api.inspect_network(network_name)["Containers"] or {}
            addresses = {entry["Name"]: entry["IPv4Address"].split("/")[0] for entry in attached.values()}
        for name, port in list(pending.items()):
            if name not in addresses:
                continue
            with socket.socket() as probe:
                probe.settimeout(0.5)
                if probe.connect_ex((addresses[name], port)) == 0:
                    del pending[name]
        if pending:
            time.sleep(0.05)


# --- the sides ----------------------------------------------------------------------------
def symphony_side(count):
    from symphony import Cluster
    import docker
    client = docker.from_env(timeout=ENGINE_TIMEOUT)
    cluster = Cluster.new("docker", internal_network=True, stop_timeout=1)
    exp = cluster.new_experiment(f"bench-{uuid.uuid4().hex[:8]}")
    for i in range(count):
        process = exp.new_process(f"p-{i}", container_image=IMAGE, command="python3",
                                  args=["-c", PROGRAM, service_variable(i)])
        process.binds(f"svc{i}")
    plan = cluster.plan(exp)
    ports = {c.container_name: int(c.environment[service_variable(i)]) for i, c in enumerate(plan.containers)}
    started = time.perf_counter()
    cluster.launch(exp)
    wait_for_ports(client, plan.network["name"], ports)
    launched = time.perf_counter() - started
    listed = time.perf_counter()
    shown = subprocess.run([sys.executable, "-m", "symphony.cli", "-b", "docker", "p", exp.name],
                           capture_output=True, text=True)
    p_seconds = time.perf_counter() - listed
    if shown.returncode != 0 or shown.stdout.count("running") < count:
        raise RuntimeError(f"symphony p did not show {count} running processes: {shown.stderr or shown.stdout}")
    cluster.delete(exp.name)
    return launched, p_seconds


def raw_side(count):
    import docker
    from symphony.docker.cluster import LAUNCH_THREADS
    client = docker.from_env(timeout=ENGINE_TIMEOUT)
    name = f"bench-raw-{uuid.uuid4().hex[:8]}"
    base_port = 20000
    ports = {f"{name}.p-{i}": base_port + i for i in range(count)}
    ids = []

    def launch(i):
        created = client.api.create_container(
            IMAGE, ["python3", "-c", PROGRAM, service_variable(i)], name=f"{name}.p-{i}",
            environment={service_variable(i): str(base_port + i)},
            host_config=client.api.create_host_config(init=True, network_mode=name))
        ids.append(created["Id"])
        client.api.start(created["Id"])

    started = time.perf_counter()
    client.networks.create(name, driver="bridge", internal=True)
    try:
        with ThreadPoolExecutor(max_workers=LAUNCH_THREADS) as pool:
            list(pool.map(launch, range(count)))
        wait_for_ports(client, name, ports)
        return time.perf_counter() - started
    finally:
        with ThreadPoolExecutor(max_workers=LAUNCH_THREADS) as pool:
            list(pool.map(lambda cid: client.api.remove_container(cid, force=True), ids))
        client.api.remove_network(name)


def compose_file(count, base_port):
    lines = ["version: '2.4'", "services:"]
    for i in range(count):
        lines += [f"  p-{i}:", f"    image: {IMAGE}", "    init: true",
                  f"    command: {_yaml_list(['python3', '-c', PROGRAM, service_variable(i)])}",
                  f"    environment: {{{service_variable(i)}: '{base_port + i}'}}"]
    lines += ["networks:", "  default:", "    internal: true"]
    return "\n".join(lines) + "\n"


def _yaml_list(items):
    import json
    return json.dumps(items)  # JSON is YAML


def compose_side(count):
    import docker
    client = docker.from_env(timeout=ENGINE_TIMEOUT)
    project = f"benchcompose{uuid.uuid4().hex[:8]}"
    base_port = 20000
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "docker-compose.yml")
        with open(path, "w") as handle:
            handle.write(compose_file(count, base_port))
        command = ["docker-compose", "-p", project, "-f", path]
        environment = {**os.environ, "COMPOSE_HTTP_TIMEOUT": str(ENGINE_TIMEOUT)}
        started = time.perf_counter()
        try:
            try:
                subprocess.run(command + ["up", "-d"], check=True, capture_output=True, env=environment,
                               timeout=PORT_TIMEOUT)
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
                print(f"docker-compose up of {count} services did not finish: {exc}", file=sys.stderr)
                return None  # no figure rather than a wrong one
            # compose names containers <project>_<service>_1 on <project>_default
            wait_for_ports(client, f"{project}_default",
                           {f"{project}_p-{i}_1": base_port + i for i in range(count)})
            return time.perf_counter() - started
        finally:
            subprocess.run(command + ["down", "-t", "1"], capture_output=True, env=environment)


def compose_available():
    return shutil.which("docker-compose") is not None


# --- measuring ----------------------------------------------------------------------------
def measure_docker(n, rounds=1, compose=True):
    """One size's figures: {'symphony_s', 'baseline_s' (raw SDK), 'compose_s' (None without
    docker-compose), 'p_s' (``symphony p`` on the launched experiment)}, the best of ``rounds``."""
    sides = {"symphony": lambda: symphony_side(n), "raw": lambda: raw_side(n)}
    if compose and compose_available():
        sides["compose"] = lambda: compose_side(n)
    best = {side: float("inf") for side in sides}
    p_best = float("inf")
    order = list(sides)
    for number in range(rounds):
        for side in order[number % len(order):] + order[:number % len(order)]:
            result = sides[side]()
            if side == "symphony":
                result, p_seconds = result
                p_best = min(p_best, p_seconds)
            if result is not None:
                best[side] = min(best[side], result)
    compose_s = best.get("compose")
    return {"symphony_s": best["symphony"], "baseline_s": best["raw"],
            "compose_s": None if compose_s in (None, float("inf")) else compose_s, "p_s": p_best}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,50,200", help="comma-separated container counts")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    rows = []
    for n in (int(size) for size in args.sizes.split(",")):
        figures = measure_docker(n, rounds=args.rounds)
        rows.append((n, figures))
        print(f"N={n}: {figures}", file=sys.stderr, flush=True)
    if not compose_available():
        print("docker-compose is not installed (Debian: apt-get install docker-compose): no compose column")
    print("| containers | symphony (s) | raw SDK (s) | compose (s) | symphony / raw | symphony / compose | symphony p (s) |")
    print("|---|---|---|---|---|---|---|")
    for n, f in rows:
        compose = f["compose_s"]
        compose_text = "-" if compose is None else f"{compose:.2f}"
        compose_ratio = "-" if compose is None else f"{f['symphony_s'] / compose:.2f}"
        print(f"| {n} | {f['symphony_s']:.2f} | {f['baseline_s']:.2f} | {compose_text} "
              f"| {f['symphony_s'] / f['baseline_s']:.2f} | {compose_ratio} | {f['p_s']:.2f} |")

if __name__ == "__main__":
    main()
