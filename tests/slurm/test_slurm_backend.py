"""The slurm backend on a real slurmctld with three slurmd's (.ci/slurm-up): nodes n1, n2, n3 at
127.0.0.11, .12, .13, 16 CPUs and 4 GiB each, features ``symphony`` and ``nodeN``, no GPUs,
no container support."""

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from slurmhelpers import experiment_processes, squeue_names
from symphony.errors import LaunchError, SpecError
from symphony.resolution import CapabilityError
from waiting import wait_for

pytestmark = pytest.mark.slow  # a real Slurm cluster runs every test here

NODE_ADDRESSES = {"n1": "127.0.0.11", "n2": "127.0.0.12", "n3": "127.0.0.13"}

SERVER = """
import os, socket, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((os.environ['SYMPH_BIND_HOST'], int(os.environ['SYMPH_REPLAY_SERVER_PORT'])))
s.listen()
print('serving', os.environ['SLURMD_NODENAME'], os.environ['SYMPH_REPLAY_SERVER_ADDR'], flush=True)
while True:
    c, _ = s.accept()
    print('got', c.recv(100).decode(), flush=True)
    c.close()
"""

CLIENT = """
import os, socket, sys, time
for _ in range(200):
    try:
        c = socket.create_connection((os.environ['SYMPH_REPLAY_SERVER_HOST'], int(os.environ['SYMPH_REPLAY_SERVER_PORT'])))
        break
    except OSError:
        time.sleep(0.05)
c.sendall(('hello from ' + os.environ['SLURMD_NODENAME']).encode())
print('sent', sys.argv[1:], os.environ['SYMPH_PARAMETER_SERVER_ADDR'], flush=True)
time.sleep(600)
"""


def cli(*argv):
    done = subprocess.run([sys.executable, "-m", "symphony.cli", "-b", "slurm", *argv], capture_output=True,
                          text=True, timeout=90)
    assert done.returncode == 0, done.stderr
    return done.stdout


def statuses(cluster, name):
    return {status.key: status for status in cluster.describe_experiment(name)}


def log_text(cluster, name, process):
    return "\n".join(cluster.get_log(name, process))


def test_the_readme_experiment_runs_unchanged_with_the_binding_node_address(slurm, tmp_path, monkeypatch):
    (tmp_path / "learner.py").write_text(SERVER)
    (tmp_path / "agent.py").write_text(CLIENT)
    monkeypatch.chdir(tmp_path)
    cluster = slurm()
    exp = cluster.new_experiment("rl")
    learner = exp.new_process("learner", command=sys.executable, args=["learner.py"])
    agent = exp.new_process("agent", command=sys.executable, args=["agent.py", "--env", "half-cheetah"])
    learner.binds("replay-server")
    learner.binds("parameter-server")
    learner.exposes({"tensorboard": 6006})
    agent.connects("replay-server")
    agent.connects("parameter-server")
    agent.node_selector("node", "node3")  # a Slurm feature: the agent must land on n3
    learner.node_selector("node", "node1")
    cluster.launch(exp)

    # launch returned once both checked in; they run on different nodes
    now = statuses(cluster, "rl")
    assert [now["learner"].state, now["agent"].state] == ["running", "running"]
    assert now["learner"].extra["node"] == "n1" and now["agent"].extra["node"] == "n3"
    # the agent reached the learner at the learner's node address, on a port chosen free there
    got = wait_for(lambda: "got hello from n3" in log_text(cluster, "rl", "learner") and log_text(cluster, "rl", "learner"))
    first = got.splitlines()[0].split()
    assert first[:2] == ["serving", "n1"] and first[2].startswith("127.0.0.11:")
    sent = wait_for(lambda: log_text(cluster, "rl", "agent"))
    assert "['--env', 'half-cheetah']" in sent and "127.0.0.11:" in sent
    assert cluster.external_url("rl", "tensorboard") == "http://127.0.0.11:6006"

    # the command line: ls, p (node names), logs --tail, exec, visit
    assert cli("ls").split() == ["rl"]
    table = cli("p", "rl")
    assert "running: n1" in table and "running: n3" in table
    assert json.loads(cli("p", "rl", "-o", "json"))["processes"][1]["state"] == "running"
    assert cli("logs", "learner", "rl", "--tail", "1").strip() == "got hello from n3"
    assert cli("exec", "agent", "rl", "--", "sh", "-c", "echo $SLURMD_NODENAME $SYMPH_PROCESS $PWD").split() == \
        ["n3", "agent", str(tmp_path)]
    assert cli("visit", "tensorboard", "rl", "-u").strip() == "http://127.0.0.11:6006"
    (tmp_path / "in.txt").write_text("payload")
    cli("scp", str(tmp_path / "in.txt"), "agent:copied.txt", "rl")
    assert (tmp_path / "copied.txt").read_text() == "payload"

    pids = experiment_processes("rl")
    assert len(pids) >= 2
    cli("delete", "rl", "-f")
    assert cluster.list_experiments() == []
    assert not any(name.startswith("symphony-rl|") for name in squeue_names())
    wait_for(lambda: not experiment_processes("rl"), timeout=10)


