"""Launch of 100 pods: Symphony's ``launch`` vs ``kubectl apply -f`` of its dry-run YAML (live only).

Run from the repository root against a real cluster:

    SYMPHONY_TEST_KUBE=1 SYMPHONY_TEST_IMAGE=python:3.11-slim python bench/kube_launch.py [--pods 100]

Without ``SYMPHONY_TEST_KUBE=1``, a kubeconfig or kubectl it prints why and exits 0.

Both sides create the same objects — a Namespace, 100 Pods (``sleep``) and 10 Services —
and are timed until the API server has accepted every object (not until the pods run,
which measures the nodes, not the client). ``kubectl apply`` gets the YAML that
``launch(dry_run=True)`` prints, for an experiment of another name, so the two never
collide; rounds alternate which side goes first, and each experiment is deleted (and
waited for) between rounds. If kubectl's pods are refused because the new namespace's
default service account does not exist yet, its apply is repeated and the time of all
attempts counts (Symphony waits for that account itself).

Target: Symphony / kubectl <= 1.0.
"""

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from symphony import Cluster  # noqa: E402

TARGET = 1.0


def why_not_live():
    if os.environ.get("SYMPHONY_TEST_KUBE") != "1":
        return "set SYMPHONY_TEST_KUBE=1 (and KUBECONFIG) to run against a live cluster"
    kubeconfig = os.path.expanduser(os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or "~/.kube/config")
    if not os.path.exists(kubeconfig):
        return f"no kubeconfig at {kubeconfig}"
    if not os.environ.get("SYMPHONY_TEST_IMAGE"):
        return "set SYMPHONY_TEST_IMAGE to an image the cluster can run"
    if shutil.which("kubectl") is None:
        return "kubectl is not on PATH"
    return None


def experiment(cluster, name, pods, image):
    exp = cluster.new_experiment(name)
    for i in range(pods):
        proc = exp.new_process(f"p{i}", container_image=image, command="sleep", args=["3600"])
        proc.image_pull_policy("IfNotPresent")
        if i % (pods // 10 or 1) == 0:
            proc.binds(f"svc-{i}")
    return exp


def time_symphony(cluster, exp):
    started = time.perf_counter()
    cluster.launch(exp)
    return time.perf_counter() - started


def time_kubectl(cluster, exp):
    text = cluster.plan(exp).render()
    started = time.perf_counter()
    for _ in range(20):
        result = subprocess.run(cluster.kubectl_command("apply", "-f", "-"), input=text, text=True,
                                capture_output=True)
        if result.returncode == 0:
            return time.perf_counter() - started
        if "service account" not in result.stderr and "serviceaccount" not in result.stderr:
            raise SystemExit(f"kubectl apply failed: {result.stderr.strip()[-500:]}")
    raise SystemExit("kubectl apply kept failing on the default service account")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    reason = why_not_live()
    if reason:
        print(f"kube_launch: skipped: {reason}")
        return 0
    image = os.environ["SYMPHONY_TEST_IMAGE"]
    cluster = Cluster.new("kube", grace=0)
    names = {"symphony": "bench-symphony", "kubectl": "bench-kubectl"}
    timers = {"symphony": time_symphony, "kubectl": time_kubectl}
    best = {side: float("inf") for side in names}
    try:
        for round_number in range(args.rounds):
            order = ["symphony", "kubectl"] if round_number % 2 == 0 else ["kubectl", "symphony"]
            for side in order:
                seconds = timers[side](cluster, experiment(cluster, names[side], args.pods, image))
                best[side] = min(best[side], seconds)
                cluster.delete(names[side], wait=True)
    finally:
        for name in names.values():
            if name in cluster.list_experiments():
                cluster.delete(name, wait=True)
    ratio = best["symphony"] / best["kubectl"]
    print(f"| {args.pods} pods | seconds (best of {args.rounds}) |")
    print("|---|---:|")
    print(f"| symphony launch | {best['symphony']:.2f} |")
    print(f"| kubectl apply -f (dry-run YAML) | {best['kubectl']:.2f} |")
    print(f"\nsymphony / kubectl = {ratio:.2f} (target <= {TARGET}): {'met' if ratio <= TARGET else 'NOT met'}")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
