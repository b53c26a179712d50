"""Atomic launch: a failure at any step of any backend's apply leaves nothing of the experiment.

Each backend calls ``cluster.fault_hook(step, detail)`` at every step of ``apply``; the
hook makes that step fail — by raising (an engine error, a bug, Ctrl-C), or by a real
fault (the program vanishes before the supervisor starts it, the supervisor is killed
while it starts the processes, tmux refuses a command half-way through the session).
Afterwards: no state rows, no process (pid scan by SYMPH_EXPERIMENT and run id), no tmux
session, no container/network/volume, no Kubernetes object — and the same experiment then
launches cleanly, which proves nothing stale was left to collide with.
"""

import os
import signal
import subprocess

import pytest

from symphony import Cluster
from symphony.config import SymphonyConfig
from symphony.errors import LaunchError, SpecError, SymphonyError

from hardeninghelpers import BASE_IMAGE, experiment_pids, scan, state_rows, wait_for

pytestmark = pytest.mark.slow


class InjectedFault(Exception):
    pass


class FaultAt:
    """A fault hook failing the ``occurrence``-th time ``step`` is reached (``action`` does the failing)."""

    def __init__(self, step, occurrence=1, action=None):
        self.step, self.occurrence, self.action = step, occurrence, action or self.raise_fault
        self.seen, self.run_ids, self.fired = [], set(), False

    @staticmethod
    def raise_fault(step, detail):
        raise InjectedFault(f"injected failure at {step}")

    def __call__(self, step, detail):
        self.seen.append(step)
        if hasattr(detail, "run_id"):
            self.run_ids.add(detail.run_id)
        if step == self.step and self.seen.count(step) == self.occurrence:
            self.fired = True
            self.action(step, detail)


def assert_launch_fails(cluster, exp, hook, expected=(InjectedFault, LaunchError, KeyboardInterrupt)):
    cluster.fault_hook = hook
    with pytest.raises(expected):
        cluster.launch(exp)
    cluster.fault_hook = None
    assert hook.fired, f"the launch never reached step {hook.step!r} (steps seen: {hook.seen})"


def assert_nothing_left_on_host(cluster, name, hook, home):
    assert name not in cluster.list_experiments()
    assert state_rows(home, name) == []
    assert not os.path.exists(cluster._log_dir(name)), "the log directory is removed"
    assert cluster.current_experiment() != name
    assert experiment_pids(name, hook.run_ids) == [], "no process of the failed launch survives"


# --- local --------------------------------------------------------------------------------
def host_experiment(cluster, name, tmp_path):
    """A standalone process and a group of two, each an executable script of its own."""
    exp = cluster.new_experiment(name)
    scripts = []
    for index in range(3):
        script = tmp_path / f"{name}-program-{index}.sh"
        script.write_text("#!/bin/sh\nexec sleep 600\n")
        script.chmod(0o755)
        scripts.append(script)
    exp.new_process("solo", command=str(scripts[0])).binds("solo-svc")
    group = exp.new_process_group("g")
    group.new_process("a", command=str(scripts[1])).connects("solo-svc")
    group.new_process("b", command=str(scripts[2])).binds("b-svc")
    return exp, scripts


def kill_the_whole_run(step, plan):
    """The supervisor (and whatever it started) dies while it starts the processes.

    Killing goes on until no process of the run is left: a child the supervisor forked
    between one scan and its kill would otherwise survive, rightly reported as running.
    """
    wait_for(lambda: scan(SYMPH_RUN_ID=plan.run_id))
    while pids := scan(SYMPH_RUN_ID=plan.run_id):
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def interrupt(step, detail):
    raise KeyboardInterrupt


LOCAL_FAULTS = {
    "state recorded, ports reserved": lambda scripts: FaultAt("record"),
    "before the supervisor starts": lambda scripts: FaultAt("start"),
    "Ctrl-C while processes start": lambda scripts: FaultAt("ready", action=interrupt),
    "error while processes start": lambda scripts: FaultAt("ready"),
    **{f"program {index + 1} of 3 vanished": (lambda index: lambda scripts: FaultAt(
        "start", action=lambda step, plan: scripts[index].unlink()))(index) for index in range(3)},
}


