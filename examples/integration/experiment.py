"""Hierarchical numerical integration of f(x) = x² over [0, 10] with caraml.

A supermaster (``s0``) splits [0, 10] into 10 supertasks and broadcasts each,
split into two halves, to two process groups; group ``g0`` (a groupmaster and 2
workers) takes the first half, ``g1`` (a groupmaster and 4 workers) the second.
Each groupmaster splits its half among its workers, which integrate with
Simpson's rule; results reduce to the groupmasters, then to ``s0``, which prints
the total (1000/3) and stops everyone.

    python examples/run.py integration
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
GROUP_SIZES = (2, 4)


def build(cluster, image=None, workdir=HERE, python=sys.executable, name="integration"):
    exp = cluster.new_experiment(name)

    def process(parent, process_name, script, *args):
        return parent.new_process(process_name, command=python, args=[script, *map(str, args)],
                                  container_image=image, cwd=workdir)

    supermaster = process(exp, "s0", "supermaster.py", "--groups", len(GROUP_SIZES))
    supermaster.binds(["supertasks", "results"])
    for g, workers in enumerate(GROUP_SIZES):
        group = exp.new_process_group(f"g{g}")
        master = process(group, "master", "groupmaster.py", "--group", g, "--workers", workers)
        master.connects(["supertasks", "results"])
        master.binds(f"g{g}-tasks")
        for w in range(workers):
            process(group, f"worker-{w}", "worker.py", "--group", g, "--index", w).connects(f"g{g}-tasks")
    return exp


def check(logs):
    totals = [line for line in logs["s0"] if line.startswith("total = ")]
    assert len(totals) == 1, logs["s0"]
    assert abs(float(totals[0].split("=")[1]) - 1000 / 3) < 1e-6, totals
