"""The Cluster base every backend implements: abstract, one Plan interface, Prepared, shared lookups."""

import pytest

from symphony.cluster import Cluster, Plan, Prepared, pick_process
from symphony.errors import ExperimentExistsError, ProcessNotFoundError

ABSTRACT = ("apply", "delete", "describe_experiment", "external_url", "get_log", "list_experiments", "plan")


def test_cluster_is_abstract_and_names_what_a_backend_must_implement():
    assert sorted(Cluster.__abstractmethods__) == sorted(ABSTRACT)
    with pytest.raises(TypeError, match="abstract methods apply, delete, describe_experiment"):
        Cluster()

    class HalfDone(Cluster):
        def plan(self, exp):
            return None

    with pytest.raises(TypeError, match="abstract methods apply, delete"):
        HalfDone()


def experiment(cluster):
    exp = cluster.new_experiment("shape")
    exp.new_process("server", container_image="busybox:1", command="sleep", args=["60"]).binds("svc")
    exp.new_process("client", container_image="busybox:1", command="sleep", args=["60"]).connects("svc")
    return exp


@pytest.mark.parametrize("backend", ["local", "tmux", "docker", "kube"])
def test_every_backend_plan_renders_and_is_plain_data(backend):
    cluster = Cluster.new(backend)
    plan = cluster.plan(experiment(cluster))
    assert isinstance(plan.render(), str) and "server" in plan.render()
    assert isinstance(plan, Plan)
    assert isinstance(plan.to_dict(), dict)


@pytest.mark.parametrize("backend", ["docker", "kube"])
def test_prepare_of_container_backends_is_the_plan_and_the_images_built(backend):
    """Nothing to build here: the plan, and no image (no engine or cluster is contacted)."""
    cluster = Cluster.new(backend)
    exp = experiment(cluster)
    prepared = cluster.prepare(exp)
    assert isinstance(prepared, Prepared) and prepared.images == frozenset()
    assert prepared.plan.render() == cluster.plan(exp).render()


def test_backends_without_images_prepare_nothing():
    cluster = Cluster.new("local")
    assert cluster.prepare(experiment(cluster)) is None


def test_pick_process_takes_a_key_or_a_unique_name():
    candidates = [("learner", "learner", 1), ("a/worker", "worker", 2), ("b/worker", "worker", 3),
                  ("b/eval", "eval", 4)]
    assert pick_process("exp", "learner", candidates) == 1
    assert pick_process("exp", "b/worker", candidates) == 3
    assert pick_process("exp", "eval", iter(candidates)) == 4  # any iterable
    with pytest.raises(ProcessNotFoundError, match=r"^process name 'worker' is ambiguous in 'exp': use one of "
                                                   r"a/worker, b/worker$"):
        pick_process("exp", "worker", candidates)
    with pytest.raises(ProcessNotFoundError, match=r"^experiment 'exp' has no process 'ghost': it has learner, "
                                                   r"a/worker, b/worker, b/eval$"):
        pick_process("exp", "ghost", candidates)
    with pytest.raises(ProcessNotFoundError, match=r"it has none$"):
        pick_process("exp", "ghost", [])


def test_the_already_running_error_is_worded_once_with_a_fix_per_caller():
    cluster = Cluster.new("local")
    error = cluster.experiment_exists_error("rl")
    assert isinstance(error, ExperimentExistsError)
    assert str(error) == ("experiment 'rl' is already running on the local backend: delete it first "
                          "(`symphony delete rl`), or replace it with --force (force=True in Python)")
    assert str(cluster.experiment_exists_error("rl", fix="use another name")) == \
        "experiment 'rl' is already running on the local backend: use another name"