@pytest.mark.parametrize("fault", LOCAL_FAULTS)
def test_local_launch_failing_at_any_step_leaves_nothing(fault, local_cluster, tmp_path, symphony_home):
    exp, scripts = host_experiment(local_cluster, "atomic", tmp_path)
    hook = LOCAL_FAULTS[fault](scripts)
    assert_launch_fails(local_cluster, exp, hook)
    assert_nothing_left_on_host(local_cluster, "atomic", hook, symphony_home)
    exp, _ = host_experiment(local_cluster, "atomic", tmp_path)
    local_cluster.launch(exp)
    assert {s.state for s in local_cluster.describe_experiment("atomic")} == {"running"}
    local_cluster.delete("atomic")
    assert experiment_pids("atomic") == []


def test_ctrl_c_pressed_again_during_the_rollback_does_not_cut_it_short(local_cluster, tmp_path, symphony_home,
                                                                          monkeypatch, request):
    exp, _ = host_experiment(local_cluster, "atomic", tmp_path)
    real_remove = local_cluster._remove
    # Python's own Ctrl-C handler before the launch, whatever ran before this test in this process
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    request.addfinalizer(lambda: signal.signal(signal.SIGINT, before))

    def remove_while_the_user_presses_ctrl_c(name, run_id):
        os.kill(os.getpid(), signal.SIGINT)
        wait_for(lambda: signal.SIGINT not in signal.sigpending(), timeout=5)  # delivered: a handler had its turn
        real_remove(name, run_id)
    monkeypatch.setattr(local_cluster, "_remove", remove_while_the_user_presses_ctrl_c)
    hook = FaultAt("ready", action=interrupt)
    assert_launch_fails(local_cluster, exp, hook, expected=KeyboardInterrupt)
    assert_nothing_left_on_host(local_cluster, "atomic", hook, symphony_home)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler, "Ctrl-C works again afterwards"


def test_supervisor_killed_while_starting_leaves_nothing(local_cluster, tmp_path, symphony_home):
    """The kill races the supervisor's "ok": usually the launch fails and rolls back; if the
    supervisor had already reported, the launch succeeded and the dead run must still be
    reported and deletable. Either way nothing may be left afterwards."""
    exp, scripts = host_experiment(local_cluster, "atomic", tmp_path)
    hook = FaultAt("ready", action=kill_the_whole_run)
    local_cluster.fault_hook = hook
    try:
        local_cluster.launch(exp)
    except LaunchError:
        assert_nothing_left_on_host(local_cluster, "atomic", hook, symphony_home)
    else:
        wait_for(lambda: all(s.state != "running" for s in local_cluster.describe_experiment("atomic")))
        local_cluster.delete("atomic")
    local_cluster.fault_hook = None
    assert hook.fired
    assert experiment_pids("atomic") == []


# --- tmux ---------------------------------------------------------------------------------
def tmux_has_session(server_name, name):
    return subprocess.run(["tmux", "-L", server_name, "has-session", "-t", f"={name}"],
                          capture_output=True).returncode == 0


def failing_command_at(position):
    """Insert a tmux command that fails before command ``position`` of the launch script."""
    def insert(step, commands):
        commands.insert(position, "select-window -t =no-such-session-anywhere:1")
    return insert


def tmux_script_length(cluster, tmp_path):
    exp, _ = host_experiment(cluster, "probe", tmp_path)
    return len(cluster.plan(exp).launch_commands({}))


@pytest.mark.tmux
def test_tmux_launch_failing_at_any_step_leaves_nothing(tmux_cluster, server_name, tmp_path, symphony_home):
    faults = [FaultAt("record"), FaultAt("start"), FaultAt("running"), FaultAt("running", action=interrupt)]
    # a tmux command failing at every position of the launch script, from before new-session to the end
    faults += [FaultAt("script", action=failing_command_at(position))
               for position in range(tmux_script_length(tmux_cluster, tmp_path) + 1)]
    for hook in faults:
        exp, _ = host_experiment(tmux_cluster, "atomic", tmp_path)
        assert_launch_fails(tmux_cluster, exp, hook)
        assert not tmux_has_session(server_name, "atomic"), f"session left after a fault at {hook.step}"
        wait_for(lambda: experiment_pids("atomic", hook.run_ids) == [], timeout=5)
        assert_nothing_left_on_host(tmux_cluster, "atomic", hook, symphony_home)
    exp, _ = host_experiment(tmux_cluster, "atomic", tmp_path)
    tmux_cluster.launch(exp)
    wait_for(lambda: {s.state for s in tmux_cluster.describe_experiment("atomic")} == {"running"})
    tmux_cluster.delete("atomic")
    assert experiment_pids("atomic") == [] and not tmux_has_session(server_name, "atomic")


