"""Mixed: the socket ring of ``hello`` where P1 and P2 form a process group.

P0 is a standalone process; P1 and P2 share a network namespace (one Kubernetes
pod, one Docker network namespace). The ring still talks only through SYMPH_*
variables, so the same worker script runs unchanged: the example reuses
``examples/hello/ring.py``.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
RING_DIR = os.path.join(os.path.dirname(HERE), "hello")
SIZE = 3


def build(cluster, image=None, workdir=RING_DIR, python=sys.executable, messages=5, name="mixed"):
    exp = cluster.new_experiment(name)
    pair = exp.new_process_group("pair")
    for i in range(SIZE):
        parent = exp if i == 0 else pair
        member = parent.new_process(f"p{i}", command=python, container_image=image, cwd=workdir,
                                    args=["ring.py", "--index", str(i), "--size", str(SIZE), "--messages", str(messages)])
        member.binds(f"ring-{i}")
        member.connects(f"ring-{(i + 1) % SIZE}")
    return exp


def check(logs, messages=5):
    keys = {0: "p0", 1: "pair/p1", 2: "pair/p2"}
    for i, key in keys.items():
        previous = (i - 1) % SIZE
        got = [line for line in logs[key] if line.startswith(f"p{i} got: ")]
        assert got == [f"p{i} got: hello{previous} {k}" for k in range(messages)], (key, logs[key])
        assert f"p{i} done" in logs[key]
