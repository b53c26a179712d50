"""Conformance: every example, on every backend this machine has, gives the same result.

The examples' declarations have no backend branches: only where the code lives
(image, directory in it, interpreter) differs. A backend whose engine is present
must pass; only an absent engine skips.
"""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request

import pytest

EXAMPLES_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
EXAMPLES = ["hello", "mixed", "integration", "rl"]

spec = importlib.util.spec_from_file_location("examples_run", os.path.join(EXAMPLES_DIR, "run.py"))
examples_run = importlib.util.module_from_spec(spec)
spec.loader.exec_module(examples_run)

pytestmark = pytest.mark.slow


def visit_dashboard(cluster, name):
    """The rl example's exposed dashboard answers at the URL `symphony visit -u` prints."""
    if name != "rl":
        return
    deadline = time.monotonic() + 60
    while True:
        try:
            url = cluster.external_url(name, "dashboard")
            with urllib.request.urlopen(url, timeout=2) as response:
                assert response.status == 200
                assert "version" in json.loads(response.read())
                return
        except (OSError, ValueError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def leftover_processes(experiment):
    """Pids on this host whose environment says they belong to ``experiment``."""
    marker = f"SYMPH_EXPERIMENT={experiment}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                with open(f"/proc/{entry}/environ", "rb") as handle:
                    if marker in handle.read().split(b"\0"):
                        found.append(int(entry))
            except OSError:
                pass
    return found


def host_backend(backend):
    from symphony import Cluster
    if backend == "tmux":
        if not shutil.which("tmux"):
            pytest.skip("tmux is not installed")
        return Cluster.new("tmux", server_name=f"symph-examples-{os.getpid()}")
    return Cluster.new(backend, grace=2)


@pytest.mark.parametrize("example", EXAMPLES)
@pytest.mark.parametrize("backend", ["local", pytest.param("tmux", marks=pytest.mark.tmux)])
def test_example_on_host_backends(backend, example):
    cluster = host_backend(backend)
    try:
        statuses, logs, elapsed = examples_run.run(example, cluster, timeout=120, python=sys.executable,
                                                   while_running=lambda c, n: visit_dashboard(c, example))
        assert all(s.exit_code == 0 for s in statuses)
        assert example not in cluster.list_experiments(), "deleted after the run"
        assert leftover_processes(example) == [], "no process of the experiment survives delete"
        print(f"\n{example} on {backend}: {elapsed:.1f}s")
    finally:
        if backend == "tmux":
            subprocess.run(["tmux", "-L", cluster.server_name, "kill-server"], capture_output=True)
