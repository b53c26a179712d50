"""The local supervisor's held starts across its own death, and the readiness it keeps on record."""

import json
import os
import signal
import sys

import pytest

from symphony import Cluster
from symphony.status import ProcessState
from waiting import process_gone, wait_for

pytestmark = pytest.mark.slow

#: listens on its service's port once the file named by $GATE exists
GATED_SERVER = """
import os, socket, time
while not os.path.exists(os.environ['GATE']):
    time.sleep(0.05)
server = socket.create_server(('127.0.0.1', int(os.environ['SYMPH_SVC_PORT'])))
time.sleep(600)
"""


def statuses(cluster, name):
    return {s.key: s for s in cluster.describe_experiment(name)}


def test_a_replacement_supervisor_keeps_holding_and_starts_the_held_process_once_ready(tmp_path):
    cluster = Cluster.new("local", grace=1.0)
    gate = tmp_path / "gate"
    exp = cluster.new_experiment("adopted", env={"GATE": str(gate)})
    exp.new_process("server", command=sys.executable, args=["-c", GATED_SERVER]).binds("svc")
    exp.new_process("client", command="sleep", args=["600"]).connects("svc", wait=True, wait_timeout="5m")
    cluster.launch(exp)
    try:
        held = statuses(cluster, "adopted")["client"]
        assert held.state is ProcessState.WAITING and held.pid is None
        dead = cluster.store.get_experiment("local", "adopted")["supervisor_pid"]
        os.kill(dead, signal.SIGKILL)
        wait_for(lambda: process_gone(dead))
        wait_for(lambda: cluster.store.get_experiment("local", "adopted")["supervisor_pid"] not in (dead, None)
                 and cluster.store.get_experiment("local", "adopted")["adoptions"] == 1, timeout=30)
        assert statuses(cluster, "adopted")["client"].state is ProcessState.WAITING, "not started by the adoption"
        gate.touch()
        client = wait_for(lambda: (s := statuses(cluster, "adopted")["client"]) and s.state is ProcessState.RUNNING
                          and s, timeout=30)
        assert client.pid and client.restarts == 0
        assert statuses(cluster, "adopted")["server"].ready
    finally:
        cluster.delete("adopted")


def test_a_held_process_has_its_log_at_once_and_deleted_before_it_started_leaves_nothing(tmp_path):
    cluster = Cluster.new("local", grace=1.0)
    exp = cluster.new_experiment("gone", env={"GATE": str(tmp_path / "never")})
    exp.new_process("server", command=sys.executable, args=["-c", GATED_SERVER]).binds("svc")
    exp.new_process("client", command="sleep", args=["600"]).connects("svc", wait=True)
    cluster.launch(exp)
    log_dir = cluster._log_dir("gone")
    document = json.load(open(os.path.join(log_dir, "readiness.json")))
    assert document["held"]["client"]["waits"] == ["svc"] and document["provides"] == {"server": ["svc"]}
    assert list(cluster.get_log("gone", "client")) == [], "a held process's log is there, empty, from the launch"
    cluster.delete("gone")
    assert not os.path.exists(log_dir) and cluster.list_experiments() == []


def test_a_new_answer_of_a_never_ready_check_is_written_for_symphony_p(tmp_path):
    """``symphony p`` shows each check's last answer: a service that never passed has no change
    of readiness nor of counted failures, yet its answer changes (refused, then HTTP 404)."""
    from types import SimpleNamespace

    from symphony.host.readiness import read_document
    from symphony.local.readiness import Readiness
    from symphony.resolution.resolved import ResolvedCheck

    check = ResolvedCheck("bad", "http", "127.0.0.1", 1, "/missing", (), 0.2, 1.0, 3, True)
    child = SimpleNamespace(plan=SimpleNamespace(key="bad", checks=[check.to_dict()], waits=[]))
    path = str(tmp_path / "readiness.json")
    readiness = Readiness([child], path)
    readiness.provider_started(child)
    for detail in ("GET /missing: connection refused", "GET /missing: HTTP 404"):
        readiness.result("bad", False, detail)
        readiness.flush()
        assert read_document(path)["services"]["bad"]["detail"] == detail
    readiness.close()
