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
