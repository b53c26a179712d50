"""Readiness checks and start order applied on the host backends (local, tmux), with real processes.

Each test runs on both backends: the local supervisor runs the checks and holds the
processes itself; on tmux each held window's runner waits before it starts its process,
and ``symphony p`` runs the providers' checks when asked.
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from symphony import Cluster, command, tcp
from symphony.status import ProcessState
from waiting import wait_for

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                "examples"))
import run as examples_run  # noqa: E402  (examples/run.py)

pytestmark = pytest.mark.slow

#: listens on its service's port after $DELAY seconds; closes the listener (staying alive) on SIGUSR1
SERVER = """
import os, signal, socket, sys, time
time.sleep(float(os.environ.get('DELAY', '0')))
server = socket.create_server(('127.0.0.1', int(os.environ['SYMPH_SVC_PORT'])))
print('listening', flush=True)
def close(*_):
    server.close()
    print('closed', flush=True)
signal.signal(signal.SIGUSR1, close)
while True:
    time.sleep(1)
"""


@pytest.fixture(params=["local", pytest.param("tmux", marks=pytest.mark.tmux)])
def cluster(request):
    if request.param == "local":
        yield Cluster.new("local", grace=1.0, restart_backoff=0.2)
        return
    from .tmux_servers import kill_server, new_server_name
    name = new_server_name()
    try:
        yield Cluster.new("tmux", server_name=name, grace=1.0, restart_backoff=0.2)
    finally:
        kill_server(name)


def statuses(cluster, name):
    return {s.key: s for s in cluster.describe_experiment(name)}


def cli(*argv):
    """``symphony ARGV`` as a user runs it (a new process): its stdout."""
    result = subprocess.run([sys.executable, "-m", "symphony.cli", *argv], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def cli_processes(cluster, name):
    """``symphony p NAME -b BACKEND -o json``'s processes, by key."""
    document = json.loads(cli("p", name, "-b", cluster.backend_name, "-o", "json"))
    return {process["key"]: process for process in document["processes"]}


def counting_from_ready(cluster, name, service="svc"):
    """Wait until whoever counts readiness failures found ``service`` ready (only failures after that
    count): the local supervisor, whose readiness `p` shows, or on tmux the log indexer, whose checks
    run apart from the ones `p` makes."""
    path = os.path.join(cluster._log_dir(name), "readiness.json")
    wait_for(lambda: os.path.exists(path) and json.load(open(path))["services"][service]["ready"], timeout=20)


def server_experiment(cluster, name, delay=0.0, check=None, restart="Never"):
    exp = cluster.new_experiment(name, env={"DELAY": str(delay)})
    server = exp.new_process("server", command=sys.executable, args=["-c", SERVER]).restart_policy(restart)
    server.binds("svc", ready=check) if check is not None else server.binds("svc")
    return exp


def test_the_example_holds_every_client_until_the_slow_server_listens(cluster):
    """examples/readiness: no client's single connection attempt fails; `symphony p` (table and JSON)
    shows the clients waiting while the server loads."""
    seen = {}

    def while_running(cluster, name):
        table = wait_for(lambda: (out := cli("p", name, "-b", cluster.backend_name)) and "waiting: model" in out
                         and out, timeout=30)
        processes = cli_processes(cluster, name)
        seen.update(table=table, json=processes)

    examples_run.run("readiness", cluster, timeout=120, while_running=while_running)
    rows = [line.split() for line in seen["table"].splitlines() if "client-" in line]
    assert rows and all("waiting:" in line and "model (not ready" in " ".join(line) for line in rows), seen["table"]
    clients = [p for key, p in seen["json"].items() if key.startswith("client-")]
    assert {p["state"] for p in clients} <= {"waiting", "running", "exited"}
    held = [p for p in clients if p["state"] == "waiting"]
    assert held and all(p["waiting_for"] == ["model"] and p["detail"].startswith("model (not ready ")
                        and p["ready"] is False for p in held), held
    server = seen["json"]["server"]
    assert server["checked"] is True and server["state"] == "running"


def test_without_the_wait_the_example_fails_its_check(cluster):
    """What the holding prevents: started at once, the clients' first attempts fail."""
    example = examples_run.load_example("readiness")
    cluster.launch(example.build(cluster, name="nowait", delay=2.0, clients=2, wait=False))
    try:
        wait_for(lambda: all(s.state is ProcessState.EXITED for key, s in statuses(cluster, "nowait").items()
                             if key.startswith("client-")), timeout=30)
        logs = {key: list(cluster.get_log("nowait", key)) for key in statuses(cluster, "nowait")}
        with pytest.raises(AssertionError, match="was started before the server was ready"):
            example.check(logs, clients=2)
    finally:
        cluster.delete("nowait")