# --- the settings of the host backends are checked when the cluster is made -----------------
@pytest.mark.parametrize("backend", ["local", "tmux"])
@pytest.mark.parametrize("setting, message", [
    ({"grace": "abc"}, r"^grace must be a number of seconds >= 0 \(seconds between SIGTERM and SIGKILL on "
                       r"delete\), e\.g\. grace=5, got 'abc'$"),
    ({"grace": -1}, r"^grace must be a number of seconds >= 0 .*, got -1$"),
    ({"grace": float("nan")}, r"^grace must be a number of seconds >= 0 .*, got nan$"),
    ({"grace": True}, r"^grace must be a number of seconds >= 0 .*, got True$"),
    ({"restart_backoff": [1]}, r"^restart_backoff must be a number of seconds >= 0 \(first delay before a "
                               r"restart\), e\.g\. restart_backoff=1, got \[1\]$"),
    ({"restart_backoff": float("inf")}, r"^restart_backoff must be a number of seconds >= 0 .*, got inf$"),
    ({"shell": "no-such-shell"}, r"^shell 'no-such-shell' is not an executable program on this machine: give a "
                                 r"path such as '/bin/bash', or leave it out for bash$"),
    ({"shell": ""}, r"^shell must be a program: give a path such as '/bin/bash', or leave it out for bash, got ''$"),
    ({"shell": 3}, r"^shell must be a program: .*, got 3$"),
    ({"bind_host": ""}, r"^bind_host must be an address such as '127\.0\.0\.1' or '0\.0\.0\.0', got ''$"),
    ({"bind_host": 0}, r"^bind_host must be an address such as .*, got 0$"),
])
def test_a_bad_host_backend_setting_is_one_line_naming_it_and_the_fix(backend, setting, message):
    from symphony.errors import BackendSettingError, SpecError
    with pytest.raises(BackendSettingError, match=message) as raised:
        Cluster.new(backend, **setting)
    assert isinstance(raised.value, SpecError) and isinstance(raised.value, ValueError)  # as before: a ValueError


def test_good_host_backend_settings_are_taken():
    cluster = Cluster.new("local", grace="2.5", restart_backoff=0, shell="sh", bind_host="0.0.0.0")
    assert (cluster.grace, cluster.restart_backoff, cluster.shell_path, cluster.bind_host) == \
        (2.5, 0.0, "sh", "0.0.0.0")
    assert Cluster.new("local").shell_path.endswith(("/bash", "/sh"))


# --- the one line every backend prints after a launch -----------------------------------------
class Recorded(Cluster):
    """A backend that creates nothing: what the shared Cluster.launch prints is all there is to see."""

    backend_name = "recorded"

    def __init__(self):
        super().__init__()
        self.running = []

    def plan(self, exp):
        return Cluster.new("local").plan(exp)  # (any Plan will do)

    def apply(self, exp, prepared=None):
        self.running.append(exp.name)
        return self.plan(exp)

    def list_experiments(self):
        return list(self.running)

    def delete(self, name):
        self.running.remove(name)

    def describe_experiment(self, name):
        return []

    def get_log(self, experiment, process, follow=False, since=None, tail=None):
        return iter(())

    def external_url(self, experiment, service):
        raise NotImplementedError


@pytest.mark.parametrize("make", [lambda: Cluster.new("local", grace=1), Recorded], ids=["local", "any backend"])
def test_a_launch_prints_one_summary_line_on_stderr_and_a_dry_run_none(make, capsys):
    cluster = make()
    exp = cluster.new_experiment("rl")
    exp.new_process("learner", "sleep 60")
    group = exp.new_process_group("agents")
    for index in range(4):
        group.new_process(f"agent-{index}", "sleep 60")
    cluster.launch(exp, dry_run=True)
    out, err = capsys.readouterr()
    assert "launched" not in out + err
    try:
        cluster.launch(exp)
        out, err = capsys.readouterr()
        assert out == "" and err.splitlines() == [
            f"launched 'rl' on the {cluster.backend_name} backend: 5 processes (symphony p to watch)"]
        cluster.launch(exp, force=True)
        assert capsys.readouterr().err.count("launched 'rl'") == 1
    finally:
        cluster.delete("rl")
    one = cluster.new_experiment("one")
    one.new_process("p", "sleep 60")
    cluster.launch(one)
    try:
        assert capsys.readouterr().err.endswith("launched 'one' on the " + cluster.backend_name +
                                                " backend: 1 process (symphony p to watch)\n")
    finally:
        cluster.delete("one")



#: CPython reports a handler it did not install (one set from C before the interpreter started, as an
#: application embedding Python does) as None, from signal.signal and getsignal alike: reported so here
_SHIELD_AFTER_A_C_HANDLER = """
import os, signal
from symphony.cluster.launching import rollback_shield
real = signal.signal
def signal_after_a_c_handler(signum, handler):
    real(signum, handler)
    signal.signal = real
    return None
signal.signal = signal_after_a_c_handler
with rollback_shield():
    os.kill(os.getpid(), signal.SIGINT)  # ignored while the rollback runs
print("shielded", flush=True)
try:
    os.kill(os.getpid(), signal.SIGINT)
    signal.sigtimedwait([], 0.1)  # (a pause in which a pending handler runs)
except KeyboardInterrupt:
    print("interrupted")
"""


def test_ctrl_c_interrupts_again_after_a_rollback_that_followed_a_handler_set_from_c():
    """Python cannot put a C handler back; SIGINT must not stay ignored for good after the rollback."""
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-c", _SHIELD_AFTER_A_C_HANDLER], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["shielded", "interrupted"]