def test_a_process_group_shares_one_node_and_localhost_and_resources_are_allocated(slurm, tmp_path, monkeypatch):
    (tmp_path / "server.py").write_text(SERVER)
    (tmp_path / "client.py").write_text(CLIENT)
    monkeypatch.chdir(tmp_path)
    cluster = slurm()
    exp = cluster.new_experiment("grp")
    group = exp.new_process_group("pair")
    server = group.new_process("server", command=sys.executable, args=["server.py"])
    client = group.new_process("client", command=sys.executable, args=["client.py"])
    server.binds("replay-server")
    server.binds("parameter-server")
    client.connects("replay-server")
    server.resource_request(cpu=1.5, mem="300M")
    client.resource_limit(cpu=2, mem="200Mi")
    plan = cluster.launch(exp)
    # one task: the group's CPUs (1.5 requested + 2 limited, whole), its memory (300M + 200Mi) per CPU
    assert plan.components[0][1][:4] == ["--job-name=symphony-grp", "--ntasks=1", "--cpus-per-task=4",
                                         "--mem-per-cpu=122M"]

    now = statuses(cluster, "grp")
    assert now["pair/server"].extra["node"] == now["pair/client"].extra["node"]
    wait_for(lambda: "got hello" in log_text(cluster, "grp", "server"))
    job_id = json.load(open(os.path.join(cluster.job_dir("grp"), "job.json")))["job_id"]
    allocated = subprocess.run(["squeue", "-h", "-j", str(job_id), "-o", "%C %m"], capture_output=True, text=True,
                               check=True).stdout.split()
    assert allocated == ["4", "122M"]


def test_restart_policy_is_applied_inside_the_step_and_shown(slurm, tmp_path):
    cluster = slurm()
    exp = cluster.new_experiment("rs")
    exp.new_process("flaky", ["echo run; exit 3"]).restart_policy("OnFailure")
    exp.new_process("once", ["echo once; exit 3"])
    cluster.launch(exp)
    flaky = wait_for(lambda: statuses(cluster, "rs")["flaky"].restarts >= 2 and statuses(cluster, "rs")["flaky"])
    assert flaky.state in ("running", "restarting")
    once = wait_for(lambda: statuses(cluster, "rs")["once"].state == "exited" and statuses(cluster, "rs")["once"])
    assert once.exit_code == 3 and once.restarts == 0 and once.state_text().startswith("exited (3)")
    assert log_text(cluster, "rs", "flaky").count("run") >= 2
    plan = json.load(open(os.path.join(cluster.job_dir("rs"), "plan.json")))
    assert "--requeue" in plan["components"][0][1]


def test_bad_input_is_one_line_before_anything_is_submitted(slurm, tmp_path):
    with pytest.raises(SpecError, match=r"^time='90 minutes' is not a Slurm time limit"):
        slurm(time="90 minutes")
    cases = [
        (dict(partition="gpu"), lambda p: None, r"^partition='gpu' is not a partition of this Slurm cluster: it has debug$"),
        ({}, lambda p: p.resource_limit(gpu=1), r"^'p' needs 1 GPUs on one node, but no node of partition 'debug' "
                                                r"has more than 0"),
        ({}, lambda p: p.resource_request(cpu=17), r"^'p' needs 17 CPUs on one node"),
        ({}, lambda p: p.node_selector("gpu", "a100"), r"^'p': node feature 'a100' .* is on no node"),
        (dict(sbatch_args=["--nodelist=n9"], time="1:00"), lambda p: None,
         r"^Slurm refuses the job of .bad.: allocation failure: Invalid node name specified$"),
    ]
    for settings, declare, message in cases:
        cluster = slurm(**settings)
        exp = cluster.new_experiment("bad")
        declare(exp.new_process("p", ["sleep 100"]))
        with pytest.raises(SpecError, match=message) as caught:
            cluster.launch(exp)
        assert "\n" not in str(caught.value)
        assert cluster.list_experiments() == [] and not os.path.exists(cluster.job_dir("bad"))
    cluster = slurm()
    exp = cluster.new_experiment("bad")
    exp.new_process("p", command="echo", container_image="ubuntu:22.04")
    with pytest.raises(CapabilityError, match=r"^process 'p' declares a container image, but this Slurm cluster has "
                                              r"no container support .* the slurm backend cannot run it"):
        cluster.launch(exp)
    assert not any(name.startswith("symphony-bad|") for name in squeue_names())


