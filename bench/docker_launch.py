"""Launch and delete time of an N-process experiment: Symphony's Docker backend next to raw SDK calls.

    .venv/bin/python bench/docker_launch.py [--processes 8] [--rounds 3]

Needs a Docker engine with symphony-test-base:latest (sudo .ci/docker-up). Both sides
create the same objects — one internal network, N containers of `sleep 600` from the
base image, started — and remove them again; rounds alternate so a busy machine slows
both alike, and the best round of each counts. The ratio is the result: what
Symphony's planning, labelling and cleanup cost on top of the engine's own work.
"""

import argparse
import time
import uuid

from symphony import Cluster

IMAGE = "symphony-test-base:latest"


def symphony_round(count):
    cluster = Cluster.new("docker", internal_network=True, stop_timeout=1)
    exp = cluster.new_experiment(f"bench-{uuid.uuid4().hex[:8]}")
    for i in range(count):
        exp.new_process(f"p-{i}", container_image=IMAGE, cmds=["sleep 600"])
    started = time.perf_counter()
    cluster.apply(exp)
    launched = time.perf_counter()
    cluster.delete(exp.name)
    return launched - started, time.perf_counter() - launched


def raw_round(client, count):
    name = f"bench-raw-{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    network = client.networks.create(name, driver="bridge", internal=True)
    containers = [client.containers.run(IMAGE, ["/bin/sh", "-c", "sleep 600"], name=f"{name}.p-{i}", init=True,
                                        network=name, detach=True) for i in range(count)]
    launched = time.perf_counter()
    for container in containers:
        container.stop(timeout=1)
        container.remove(force=True)
    network.remove()
    return launched - started, time.perf_counter() - launched


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    import docker
    client = docker.from_env()
    best = {"symphony": [float("inf")] * 2, "raw SDK": [float("inf")] * 2}
    for _ in range(args.rounds):
        for side, measure in (("symphony", lambda: symphony_round(args.processes)),
                              ("raw SDK", lambda: raw_round(client, args.processes))):
            launch, delete = measure()
            best[side] = [min(best[side][0], launch), min(best[side][1], delete)]
    print(f"| {args.processes} containers | launch (s) | delete (s) |")
    print("|---|---|---|")
    for side, (launch, delete) in best.items():
        print(f"| {side} | {launch:.2f} | {delete:.2f} |")
    (s_launch, s_delete), (r_launch, r_delete) = best["symphony"], best["raw SDK"]
    print(f"| ratio symphony / raw | {s_launch / r_launch:.2f} | {s_delete / r_delete:.2f} |")


if __name__ == "__main__":
    main()
