"""Start order: ten clients held until a slow server is ready.

The server loads for five seconds before it listens on its ``model`` service; each
client connects exactly once, with no retry. Declared with ``connects('model',
wait=True)``, every client is held until the server's check (its port accepts a
connection) passes, so every first attempt succeeds. Launch with
``python examples/run.py readiness`` or ``symphony launch examples/readiness/experiment.py``;
while the server loads, ``symphony p`` shows the clients ``waiting: model (not ready 3s)``.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CLIENTS = 10
DELAY = 5.0


def build(cluster, image=None, workdir=HERE, python=sys.executable, name="readiness", delay=DELAY, clients=CLIENTS,
          wait=True):
    """The declaration every backend runs; ``wait=False`` shows what the holding prevents."""
    exp = cluster.new_experiment(name)
    server = exp.new_process("server", command=python, container_image=image, cwd=workdir,
                             args=["node.py", "server", "--delay", str(delay), "--clients", str(clients)])
    server.binds("model")
    for i in range(clients):
        client = exp.new_process(f"client-{i}", command=python, container_image=image, cwd=workdir,
                                 args=["node.py", "client", "--index", str(i)])
        client.connects("model", wait=wait)
    return exp


def check(logs, clients=CLIENTS):
    """Every client's first connection attempt succeeded (none logged a connection error)."""
    for i in range(clients):
        lines = logs[f"client-{i}"]
        errors = [line for line in lines if "connection error" in line]
        assert not errors, f"client-{i} was started before the server was ready: {errors}"
        assert f"client {i} first connection attempt succeeded: welcome {i}" in lines, (i, lines)
    assert f"server served {clients} clients" in logs["server"], logs["server"]
