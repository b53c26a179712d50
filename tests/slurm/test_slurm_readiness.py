"""Readiness on the slurm backend, on the real cluster (.ci/slurm-up): a held process's runner waits
for its services at their node addresses before starting it, and ``symphony p`` shows it waiting,
and Ready from the checks run against the providers' nodes."""

import json
import os
import subprocess
import sys


from symphony import Cluster
from symphony.readiness import http, tcp
from late_service import FIRST_TRY_CLIENT, late_server
from waiting import wait_for

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SILENT = "import time; time.sleep(600)"


def statuses(cluster, name):
    return {status.key: status for status in cluster.describe_experiment(name)}


def cli(*argv):
    done = subprocess.run([sys.executable, "-m", "symphony.cli", "-b", "slurm", *argv], capture_output=True,
                          text=True, timeout=90)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_ten_clients_wait_for_a_server_that_listens_after_5s_and_none_fails_its_first_attempt(slurm):
    cluster = slurm()
    exp = cluster.new_experiment("late")
    server = exp.new_process("server", command=sys.executable, args=["-c", late_server()])
    server.binds("late", ready=tcp(interval=0.5))
    quiet = exp.new_process("quiet", command=sys.executable, args=["-c", SILENT])
    quiet.binds("never", ready=http("/healthz"))
    for i in range(10):
        exp.new_process(f"client-{i}", command=sys.executable, args=["-c", FIRST_TRY_CLIENT]).connects(
            "late", wait=True)
    exp.new_process("gives-up", command=sys.executable, args=["-c", SILENT]).connects(
        "never", wait=True, wait_timeout="3s")
    exp.new_process("goes-anyway", command=sys.executable, args=["-c", "print('started anyway')"]).connects(
        "never", wait=True, wait_timeout="3s", on_timeout="start")
    cluster.launch(exp)

    # launch returns once every runner checked in: the clients are held, the server runs but is not ready
    now = statuses(cluster, "late")
    for i in range(10):
        client = now[f"client-{i}"]
        assert client.state == "waiting" and client.waiting_for == ["late"], client.state_text()
        assert client.state_text().startswith("waiting: late (not ready ")
    assert now["server"].state == "running" and now["server"].checked
    assert not now["server"].ready and now["server"].not_ready == ["late"]
    table = cli("p", "late")
    assert "waiting: late (not ready" in table
    document = {p["key"]: p for p in json.loads(cli("p", "late", "-o", "json"))["processes"]}
    assert document["client-3"]["waiting_for"] == ["late"] and document["server"]["checked"] is True

    def all_started():
        current = statuses(cluster, "late")
        return current if all(current[f"client-{i}"].state == "running" for i in range(10)) else None
    started = wait_for(all_started, timeout=60)
    assert started["server"].ready and started["server"].not_ready == []
    for i in range(10):
        log = wait_for(lambda: [line for line in cluster.get_log("late", f"client-{i}") if "first attempt" in line])
        assert log == ["first attempt: hello"], f"client-{i}: {log}"

    # the deadlines: 'fail' never starts the process and says why; 'start' starts it anyway
    gave_up = wait_for(lambda: statuses(cluster, "late")["gives-up"].state == "failed"
                       and statuses(cluster, "late")["gives-up"], timeout=30)
    assert gave_up.state_text().startswith("failed: not started: not ready after 3s: never (")
    anyway = wait_for(lambda: statuses(cluster, "late")["goes-anyway"].state == "exited"
                      and statuses(cluster, "late")["goes-anyway"], timeout=30)
    assert anyway.exit_code == 0
    log = list(cluster.get_log("late", "goes-anyway"))
    assert log[-1] == "started anyway" and any("started anyway: not ready after 3s: never" in line for line in log)
    quiet_now = statuses(cluster, "late")["quiet"]
    assert quiet_now.state == "running" and not quiet_now.ready and quiet_now.not_ready == ["never"]


def test_the_dry_run_shows_the_checks_and_the_waits(tmp_path):
    cluster = Cluster.new("slurm", containers=False)
    exp = cluster.new_experiment("shown")
    exp.new_process("server", command="python", args=["s.py"]).binds("replay", ready=http("/healthz", interval=2))
    exp.new_process("client", command="python", args=["c.py"]).connects("replay", wait=True, wait_timeout="90s")
    text = cluster.plan(exp).render()
    assert "  ready: replay when GET http://<node of server>:<free port there>/healthz answers 2xx/3xx, every 2s" \
        in text
    assert "  waits for: replay (GET http://<node of server>:<free port there>/healthz answers 2xx/3xx), " \
           "at most 90s, then fail" in text


def test_waits_are_applied_not_listed_as_ignored():
    cluster = Cluster.new("slurm", containers=False)
    exp = cluster.new_experiment("applied")
    exp.new_process("server", command="python", args=["s.py"]).binds("replay", ready=http("/healthz"))
    exp.new_process("client", command="python", args=["c.py"]).connects("replay", wait=True)
    plan = cluster.plan(exp)
    assert plan.not_applied == []
    assert plan.processes[1].waits[0]["service"] == "replay"
