"""Launch cost on Docker: Symphony next to raw SDK calls and ``docker-compose up -d``, at N containers.

    .venv/bin/python bench/docker_launch.py [--sizes 10,50,200] [--rounds 1] [--no-compose] [--minimal]

Needs a Docker engine with symphony-test-base:latest (sudo .ci/docker-up); the compose column
needs Debian's docker-compose (1.29, ``apt-get install docker-compose``) and says ``-`` without it.

Every side starts the same N containers on one internal network: the base image running a
Python program that binds its own port and sleeps. The containers are configured alike on
every side: each side takes them from the plan Symphony makes for its own experiment name
(made before its clock starts), so every container has the same command, the same
environment (every service's address: 3 variables per service, so N x 3N in all), the same
hostname, network alias and labels (on the baselines, the label keys start with ``bench.``
instead of ``symphony.``, so no Symphony command takes them for an experiment). A launch
counts from the first call until every port accepts a connection on the container's address,
so the engine's and the programs' own work is in every figure, and what differs is what each
launcher adds:

* symphony: ``cluster.launch(exp)`` of an experiment whose processes each ``binds`` a service;
* raw SDK: ``networks.create`` and, per container, the low-level ``create_container`` and
  ``start``, with as many calls in flight as Symphony has (``LAUNCH_THREADS``): the least any
  Python launcher could do;
* compose: ``docker-compose -p <project> up -d`` of a file with the same services (the shared
  environment written once, as a YAML anchor each service merges);
* raw, minimal config (``--minimal``, an extra column): the raw SDK loop with only the one
  variable each program reads, no hostname, alias or labels: what the engine's share of the
  others' figures costs when the containers carry next to no configuration.

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

from installed import compile_sources

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
#: seconds a baseline's network removal waits for the engine to let go of its containers' endpoints
NETWORK_REMOVAL_TIMEOUT = 30


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
def declare(count, name):
    """A Docker cluster and an experiment of ``count`` processes that each bind a service."""
    from symphony import Cluster
    cluster = Cluster.new("docker", internal_network=True, stop_timeout=1)
    exp = cluster.new_experiment(name)
    for i in range(count):
        process = exp.new_process(f"p-{i}", container_image=IMAGE, command="python3",
                                  args=["-c", PROGRAM, service_variable(i)])
        process.binds(f"svc{i}")
    return cluster, exp


def planned(count, name):
    """Symphony's plan of the bench experiment ``name``: the container configs every side starts."""
    cluster, exp = declare(count, name)
    return cluster.plan(exp)


def ports_of(plan):
    """{container name: the port its program binds}"""
    return {c.container_name: int(c.environment[service_variable(i)]) for i, c in enumerate(plan.containers)}


def bench_labels(labels):
    """Symphony's labels under ``bench.`` keys: as large, but no experiment to Symphony's commands."""
    return {"bench." + key.partition(".")[2] if key.startswith("symphony.") else key: value
            for key, value in labels.items()}


def symphony_side(count):
    import docker
    client = docker.from_env(timeout=ENGINE_TIMEOUT)
    cluster, exp = declare(count, f"bench-{uuid.uuid4().hex[:8]}")
    plan = cluster.plan(exp)
    ports = ports_of(plan)
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


def raw_side(count, minimal=False):
    """The plain SDK loop of the same containers (``minimal``: with only the variable each program reads)."""
    import docker
    from symphony.docker.cluster import LAUNCH_THREADS
    client = docker.from_env(timeout=ENGINE_TIMEOUT)
    plan = planned(count, f"bench-raw-{uuid.uuid4().hex[:8]}")
    network = plan.network["name"]
    ports = ports_of(plan)
    ids = []

    def launch(i):
        container = plan.containers[i]
        argv = container.entrypoint + container.command
        host_config = client.api.create_host_config(init=True, network_mode=network)
        if minimal:
            created = client.api.create_container(
                IMAGE, argv, name=container.container_name, host_config=host_config,
                environment={service_variable(i): container.environment[service_variable(i)]})
        else:
            created = client.api.create_container(
                IMAGE, argv, name=container.container_name, host_config=host_config,
                environment=container.environment, labels=bench_labels(container.labels),
                hostname=container.hostname, networking_config=client.api.create_networking_config(
                    {network: client.api.create_endpoint_config(aliases=container.aliases)}))
        ids.append(created["Id"])
        client.api.start(created["Id"])

    started = time.perf_counter()
    client.networks.create(network, driver="bridge", internal=True,
                           labels=None if minimal else bench_labels(plan.network["labels"]))
    try:
        with ThreadPoolExecutor(max_workers=LAUNCH_THREADS) as pool:
            list(pool.map(launch, range(count)))
        wait_for_ports(client, network, ports)
        return time.perf_counter() - started
    finally:
        with ThreadPoolExecutor(max_workers=LAUNCH_THREADS) as pool:
            list(pool.map(lambda cid: client.api.remove_container(cid, force=True), ids))
        remove_network(client, network)


def remove_network(client, name):
    """Remove the network ``name`` once the engine has let go of its removed containers' endpoints
    (a busy engine may still report them for a moment after the containers are gone; an endpoint
    it never lets go of leaves the network, named on stderr, rather than failing the bench)."""
    import docker
    deadline = time.monotonic() + NETWORK_REMOVAL_TIMEOUT
    while True:
        try:
            return client.api.remove_network(name)
        except docker.errors.APIError as exc:
            if "active endpoints" not in str(exc):
                raise
            if time.monotonic() > deadline:
                print(f"left the network {name}: the engine still holds endpoints of its removed containers",
                      file=sys.stderr)
                return None
        time.sleep(0.1)


