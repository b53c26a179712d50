"""Every example, declared exactly as for the other backends, runs on the real Slurm cluster:
results checked from the logs, process groups on one node, nothing left after delete."""

import sys
import uuid

import pytest

from examples_support.backends import EXAMPLES, examples_run
from slurmhelpers import experiment_processes, squeue_names

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_on_slurm(slurm, example):
    cluster = slurm()
    name = f"{example}-{uuid.uuid4().hex[:6]}"
    statuses, logs, elapsed = examples_run.run(example, cluster, timeout=180, name=name, python=sys.executable)
    assert all(s.exit_code == 0 for s in statuses)
    assert name not in cluster.list_experiments()
    assert not [job for job in squeue_names() if name in job], "the job is gone after delete"
    assert experiment_processes(name) == [], "no process of the experiment survives delete"
    print(f"\n{example} on slurm: {elapsed:.1f}s")


@pytest.mark.timeout(420)
def test_apex_learns_on_slurm(slurm):
    """The flagship example reaches the CI bar (mean return 150 over 100 episodes in 3 minutes)."""
    cluster = slurm(restart_backoff=1.0)
    name = f"apex-{uuid.uuid4().hex[:6]}"
    statuses, logs, elapsed = examples_run.run("apex", cluster, timeout=270, name=name, python=sys.executable,
                                               bar=150.0, minutes=3.0)
    verdict = examples_run.load_example("apex").result(logs)
    assert verdict["solved"], verdict
    print(f"\napex on slurm: {verdict} in {elapsed:.0f} s")
