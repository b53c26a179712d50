"""Kubernetes plan time for 10, 100, 1,000 and 10,000 processes (no cluster needed).

Run from the repository root:

    python bench/kube_plan.py           # about half a minute on a 2-core machine
    python bench/kube_plan.py --quick   # 10, 100 and 1,000 only

The experiment is Surreal's shape (its create_surreal() launch code): a 6-process ``nonagent`` group binding
11 services (tensorboard exposed) and N-6 agents, each with a resource request, an
NFS mount, a node selector and a toleration, all connecting to the group's services.
``plan`` is the whole translation (resolution, commands, env, volumes, pod_yml
merging) that ``launch`` does before sending anything; ``render`` is the YAML a dry
run prints. Each size is planned several times and the best run counts.

Targets: 1,000 processes plan in < 1 s, and the time grows linearly: the per-process
cost at every size stays within 1.5x of the per-process cost at 1,000.
"""

import argparse
import gc
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from symphony import Cluster  # noqa: E402

SERVICES = {"learner": ["parameter-publish", "prefetch-queue"],
            "replay": ["collector-frontend", "sampler-frontend", "collector-backend", "sampler-backend"],
            "ps": ["ps-frontend", "ps-backend"], "tensorplex": ["tensorplex"], "loggerplex": ["loggerplex"],
            "tensorboard": []}
TARGET_1000 = 1.0
LINEARITY = 1.5


def surreal_like(cluster, processes):
    exp = cluster.new_experiment(f"bench-{processes}")
    nonagent = exp.new_process_group("nonagent")
    for name, services in SERVICES.items():
        proc = nonagent.new_process(name, container_image="surreal-gpu:latest", args=[f"surreal {name}"])
        proc.binds(services)
        proc.mount_nfs(server="fs", path="/data", mount_path="/fs")
    nonagent.get_process("tensorboard").exposes({"tensorboard": 6006})
    nonagent.node_selector("surreal-node", "nonagent-gpu").add_toleration(key="surreal", operator="Exists")
    for i in range(processes - len(SERVICES)):
        agent = exp.new_process(f"agent-{i}", container_image="surreal-cpu:latest", args=[f"surreal agent {i}"])
        agent.connects(["ps-frontend", "collector-frontend", "tensorplex", "loggerplex"])
        agent.resource_request(cpu=1.5, mem="2G").image_pull_policy("Always").restart_policy("Never")
        agent.mount_nfs(server="fs", path="/data", mount_path="/fs")
        agent.node_selector("surreal-node", "agent").add_toleration(key="surreal", operator="Exists",
                                                                    effect="NoExecute")
    return exp


def best_of(runs, function):
    best = float("inf")
    for _ in range(runs):
        gc.collect()  # start every run, of every size, with the same clean heap
        started = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - started)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip 10,000 processes")
    args = parser.parse_args()
    sizes = [10, 100, 1000] + ([] if args.quick else [10000])
    cluster = Cluster.new("kube")
    results = {}
    for size in sizes:
        exp = surreal_like(cluster, size)
        runs = 5 if size <= 1000 else 3
        plan_time = best_of(runs, lambda: cluster.plan(exp))
        plan = cluster.plan(exp)
        render_time = best_of(1 if size > 1000 else 3, plan.render)
        results[size] = (plan_time, render_time, len(plan.objects))
        del exp, plan

    per_process_1000 = results[1000][0] / 1000
    print("| processes | objects | plan (s) | per process (µs) | vs 1,000 per process | render YAML (s) |")
    print("|---:|---:|---:|---:|---:|---:|")
    for size, (plan_time, render_time, objects) in results.items():
        ratio = (plan_time / size) / per_process_1000
        print(f"| {size:,} | {objects:,} | {plan_time:.4f} | {plan_time / size * 1e6:.0f} | {ratio:.2f}x | "
              f"{render_time:.3f} |")
    linear = all(0 < (t / n) / per_process_1000 <= LINEARITY for n, (t, _, _) in results.items() if n >= 100)
    print(f"\n1,000 processes: {results[1000][0]:.3f} s (target < {TARGET_1000:.0f} s): "
          f"{'met' if results[1000][0] < TARGET_1000 else 'NOT met'}")
    print(f"linear from 100 up (per-process cost within {LINEARITY}x of 1,000's): {'yes' if linear else 'NO'}")
    return 0 if results[1000][0] < TARGET_1000 and linear else 1


if __name__ == "__main__":
    sys.exit(main())
