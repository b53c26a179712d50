"""Socket ring: three processes pass numbered messages round a ring of plain sockets.

P0 sends ``hello0 i`` to P1, P1 to P2, P2 to P0, for i in 0..N-1, using only the
SYMPH_* variables. Launch with ``python examples/run.py hello`` or
``symphony launch examples/hello/experiment.py``.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SIZE = 3


def build(cluster, image=None, workdir=HERE, python=sys.executable, messages=5, name="hello"):
    """The ring declared once; every backend runs this same declaration.

    ``image``, ``workdir`` and ``python`` say where the code lives: container backends
    need an image holding ring.py in ``workdir``; local backends ignore the image.
    """
    exp = cluster.new_experiment(name)
    for i in range(SIZE):
        member = exp.new_process(f"p{i}", command=python, container_image=image, cwd=workdir,
                                 args=["ring.py", "--index", str(i), "--size", str(SIZE), "--messages", str(messages)])
        member.binds(f"ring-{i}")
        member.connects(f"ring-{(i + 1) % SIZE}")
    return exp


def check(logs, messages=5):
    """Verify the result from the processes' logs ({process key: [lines]})."""
    for i in range(SIZE):
        previous = (i - 1) % SIZE
        got = [line for line in logs[f"p{i}"] if line.startswith(f"p{i} got: ")]
        assert got == [f"p{i} got: hello{previous} {k}" for k in range(messages)], (i, logs[f"p{i}"])
        assert f"p{i} done" in logs[f"p{i}"]