@pytest.mark.parametrize("node", [None, "n3"])  # the driver's own node looks itself; another node's first step does
def test_a_launch_failing_inside_the_allocation_cancels_the_job(slurm, tmp_path, node):
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind(("0.0.0.0", 0))
    holder.listen()
    taken = holder.getsockname()[1]
    try:
        cluster = slurm()
        exp = cluster.new_experiment("fail")
        free = exp.new_process("free", ["sleep 600"])
        free.binds("other")
        busy = exp.new_process("busy", ["sleep 600"])
        busy.exposes({"web": taken})
        if node:  # the driver on n1, the busy port's process on n3
            free.node_selector("node", "node1")
            busy.node_selector("node", "node3")
        with pytest.raises(LaunchError, match=rf"fixed port {taken} of service 'web' is already in use on node "
                                              rf"{node or 'n'}\d?"):
            cluster.launch(exp)
    finally:
        holder.close()
    assert cluster.list_experiments() == [] and not os.path.exists(cluster.job_dir("fail"))
    wait_for(lambda: not any(name.startswith("symphony-fail|") and "RUNNING" in name for name in squeue_names()))
    wait_for(lambda: not experiment_processes("fail"), timeout=10)


def test_a_fault_after_submitting_cancels_the_job(slurm):
    cluster = slurm()
    exp = cluster.new_experiment("fault")
    exp.new_process("p", ["sleep 600"])

    def fault(step, detail):
        if step == "start":
            raise RuntimeError("injected")
    cluster.fault_hook = fault
    with pytest.raises(RuntimeError, match="injected"):
        cluster.launch(exp)
    assert cluster.list_experiments() == []
    assert not any(name.startswith("symphony-fault|") and state in ("RUNNING", "PENDING")
                   for name, state in (line.split("|") for line in squeue_names()))
    wait_for(lambda: not experiment_processes("fault"), timeout=10)


def test_a_queued_job_shows_slurm_s_reason_and_logs_follow_until_the_end(slurm):
    cluster = slurm(start_timeout=0)
    big = cluster.new_experiment("big")
    big.new_process("hog", ["sleep 600"]).resource_request(cpu=16).node_selector("node", "node2")
    quick = slurm()
    quick.launch(big)
    waiting = cluster.new_experiment("queued")
    waiting.new_process("w", ["for i in 1 2 3; do echo line $i; sleep 0.3; done"]).resource_request(cpu=8) \
        .node_selector("node", "node2")
    cluster.launch(waiting)
    status = wait_for(lambda: statuses(cluster, "queued")["w"].detail and statuses(cluster, "queued")["w"])
    assert status.state == "pending" and status.state_text() == "pending: Resources", status.state_text()
    assert "pending: Resources" in cli("p", "queued")

    quick.delete("big")  # frees n2: the queued job starts; following its log ends with the process
    started = time.monotonic()
    lines = list(cluster.get_log("queued", "w", follow=True))
    assert lines == ["line 1", "line 2", "line 3"]
    assert time.monotonic() - started < 60
    assert wait_for(lambda: statuses(cluster, "queued")["w"].state == "exited")


def test_a_second_launch_of_a_name_is_refused_and_force_replaces_the_job(slurm):
    from symphony.errors import ExperimentExistsError
    cluster = slurm()
    exp = cluster.new_experiment("dup")
    exp.new_process("p", ["sleep 600"])
    cluster.launch(exp)
    job_file = os.path.join(cluster.job_dir("dup"), "job.json")
    first = json.load(open(job_file))["job_id"]
    with pytest.raises(ExperimentExistsError, match="^experiment 'dup' is already running on the slurm backend"):
        cluster.launch(exp)
    assert statuses(cluster, "dup")["p"].state == "running"  # the refused launch touched nothing
    cluster.launch(exp, force=True)
    second = json.load(open(job_file))["job_id"]
    assert second != first and statuses(cluster, "dup")["p"].state == "running"
    queued = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True, check=True).stdout.split()
    assert str(first) not in queued and str(second) in queued
