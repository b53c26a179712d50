"""A real Slurm cluster for the slurm tests: the one .ci/slurm-up started (slurmctld and three slurmd's).

Its state file gives ``SLURM_CONF``; without it (or without an answering controller) the
tests skip, and fail where ``SYMPHONY_REQUIRE_ENGINES`` lists slurm (tests/engines.py).
Every test's experiments are deleted at its end, so no job outlives the test that made it.
"""

import os
import subprocess

import pytest

from engines import require_engine
from symphony import Cluster

STATE_FILE = os.environ.get("SYMPHONY_CI_SLURM_STATE", "/tmp/symphony-ci-slurm/state.env")


def _slurm_conf():
    if os.environ.get("SLURM_CONF"):
        return os.environ["SLURM_CONF"]
    try:
        with open(STATE_FILE) as handle:
            for line in handle:
                if line.startswith("SLURM_CONF="):
                    return line.strip().split("=", 1)[1]
    except OSError:
        pass
    return None


@pytest.fixture(scope="session")
def slurm_conf():
    conf = _slurm_conf()
    if conf is None:
        require_engine("slurm", f"no Slurm cluster: run .ci/slurm-up (as root), or set SLURM_CONF ({STATE_FILE} is missing)")
    try:
        done = subprocess.run(["sinfo", "-h", "-o", "%D %t"], capture_output=True, text=True, timeout=10,
                              env={**os.environ, "SLURM_CONF": conf})
    except (OSError, subprocess.TimeoutExpired) as exc:
        require_engine("slurm", f"Slurm's sinfo does not answer ({exc})")
    if done.returncode != 0:
        require_engine("slurm", f"the Slurm controller does not answer: {done.stderr.strip()}")
    return conf


@pytest.fixture
def slurm(slurm_conf, monkeypatch):
    """``slurm(**settings)``: a SlurmCluster on the test cluster; its experiments are deleted afterwards."""
    monkeypatch.setenv("SLURM_CONF", slurm_conf)
    clusters = []

    def make(**settings):
        settings.setdefault("grace", 1.0)
        settings.setdefault("restart_backoff", 0.2)
        cluster = Cluster.new("slurm", **settings)
        clusters.append(cluster)
        return cluster
    yield make
    for cluster in clusters:
        for name in cluster.list_experiments():
            cluster.delete(name)