def test_ready_comes_from_the_check_and_a_server_that_stops_serving_is_not_ready(cluster):
    exp = server_experiment(cluster, "stops", delay=1.0, check=tcp(interval=0.2, failure_threshold=2))
    exp.new_process("idle", command="sleep", args=["600"])
    cluster.launch(exp)
    try:
        first = statuses(cluster, "stops")
        assert first["server"].checked and not first["server"].ready and first["server"].not_ready == ["svc"]
        assert not first["idle"].checked and first["idle"].ready  # provides nothing: ready when it runs
        wait_for(lambda: statuses(cluster, "stops")["server"].ready, timeout=20)
        assert cli_processes(cluster, "stops")["server"]["ready"] is True
        counting_from_ready(cluster, "stops")
        os.kill(statuses(cluster, "stops")["server"].pid, signal.SIGUSR1)  # alive, but no longer listening
        server = wait_for(lambda: (s := statuses(cluster, "stops")["server"]) and not s.ready and s, timeout=20)
        assert server.state is ProcessState.RUNNING and server.not_ready == ["svc"]
        table = cli("p", "stops", "-b", cluster.backend_name)
        row = next(line.split() for line in table.splitlines() if " server " in f" {line} ")
        assert row[1] == "0", table
        # counted by whoever keeps running the checks: the local supervisor, the tmux log indexer
        assert wait_for(lambda: statuses(cluster, "stops")["server"].readiness_failures >= 2, timeout=20)
        assert cli_processes(cluster, "stops")["server"]["readiness_failures"] >= 2
    finally:
        cluster.delete("stops")


def test_a_provider_killed_after_it_was_ready_is_not_ready_until_it_listens_again(cluster):
    exp = server_experiment(cluster, "killed", delay=1.5, check=tcp(interval=0.2), restart="Always")
    cluster.launch(exp)
    try:
        wait_for(lambda: statuses(cluster, "killed")["server"].ready, timeout=20)
        counting_from_ready(cluster, "killed")
        os.kill(statuses(cluster, "killed")["server"].pid, signal.SIGKILL)
        wait_for(lambda: (s := statuses(cluster, "killed")["server"]).restarts == 1 and not s.ready, timeout=20)
        assert wait_for(lambda: statuses(cluster, "killed")["server"].readiness_failures > 0, timeout=20)
        wait_for(lambda: statuses(cluster, "killed")["server"].ready, timeout=20)
    finally:
        cluster.delete("killed")


def test_a_check_that_never_passes_fails_or_starts_the_waiting_process_at_its_deadline(cluster):
    exp = cluster.new_experiment("never")
    exp.new_process("server", command="sleep", args=["600"]).binds("svc", ready=command(["false"], interval=0.2))
    exp.new_process("strict", command="sleep", args=["600"]).connects("svc", wait=True, wait_timeout=2)
    exp.new_process("lenient", command="sleep", args=["600"]).connects("svc", wait=True, wait_timeout=2,
                                                                      on_timeout="start")
    cluster.launch(exp)
    try:
        held = statuses(cluster, "never")
        assert held["strict"].state is ProcessState.WAITING and held["strict"].waiting_for == ["svc"]
        strict = wait_for(lambda: (s := statuses(cluster, "never")["strict"]) and s.state is ProcessState.FAILED
                          and s, timeout=20)
        assert strict.detail.startswith("not started: not ready after 2s: svc (") and "\n" not in strict.detail
        assert strict.pid is None
        lenient = wait_for(lambda: (s := statuses(cluster, "never")["lenient"]) and s.state is ProcessState.RUNNING
                           and s, timeout=20)
        assert lenient.detail.startswith("started anyway: not ready after 2s: svc ("), lenient.detail
        table = cli("p", "never", "-b", cluster.backend_name)
        line = next(line for line in table.splitlines() if "strict" in line)
        assert "failed: not started: not ready after 2s: svc" in line
        assert cli_processes(cluster, "never")["strict"]["state"] == "failed"
    finally:
        cluster.delete("never")


def test_a_held_process_once_started_follows_its_restart_policy(cluster):
    """Waiting is about the first start: restarts do not wait, even when the service went away."""
    exp = server_experiment(cluster, "policy", delay=0.5)
    exp.new_process("flaky", command="sh", args=["-c", "sleep 0.3; exit 1"]).restart_policy("OnFailure") \
        .connects("svc", wait=True)
    cluster.launch(exp)
    try:
        wait_for(lambda: statuses(cluster, "policy")["flaky"].restarts >= 1, timeout=30)
        server = statuses(cluster, "policy")["server"]
        os.kill(server.pid, signal.SIGKILL)  # Never restarts: the service is gone for good
        wait_for(lambda: statuses(cluster, "policy")["server"].state is ProcessState.KILLED, timeout=20)
        restarts = statuses(cluster, "policy")["flaky"].restarts
        wait_for(lambda: statuses(cluster, "policy")["flaky"].restarts >= restarts + 2, timeout=30)
        assert statuses(cluster, "policy")["flaky"].state is not ProcessState.WAITING
    finally:
        cluster.delete("policy")


