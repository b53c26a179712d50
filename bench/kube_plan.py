"""Kubernetes dry run of 10 to 10,000 processes: planning and YAML, and how each grows (no cluster needed).

Run from the repository root:

    python bench/kube_plan.py           # about half a minute on a 2-core machine
    python bench/kube_plan.py --quick   # 10, 100 and 1,000 only

The experiment is Surreal's shape (its create_surreal() launch code): a 6-process ``nonagent`` group binding
11 services (tensorboard exposed) and N-6 agents, each with a resource request, an
NFS mount, a node selector and a toleration, all connecting to the group's services.
``plan`` is the whole translation (resolution, commands, env, volumes, pod_yml
merging) that ``launch`` does before sending anything; ``render`` is the YAML a dry
run prints; ``dry run`` is ``launch(exp, dry_run=True)`` as a user runs it offline
(checks, plan and YAML; its output discarded). Each size is measured several times and the
best run counts. Times are this process's CPU seconds: the work is single-threaded and
waits for nothing, so on an idle machine they equal wall time, and on a shared one other
programs' load does not inflate them. Python's cycle collector runs as it always does (the
benchmark only collects between runs, so each starts from the same heap); the table counts
its passes during one plan of each size. Side by side at 1,000 processes, in the same run: the same YAML written by
PyYAML's dumper with libyaml's emitter (what the dry run used before), and the check that
both texts read back as the same objects.

Targets: 1,000 processes plan in < 1 s; the dry run of 10,000 processes takes <= 3 s; and
the time grows linearly: the per-process cost of planning and of the YAML at every size
from 100 up stays within 1.5x of the per-process cost at 1,000.
"""

import argparse
import contextlib
import gc
import io
import os
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from symphony import Cluster  # noqa: E402
from symphony.kube.yaml_render import dump_with_pyyaml  # noqa: E402

SERVICES = {"learner": ["parameter-publish", "prefetch-queue"],
            "replay": ["collector-frontend", "sampler-frontend", "collector-backend", "sampler-backend"],
            "ps": ["ps-frontend", "ps-backend"], "tensorplex": ["tensorplex"], "loggerplex": ["loggerplex"],
            "tensorboard": []}
TARGET_1000 = 1.0
TARGET_DRY_RUN_10000 = 3.0
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


def collections_during(function):
    """How many passes of each generation the cycle collector made while ``function`` ran (from a clean heap)."""
    gc.collect()
    before = [generation["collections"] for generation in gc.get_stats()]
    function()
    return [generation["collections"] - was for generation, was in zip(gc.get_stats(), before)]


def best_of(runs, function):
    best = float("inf")
    for _ in range(runs):
        gc.collect()  # start every run, of every size, with the same clean heap
        started = time.process_time()
        function()
        best = min(best, time.process_time() - started)
    return best


def dry_run(cluster, exp):
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        cluster.launch(exp, dry_run=True)


def pyyaml_render(plan):
    """The dry run's YAML as PyYAML writes it (libyaml's emitter when present), same quoting."""
    return "---\n".join(dump_with_pyyaml(obj) for obj in plan.objects)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip 10,000 processes")
    args = parser.parse_args()
    sizes = [10, 100, 1000] + ([] if args.quick else [10000])
    os.environ.setdefault("KUBECONFIG", os.path.join(tempfile.mkdtemp(prefix="kube-plan-"), "none"))  # offline
    cluster = Cluster.new("kube")
    results = {}
    for size in sizes:
        exp = surreal_like(cluster, size)
        runs = 5 if size <= 1000 else 3
        plan_time = best_of(runs, lambda: cluster.plan(exp))
        passes = collections_during(lambda: cluster.plan(exp))
        plan = cluster.plan(exp)
        render_time = best_of(runs, plan.render)
        dry_run_time = best_of(runs, lambda: dry_run(cluster, exp))
        results[size] = (plan_time, render_time, dry_run_time, len(plan.objects), passes)
        if size == 1000:
            pyyaml_time = best_of(3, lambda: pyyaml_render(plan))
            ours, theirs = plan.render(), pyyaml_render(plan)
            same = list(yaml.safe_load_all(ours.split("\n---\n", 1)[1])) == list(yaml.safe_load_all(theirs))
        del exp, plan

    per_1000 = {kind: results[1000][kind] / 1000 for kind in (0, 1)}
    print("| processes | objects | plan (s) | plan per process (µs) | vs 1,000 | collector passes in a plan "
          "(gen 0/1/2) | YAML (s) | YAML per process (µs) | vs 1,000 | dry run (s) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size, (plan_time, render_time, dry_run_time, objects, passes) in results.items():
        print(f"| {size:,} | {objects:,} | {plan_time:.4f} | {plan_time / size * 1e6:.0f} "
              f"| {(plan_time / size) / per_1000[0]:.2f}x | {'/'.join(map(str, passes))} "
              f"| {render_time:.4f} | {render_time / size * 1e6:.0f} "
              f"| {(render_time / size) / per_1000[1]:.2f}x | {dry_run_time:.3f} |")
    print(f"\nYAML of 1,000 processes, same run: {results[1000][1]:.3f} s; PyYAML with libyaml's emitter "
          f"{pyyaml_time:.3f} s ({pyyaml_time / results[1000][1]:.1f}x as long); same objects when read back: "
          f"{'yes' if same else 'NO'}")
    linear = all(0 < (times[kind] / n) / per_1000[kind] <= LINEARITY
                 for n, times in results.items() if n >= 100 for kind in (0, 1))
    met = results[1000][0] < TARGET_1000 and linear and same
    print(f"1,000 processes plan in {results[1000][0]:.3f} s (target < {TARGET_1000:.0f} s): "
          f"{'met' if results[1000][0] < TARGET_1000 else 'NOT met'}")
    if 10000 in results:
        dry = results[10000][2]
        met = met and dry <= TARGET_DRY_RUN_10000
        print(f"dry run of 10,000 processes: {dry:.3f} s (target <= {TARGET_DRY_RUN_10000:.0f} s): "
              f"{'met' if dry <= TARGET_DRY_RUN_10000 else 'NOT met'}; per-process cost at 10,000 vs 1,000: "
              f"plan {(results[10000][0] / 10000) / per_1000[0]:.2f}x, "
              f"YAML {(results[10000][1] / 10000) / per_1000[1]:.2f}x")
    print(f"linear from 100 up (per-process cost within {LINEARITY}x of 1,000's): {'yes' if linear else 'NO'}")
    print(f"({os.cpu_count()} cores; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())})")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