def compose_file(plan):
    """The compose file of ``plan``'s containers: the environment they share is written once (an
    anchor each service merges), as a person would write it, so the file grows with N, not N x N."""
    containers = plan.containers
    shared = {key: value for key, value in containers[0].environment.items()
              if all(c.environment.get(key) == value for c in containers)}
    lines = ["version: '2.4'", "x-environment: &environment"]
    lines += [f"  {key}: {_yaml(value)}" for key, value in shared.items()]
    lines += ["services:"]
    for container in containers:
        own = {key: value for key, value in container.environment.items() if key not in shared}
        lines += [f"  {container.name}:", f"    image: {IMAGE}", "    init: true",
                  f"    hostname: {container.hostname}",
                  f"    command: {_yaml(container.entrypoint + container.command)}",
                  f"    labels: {_yaml(bench_labels(container.labels))}",
                  "    environment:", "      <<: *environment"]
        lines += [f"      {key}: {_yaml(value)}" for key, value in own.items()]
    lines += ["networks:", "  default:", "    internal: true",
              f"    labels: {_yaml(bench_labels(plan.network['labels']))}"]
    return "\n".join(lines) + "\n"


def _yaml(value):
    import json
    return json.dumps(value)  # JSON is YAML


def compose_side(count):
    import docker
    client = docker.from_env(timeout=ENGINE_TIMEOUT)
    project = f"benchcompose{uuid.uuid4().hex[:8]}"
    plan = planned(count, project)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "docker-compose.yml")
        with open(path, "w") as handle:
            handle.write(compose_file(plan))
        command = ["docker-compose", "-p", project, "-f", path]
        environment = {**os.environ, "COMPOSE_HTTP_TIMEOUT": str(ENGINE_TIMEOUT)}
        started = time.perf_counter()
        try:
            try:
                subprocess.run(command + ["up", "-d"], check=True, capture_output=True, env=environment,
                               timeout=PORT_TIMEOUT)
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
                print(f"docker-compose up of {count} services did not finish: {exc} {getattr(exc, 'stderr', '')}",
                      file=sys.stderr)
                return None  # no figure rather than a wrong one
            # compose names containers <project>_<service>_1 on <project>_default
            wait_for_ports(client, f"{project}_default",
                           {f"{project}_{c.name}_1": port for c, port in zip(plan.containers, ports_of(plan).values())})
            return time.perf_counter() - started
        finally:
            subprocess.run(command + ["down", "-t", "1"], capture_output=True, env=environment)


def compose_available():
    return shutil.which("docker-compose") is not None


# --- measuring ----------------------------------------------------------------------------
def measure_docker(n, rounds=1, compose=True, minimal=False):
    """One size's figures: {'symphony_s', 'baseline_s' (raw SDK), 'compose_s' (None without
    docker-compose), 'p_s' (``symphony p`` on the launched experiment), and with ``minimal``
    'minimal_s' (the raw SDK loop of minimal configs)}, the best of ``rounds``."""
    sides = {"symphony": lambda: symphony_side(n), "raw": lambda: raw_side(n)}
    if compose and compose_available():
        sides["compose"] = lambda: compose_side(n)
    if minimal:
        sides["minimal"] = lambda: raw_side(n, minimal=True)
    best = {side: float("inf") for side in sides}
    p_best = float("inf")
    order = list(sides)
    for number in range(rounds):
        for side in order[number % len(order):] + order[:number % len(order)]:
            result = sides[side]()
            if side == "symphony":
                result, p_seconds = result
                p_best = min(p_best, p_seconds)
            print(f"  N={n} round {number + 1} {side}: {'-' if result is None else f'{result:.2f}'} s",
                  file=sys.stderr, flush=True)
            if result is not None:
                best[side] = min(best[side], result)
    figures = {"symphony_s": best["symphony"], "baseline_s": best["raw"], "p_s": p_best}
    compose_s = best.get("compose")
    figures["compose_s"] = None if compose_s in (None, float("inf")) else compose_s
    if minimal:
        figures["minimal_s"] = best["minimal"]
    return figures


def main():
    compile_sources()  # measured as installed: bytecode compiled (see bench/installed.py)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,50,200", help="comma-separated container counts")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--no-compose", action="store_true",
                        help="leave docker-compose out (1.29 may stall past a few dozen services)")
    parser.add_argument("--minimal", action="store_true",
                        help="also the raw SDK loop of containers with a minimal config (one variable each)")
    args = parser.parse_args()
    rows = []
    for n in (int(size) for size in args.sizes.split(",")):
        figures = measure_docker(n, rounds=args.rounds, compose=not args.no_compose, minimal=args.minimal)
        rows.append((n, figures))
        print(f"N={n}: {figures}", file=sys.stderr, flush=True)
    if not compose_available() and not args.no_compose:
        print("docker-compose is not installed (Debian: apt-get install docker-compose): no compose column")
    minimal = " raw, minimal config (s) | symphony / minimal |" if args.minimal else ""
    print("| containers | symphony (s) | raw SDK (s) | compose (s) | symphony / raw | symphony / compose |"
          + minimal + " symphony p (s) |")
    print("|---|---|---|---|---|---|" + ("---|---|" if args.minimal else "") + "---|")
    for n, f in rows:
        compose = f["compose_s"]
        compose_text = "-" if compose is None else f"{compose:.2f}"
        compose_ratio = "-" if compose is None else f"{f['symphony_s'] / compose:.2f}"
        extra = f" {f['minimal_s']:.2f} | {f['symphony_s'] / f['minimal_s']:.2f} |" if args.minimal else ""
        print(f"| {n} | {f['symphony_s']:.2f} | {f['baseline_s']:.2f} | {compose_text} "
              f"| {f['symphony_s'] / f['baseline_s']:.2f} | {compose_ratio} |{extra} {f['p_s']:.2f} |")


if __name__ == "__main__":
    main()
