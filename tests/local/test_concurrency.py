"""Concurrent launches from separate OS processes never share a port and never corrupt state."""

import subprocess
import sys

import pytest

from symphony import Cluster
from symphony.status import ProcessState

pytestmark = pytest.mark.slow

LAUNCH = """
import sys
from symphony import Cluster
cluster = Cluster.new('local', grace=1)
exp = cluster.new_experiment(sys.argv[1])
for i in range(5):
    exp.new_process(f'p{i}', 'sleep 120').binds([f'svc-{i}-a', f'svc-{i}-b'])
print('ready', flush=True)
sys.stdin.readline()  # start all launches at the same moment
cluster.launch(exp)
"""


def test_ten_concurrent_launches_get_distinct_ports():
    launchers = [subprocess.Popen([sys.executable, "-c", LAUNCH, f"conc-{i}"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True) for i in range(10)]
    for launcher in launchers:
        assert launcher.stdout.readline().strip() == "ready"
    for launcher in launchers:
        launcher.stdin.write("go\n")
        launcher.stdin.flush()
    for launcher in launchers:
        launcher.stdin.close()
        assert launcher.wait(timeout=120) == 0
    cluster = Cluster.new("local", grace=1)
    names = sorted(cluster.list_experiments())
    assert names == sorted(f"conc-{i}" for i in range(10))
    ports = []
    for name in names:
        env, _ = cluster.process_environment(name, "p0")
        ports.extend(int(v) for k, v in env.items() if k.endswith("_PORT"))
        statuses = cluster.describe_experiment(name)
        assert [s.state for s in statuses] == [ProcessState.RUNNING] * 5
    assert len(ports) == 10 * 10
    assert len(set(ports)) == len(ports), "no port is handed to two experiments"
    for name in names:
        cluster.delete(name)
    assert cluster.list_experiments() == []
    assert cluster.store.reserved_ports() == set()
