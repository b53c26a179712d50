"""The local backend with real processes, real sockets and a real supervisor."""

import json
import os
import signal
import socket
import stat
import subprocess
import sys

import psutil
import pytest

from symphony import Cluster
from symphony.errors import (ExperimentExistsError, ExperimentNotFoundError, LaunchError, PortUnavailableError,
                             SpecError, SymphonyError, UnboundServiceError)
from symphony.host.processes import find_run_processes
from symphony.status import ProcessState
from waiting import process_gone, wait_for

pytestmark = pytest.mark.slow

PROBE = ("import json, os, sys; json.dump({'argv': sys.argv[1:], 'env': dict(os.environ), 'cwd': os.getcwd()}, "
         "open(os.environ['PROBE_OUT'] + '.' + os.environ['SYMPH_PROCESS'].replace('/', '_'), 'w'))")


def finished(cluster, name):
    return lambda: all(s.state in (ProcessState.EXITED, ProcessState.KILLED) for s in cluster.describe_experiment(name))


def status(cluster, name, key):
    return next(s for s in cluster.describe_experiment(name) if s.key == key)


def parsed(path):
    """The JSON in ``path`` once it is there whole, else None."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):  # not written yet, or written part-way
        return None


def read_probe(tmp_path, key):
    return wait_for(lambda: parsed(tmp_path / f"probe.{key.replace('/', '_')}"))


def test_every_process_gets_every_service_variable(local_cluster, tmp_path, monkeypatch):
    monkeypatch.setenv("PROBE_OUT", str(tmp_path / "probe"))
    monkeypatch.setenv("SYMPH_REPLAY_SERVER_PORT", "1")  # the parent environment must not win
    exp = local_cluster.new_experiment("wiring")
    learner = exp.new_process("learner", command=sys.executable, args=["-c", PROBE])
    learner.binds(["replay-server", "parameter-server"]).exposes({"tensorboard-x": 23456})
    group = exp.new_process_group("agents")
    agent = group.new_process("agent-0", command=sys.executable, args=["-c", PROBE])
    agent.connects("replay-server")
    local_cluster.launch(exp)
    wait_for(finished(local_cluster, "wiring"))
    envs = {key: read_probe(tmp_path, key)["env"] for key in ("learner", "agents/agent-0")}
    ports = set()
    for key, env in envs.items():
        for service in ("REPLAY_SERVER", "PARAMETER_SERVER", "TENSORBOARD_X"):
            host, port = env[f"SYMPH_{service}_HOST"], env[f"SYMPH_{service}_PORT"]
            assert host == "127.0.0.1"
            assert env[f"SYMPH_{service}_ADDR"] == f"{host}:{port}"
            ports.add((service, port))
        assert env["SYMPH_BIND_HOST"] == "127.0.0.1"
        assert env["SYMPH_PROCESS"] == key
        assert env["SYMPH_EXPERIMENT"] == "wiring"
    assert len(ports) == 3, "both processes see the same three addresses"
    assert ("TENSORBOARD_X", "23456") in ports
    assert envs["learner"]["SYMPH_REPLAY_SERVER_PORT"] != "1"


def test_exec_form_arguments_arrive_verbatim_and_cmds_run_in_one_shell(local_cluster, tmp_path, monkeypatch):
    monkeypatch.setenv("PROBE_OUT", str(tmp_path / "probe"))
    nasty = ["with space", "it's", 'say "hi"', "$HOME", "a;b", "x|y&z", "new\nline", "ünï", "*", ""]
    exp = local_cluster.new_experiment("forms")
    exp.new_process("exec", command=sys.executable, args=["-c", PROBE, *nasty])
    exp.new_process("exec-preamble", command=sys.executable, args=["-c", PROBE, *nasty],
                    preamble_cmds=["export FROM_PREAMBLE=yes"])
    exp.new_process("shell", cmds=["export STEP=one", "cd /", f"{sys.executable} -c \"{PROBE}\" \"$STEP\""])
    local_cluster.launch(exp)
    wait_for(finished(local_cluster, "forms"))
    assert read_probe(tmp_path, "exec")["argv"] == nasty
    with_preamble = read_probe(tmp_path, "exec-preamble")
    assert with_preamble["argv"] == nasty
    assert with_preamble["env"]["FROM_PREAMBLE"] == "yes"
    shell = read_probe(tmp_path, "shell")
    assert shell["argv"] == ["one"] and shell["cwd"] == "/"


def test_preamble_order_env_precedence_and_cwd(tmp_path):
    cluster = Cluster.new("local", preamble_cmds=["echo cluster"], grace=1)
    exp = cluster.new_experiment("pre", preamble_cmds=["echo experiment"], env={"LEVEL": "exp", "ONLY_EXP": "1"})
    group = exp.new_process_group("g", preamble_cmds=["echo group"], env={"LEVEL": "group"})
    group.new_process("p", cmds=["echo process-cmd", "echo $LEVEL $ONLY_EXP $(pwd)"],
                      preamble_cmds=["echo process"], env={"LEVEL": "process"}, cwd=str(tmp_path))
    cluster.launch(exp)
    wait_for(finished(cluster, "pre"))
    lines = list(cluster.get_log("pre", "g/p"))
    assert lines == ["cluster", "experiment", "group", "process", "process-cmd", f"process 1 {tmp_path}"]


def test_exit_codes_and_signals_are_reported(local_cluster):
    exp = local_cluster.new_experiment("endings")
    exp.new_process("ok", "exit 0")
    exp.new_process("fails", "exit 3")
    exp.new_process("killed", "kill -9 $$")
    exp.new_process("runs", "sleep 60")
    local_cluster.launch(exp)
    wait_for(lambda: all(status(local_cluster, "endings", k).state != ProcessState.RUNNING
                         for k in ("ok", "fails", "killed")))
    assert status(local_cluster, "endings", "ok").state_text().startswith("exited (0)")
    assert status(local_cluster, "endings", "fails").exit_code == 3
    killed = status(local_cluster, "endings", "killed")
    assert killed.state == ProcessState.KILLED and killed.signal == "SIGKILL"
    assert killed.state_text().startswith("killed (SIGKILL)")
    running = status(local_cluster, "endings", "runs")
    assert running.state == ProcessState.RUNNING and running.ready and psutil.pid_exists(running.pid)
    assert running.state_text().startswith("running: ")


def test_restart_policies_and_counts(local_cluster):
    exp = local_cluster.new_experiment("restarts")
    exp.new_process("never", "exit 1")
    exp.new_process("on-failure", "exit 1").restart_policy("OnFailure")
    exp.new_process("on-failure-ok", "exit 0").restart_policy("OnFailure")
    exp.new_process("always", "exit 0").restart_policy("Always")
    group = exp.new_process_group("g")
    group.restart_policy("OnFailure")
    group.new_process("member", "exit 2")
    local_cluster.launch(exp)
    wait_for(lambda: all(status(local_cluster, "restarts", k).restarts >= 2
                         for k in ("on-failure", "always", "g/member")), timeout=30)
    assert status(local_cluster, "restarts", "never").restarts == 0
    assert status(local_cluster, "restarts", "on-failure-ok").restarts == 0
    assert status(local_cluster, "restarts", "on-failure-ok").exit_code == 0


def test_a_restarting_process_shows_how_its_last_run_ended():
    cluster = Cluster.new("local", grace=1.0, restart_backoff=60)  # long enough to look at it waiting
    exp = cluster.new_experiment("waits")
    exp.new_process("flaky", "exit 5").restart_policy("OnFailure")
    cluster.launch(exp)
    flaky = wait_for(lambda: (s := status(cluster, "waits", "flaky")).state == ProcessState.RESTARTING and s)
    assert flaky.state_text().startswith("restarting (exit 5): ")
    cluster.delete("waits")


def test_processes_outlive_the_launcher_and_delete_leaves_nothing(tmp_path):
    script = (
        "import sys; from symphony import Cluster\n"
        "c = Cluster.new('local', grace=1)\n"
        "e = c.new_experiment('detached')\n"
        "e.new_process('plain', 'sleep 300')\n"
        "e.new_process('stubborn', ['trap \"\" TERM HUP', 'sleep 300 & wait; sleep 300'])\n"
        "e.new_process('daemon', command=sys.executable, args=['-c', "
        "'import os, time\\nif os.fork(): os._exit(0)\\nos.setsid()\\nif os.fork(): os._exit(0)\\ntime.sleep(300)'])\n"
        "c.launch(e)\n")
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    cluster = Cluster.new("local", grace=1)
    assert cluster.list_experiments() == ["detached"]
    wait_for(lambda: status(cluster, "detached", "daemon").state == ProcessState.EXITED)
    run_id = cluster.store.get_experiment("local", "detached")["run_id"]
    pids = find_run_processes(run_id)
    assert len(pids) >= 4, "supervisor, plain, stubborn (+ child) and the daemonised grandchild"
    for pid in pids:  # each process leads its own session, away from the launcher's terminal
        assert os.getsid(pid) != os.getsid(0)
    cluster.delete("detached")
    assert find_run_processes(run_id) == []

    # a SIGKILLed process can still be tearing down (its environment already gone) for a moment
    wait_for(lambda: all(process_gone(pid) for pid in pids), timeout=5)
    assert cluster.list_experiments() == []
    with pytest.raises(ExperimentNotFoundError, match="no experiment 'detached' on the local backend"):
        cluster.delete("detached")


def test_launching_an_existing_name_needs_force(local_cluster):
    def make():
        exp = local_cluster.new_experiment("twice")
        exp.new_process("a", "sleep 60")
        return exp
    local_cluster.launch(make())
    first = status(local_cluster, "twice", "a").pid
    with pytest.raises(ExperimentExistsError, match="force=True"):
        local_cluster.launch(make())
    local_cluster.launch(make(), force=True)
    assert status(local_cluster, "twice", "a").pid != first
    assert not psutil.pid_exists(first)


def test_dry_run_prints_the_plan_and_starts_nothing(local_cluster, capsys, tmp_path):
    marker = tmp_path / "started"
    exp = local_cluster.new_experiment("dry")
    exp.new_process("a", command="touch", args=[str(marker)]).binds("svc")
    exp.new_process("b", f"touch {marker}").connects("svc")
    plan = local_cluster.launch(exp, dry_run=True)
    out = capsys.readouterr().out
    assert f"command: touch {marker}" in out
    assert "SYMPH_SVC_ADDR=127.0.0.1:" in out and "cwd: " in out
    assert out.strip() == plan.render().strip()
    # a launch records the experiment before it starts anything, and the record stays after its
    # processes end: nothing recorded means nothing was started, with no need to wait and see
    assert local_cluster.list_experiments() == []
    assert not marker.exists()


def test_failed_launch_leaves_no_state(local_cluster, tmp_path):
    exp = local_cluster.new_experiment("broken")
    exp.new_process("a", "sleep 60")
    exp.new_process("b", command="definitely-not-a-program-xyz")
    with pytest.raises(SpecError, match="not found"):
        local_cluster.launch(exp)
    assert local_cluster.list_experiments() == []

    # a fixed port that something else holds
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        exp = local_cluster.new_experiment("taken")
        exp.new_process("a", "sleep 60").binds({"web": port})
        with pytest.raises(PortUnavailableError, match=f"fixed port {port}"):
            local_cluster.launch(exp)
    assert local_cluster.list_experiments() == []
    assert local_cluster.store.reserved_ports() == set()

    # a program that exists but cannot be executed: fails inside the supervisor
    script = tmp_path / "not-executable.sh"
    script.write_text("#!/bin/sh\n")
    exp = local_cluster.new_experiment("noexec")
    exp.new_process("first", "sleep 60")
    exp.new_process("second", command=sys.executable, args=["-c", "pass"], preamble_cmds=[])
    exp.new_process("third", command=str(script))
    with pytest.raises(SpecError, match="not executable"):
        local_cluster.launch(exp)
    assert local_cluster.list_experiments() == []


def test_supervisor_start_failure_stops_what_started(local_cluster, tmp_path, monkeypatch):
    """An exec error found only at start (the file vanished after planning) rolls back."""
    script = tmp_path / "vanishing.sh"
    script.write_text("#!/bin/sh\nsleep 60\n")
    script.chmod(0o755)
    exp = local_cluster.new_experiment("vanish")
    exp.new_process("first", "sleep 60")
    exp.new_process("second", command=str(script))
    from symphony.local import cluster as local_module
    real_start = local_module.LocalCluster._start_supervisor

    def start_after_removal(self, plan):
        script.unlink()
        return real_start(self, plan)
    monkeypatch.setattr(local_module.LocalCluster, "_start_supervisor", start_after_removal)
    with pytest.raises(LaunchError, match="nothing was left running: cannot start .*vanishing.sh"):
        local_cluster.launch(exp)
    assert local_cluster.list_experiments() == []
    run_ids = [p.info["environ"].get("SYMPH_EXPERIMENT") for p in psutil.process_iter(["environ"])
               if p.info["environ"]]
    assert "vanish" not in run_ids


def test_connect_without_binder_is_refused_before_anything_starts(local_cluster):
    exp = local_cluster.new_experiment("unbound")
    exp.new_process("agent", "sleep 60").connects("replay-server")
    with pytest.raises(UnboundServiceError, match="connects to service 'replay-server' but no process binds it"):
        local_cluster.launch(exp)
    assert local_cluster.list_experiments() == []


def test_logs_tail_since_and_follow(local_cluster):
    exp = local_cluster.new_experiment("logs")
    exp.new_process("talker", ["for i in 1 2 3; do echo early-$i; done", "sleep 1.5",
                               "for i in 1 2 3; do echo late-$i; done", "sleep 0.5", "echo last"])
    local_cluster.launch(exp)
    wait_for(lambda: "late-3" in list(local_cluster.get_log("logs", "talker")), timeout=10)
    assert list(local_cluster.get_log("logs", "talker", tail=2)) == ["late-2", "late-3"]
    assert list(local_cluster.get_log("logs", "talker", since="1s"))[:1] == ["late-1"]
    followed = list(local_cluster.get_log("logs", "talker", follow=True))
    assert followed == ["early-1", "early-2", "early-3", "late-1", "late-2", "late-3", "last"]
    assert list(local_cluster.get_log("logs", "talker", tail=-1)) == followed
    with pytest.raises(SymphonyError, match="invalid --since 'yesterday'"):
        list(local_cluster.get_log("logs", "talker", since="yesterday"))


def test_state_is_private(local_cluster, symphony_home):
    exp = local_cluster.new_experiment("private")
    exp.new_process("a", "echo secret")
    local_cluster.launch(exp)
    wait_for(finished(local_cluster, "private"))
    assert stat.S_IMODE(os.stat(symphony_home).st_mode) == 0o700
    for root, dirs, files in os.walk(symphony_home):
        for name in dirs:
            assert stat.S_IMODE(os.stat(os.path.join(root, name)).st_mode) == 0o700, name
        for name in files:
            assert stat.S_IMODE(os.stat(os.path.join(root, name)).st_mode) & 0o077 == 0, name


def test_query_api(local_cluster):
    exp = local_cluster.new_experiment("query")
    exp.new_process("web", "sleep 60").exposes("dashboard")
    local_cluster.launch(exp)
    assert local_cluster.current_experiment() == "query"
    assert local_cluster.list_experiments() == ["query"]
    url = local_cluster.external_url("query", "dashboard")
    assert url.startswith("http://127.0.0.1:")
    (web,) = local_cluster.describe_experiment("query")
    assert (web.group, web.name, web.restarts, web.state) == ("", "web", 0, ProcessState.RUNNING)
    local_cluster.set_experiment("other")
    assert local_cluster.current_experiment() == "other"
    env, cwd = local_cluster.process_environment("query", "web")
    assert env["SYMPH_DASHBOARD_ADDR"] == url[len("http://"):]


def test_killed_supervisor_is_replaced_and_its_processes_adopted(local_cluster):
    exp = local_cluster.new_experiment("orphans")
    exp.new_process("a", "sleep 300")
    exp.new_process("b", "sleep 0.2")
    exp.new_process("c", "sleep 1; exit 4").restart_policy("OnFailure")
    local_cluster.launch(exp)
    wait_for(lambda: status(local_cluster, "orphans", "b").state == ProcessState.EXITED)
    row = local_cluster.store.get_experiment("local", "orphans")
    os.kill(row["supervisor_pid"], signal.SIGKILL)
    wait_for(lambda: process_gone(row["supervisor_pid"]))
    # replaced by its guardian at once (or by a query, if that died too), which counts the adoption just
    # after it names itself: the first query may come in between
    wait_for(lambda: "re-adopted" in status(local_cluster, "orphans", "a").detail)
    a = status(local_cluster, "orphans", "a")
    new_supervisor = local_cluster.store.get_experiment("local", "orphans")["supervisor_pid"]
    assert new_supervisor and new_supervisor != row["supervisor_pid"] and psutil.pid_exists(new_supervisor)
    assert a.state == ProcessState.RUNNING and "re-adopted" in a.detail and psutil.pid_exists(a.pid)
    # the new supervisor applies the restart policy and notices deaths of adopted processes
    restarts = status(local_cluster, "orphans", "c").restarts
    wait_for(lambda: status(local_cluster, "orphans", "c").restarts > restarts, timeout=15)
    os.kill(a.pid, signal.SIGKILL)
    wait_for(lambda: status(local_cluster, "orphans", "a").state == ProcessState.KILLED)
    assert status(local_cluster, "orphans", "a").signal == "SIGKILL", "the adopter learns the signal too"
    assert status(local_cluster, "orphans", "b").exit_code == 0
    local_cluster.delete("orphans")
    assert find_run_processes(row["run_id"]) == []


def test_servers_listen_on_loopback_unless_asked_otherwise(tmp_path):
    for bind_host in ("127.0.0.1", "0.0.0.0"):
        cluster = Cluster.new("local", grace=1, bind_host=bind_host) if bind_host != "127.0.0.1" \
            else Cluster.new("local", grace=1)
        exp = cluster.new_experiment(f"bind-{bind_host.replace('.', '-')}")
        exp.new_process("server", "sleep 60").binds("web")
        plan = cluster.plan(exp)
        env = plan.processes[0].env
        assert env["SYMPH_BIND_HOST"] == bind_host
        assert env["SYMPH_WEB_HOST"] == "127.0.0.1", "clients on this machine still connect over loopback"


def test_describing_an_experiment_reads_neither_its_spec_nor_its_plan(local_cluster):
    """Both grow with the experiment (with 1,000 processes, reading them took longer than the process rows):
    ``symphony p`` needs only the experiment's state, its processes' rows and the readiness document."""
    exp = local_cluster.new_experiment("brief")
    exp.new_process("a", command=sys.executable, args=["-c", "import time; time.sleep(60)"]).binds("svc")
    local_cluster.launch(exp)
    try:
        statements = []
        local_cluster.store.db.set_trace_callback(statements.append)
        try:
            assert [s.state for s in local_cluster.describe_experiment("brief")] == [ProcessState.RUNNING]
        finally:
            local_cluster.store.db.set_trace_callback(None)
        read = [sql for sql in statements if "FROM experiments" in sql]
        assert read and not [sql for sql in read if "*" in sql or "plan" in sql or "spec" in sql], read
    finally:
        local_cluster.delete("brief")