# --- docker -------------------------------------------------------------------------------
def container_experiment(cluster, name):
    exp = cluster.new_experiment(name)
    exp.new_process("solo", container_image=BASE_IMAGE, command="sleep", args=["600"]) \
        .binds("solo-svc").exposes("web")
    group = exp.new_process_group("g")
    group.new_process("a", container_image=BASE_IMAGE, command="sleep", args=["600"]).connects("solo-svc")
    group.new_process("b", container_image=BASE_IMAGE, cmds=["exec sleep 600"])
    return exp


@pytest.mark.docker
def test_docker_launch_failing_at_any_step_leaves_nothing(docker_cluster, docker_client, new_name):
    from dockerhelpers import leftovers
    name = new_name()
    faults = [FaultAt("network")] + [FaultAt(step, occurrence) for occurrence in (1, 2, 3)
                                     for step in ("create", "start")]
    faults.append(FaultAt("start", 2, action=interrupt))
    for hook in faults:
        assert_launch_fails(docker_cluster, container_experiment(docker_cluster, name), hook)
        assert leftovers(docker_client, name) == [], f"objects left after a fault at {hook.step} #{hook.occurrence}"
        assert name not in docker_cluster.list_experiments()
        assert experiment_pids(name) == []
    docker_cluster.launch(container_experiment(docker_cluster, name))
    assert [s.state for s in docker_cluster.describe_experiment(name)] == ["running"] * 3
    docker_cluster.delete(name)
    assert leftovers(docker_client, name) == [] and experiment_pids(name) == []


# --- kube (the fake API server: no cluster can run here) ------------------------------------
def test_kube_launch_failing_at_every_object_leaves_nothing(tmp_path):
    from fake_apiserver import FakeApiServer
    secret = tmp_path / "token"
    secret.write_text("s3cr3t")
    api = FakeApiServer()
    try:
        kube = Cluster.new("kube", kubeconfig=api.kubeconfig(tmp_path / "kubeconfig"), timeout=10)
        kube.poll_interval = 0.02
        exp = container_experiment(kube, "atomic")
        exp.secrets.append(str(secret))
        objects = kube.plan(exp).objects
        assert [o["kind"] for o in objects][:2] == ["Namespace", "Secret"]
        for index in range(len(objects)):
            calls = []

            def fail_at_call(kind, obj):
                calls.append(kind)
                if len(calls) == index + 1:
                    raise InjectedFault(f"injected failure creating {kind} {obj['metadata']['name']}")
            kube.fault_hook = fail_at_call
            with pytest.raises(LaunchError, match="nothing was left running: injected failure"):
                kube.launch(exp)
            assert api.namespaces == {} and api.objects == {}, f"objects left after failing object {index + 1}"
            assert kube.list_experiments() == []
        kube.fault_hook = None
        kube.launch(exp)
        assert {o["kind"] for o in api.created()} == {o["kind"] for o in objects}
    finally:
        api.close()


# --- failures around apply --------------------------------------------------------------------
def test_a_spec_that_cannot_be_saved_leaves_nothing_running(local_cluster, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    SymphonyConfig().set_experiment_folder(str(blocker))
    exp = local_cluster.new_experiment("unsaved")
    exp.new_process("p", command="sleep", args=["600"])
    try:
        with pytest.raises(SymphonyError, match=r"cannot create the experiment folder .*\(Not a directory\)"):
            local_cluster.launch(exp)
        assert local_cluster.list_experiments() == [] and experiment_pids("unsaved") == []
    finally:
        for name in local_cluster.list_experiments():
            local_cluster.delete(name)


def test_a_nul_byte_is_refused_at_declaration():
    from symphony import ExperimentSpec
    with pytest.raises(SpecError, match="process 'p' args contains a NUL byte, which no process can receive"):
        ExperimentSpec("nul").new_process("p", command="echo", args=["a\0b"])