def test_the_dry_run_plan_shows_the_probes_and_the_waits(cluster, capsys):
    exp = server_experiment(cluster, "plan", check=tcp(interval=0.5))
    exp.new_process("web", command="sleep", args=["1"]).binds("page")
    exp.new_process("client", command="sleep", args=["1"]).connects("svc", wait=True, wait_timeout="90s",
                                                                   on_timeout="start")
    cluster.launch(exp, dry_run=True)
    out = capsys.readouterr().out
    assert "  ready: svc: tcp 127.0.0.1:" in out and "every 0.5s, timeout 1s" in out
    assert "  ready: page: a socket listens on port " in out and "(the default check)" in out
    assert "  waits: svc (bound by server) ready, at most 90s, then start it anyway" in out
    assert "does not apply it yet" not in out and "holding processes" not in out


def test_an_experiment_without_services_writes_no_readiness_and_reports_as_before(cluster):
    exp = cluster.new_experiment("plain")
    exp.new_process("a", command="sleep", args=["600"])
    cluster.launch(exp)
    try:
        status = wait_for(lambda: (s := statuses(cluster, "plain")["a"]) and s.state is ProcessState.RUNNING and s)
        assert status.ready and not status.checked
        assert "checked" not in cli_processes(cluster, "plain")["a"]
        log_dir = os.path.dirname(cluster.store.get_process(cluster.backend_name, "plain", "a")["log_path"])
        assert not [name for name in os.listdir(log_dir) if name.startswith("readiness")]
    finally:
        cluster.delete("plain")


def test_default_checks_stop_once_they_pass_so_an_idle_supervisor_stays_idle():
    """Local: the default check (the port accepts a connection) is not repeated once it passed; the
    provider's end is the event that takes the service away."""
    cluster = Cluster.new("local", grace=1.0)
    exp = server_experiment(cluster, "idle")
    cluster.launch(exp)
    try:
        wait_for(lambda: statuses(cluster, "idle")["server"].ready, timeout=20)
        path = os.path.join(cluster._log_dir("idle"), "readiness.json")
        written = os.stat(path).st_mtime_ns
        count = json.load(open(path))["checks"]
        time.sleep(2.5)  # (more than two intervals of the check: none runs, so nothing is rewritten)
        assert os.stat(path).st_mtime_ns == written and json.load(open(path))["checks"] == count
        os.kill(statuses(cluster, "idle")["server"].pid, signal.SIGKILL)
        assert wait_for(lambda: json.load(open(path))["services"]["svc"]["detail"] == "not running", timeout=20)
    finally:
        cluster.delete("idle")


def test_deleting_an_experiment_while_a_process_is_held_starts_nothing_and_leaves_nothing(cluster, tmp_path):
    from leftovers import experiment_pids
    started = tmp_path / "started"
    exp = cluster.new_experiment("heldgone")
    exp.new_process("server", command="sleep", args=["600"]).binds("svc")  # never listens
    exp.new_process("client", cmds=[f"touch {started}", "sleep 600"]).connects("svc", wait=True)
    cluster.launch(exp)
    wait_for(lambda: statuses(cluster, "heldgone")["client"].state is ProcessState.WAITING)
    cluster.delete("heldgone")
    assert experiment_pids("heldgone") == [] and not started.exists()
    assert cluster.list_experiments() == []


def test_http_checks_pass_on_a_2xx_answer_and_fail_on_a_404(cluster, tmp_path):
    from symphony import http
    (tmp_path / "healthz").write_text("ok")
    exp = cluster.new_experiment("web")
    for name, path in (("good", "/healthz"), ("bad", "/missing")):
        exp.new_process(name, cwd=str(tmp_path),  # (both serve the same directory: only the paths differ)
                        cmds=[f"exec {sys.executable} -m http.server --bind 127.0.0.1 $SYMPH_{name.upper()}_PORT"]) \
            .binds(name, ready=http(path, interval=0.2))
    cluster.launch(exp)
    try:
        wait_for(lambda: statuses(cluster, "web")["good"].ready, timeout=20)
        bad = statuses(cluster, "web")["bad"]
        assert bad.state is ProcessState.RUNNING and bad.checked and not bad.ready and bad.not_ready == ["bad"]
        if cluster.backend_name == "local":  # (the supervisor keeps each check's last answer)
            path = os.path.join(cluster._log_dir("web"), "readiness.json")
            wait_for(lambda: json.load(open(path))["services"]["bad"]["detail"] == "GET /missing: HTTP 404")
            assert not statuses(cluster, "web")["bad"].ready
    finally:
        cluster.delete("web")
