"""Declaration-time validation of the model: every mistake is one clear SpecError."""

import pytest

from symphony import Cluster, ExperimentSpec, ProcessSpec
from symphony.errors import (DuplicateNameError, InvalidNameError, InvalidQuantityError,
                             PodLevelSettingError, PortConflictError, ServiceConflictError,
                             SpecError, UnboundServiceError, UnknownBackendError)


@pytest.mark.parametrize("name", ["", "Learner", "learner_0", "-a", "a-", "a.b", "a/b", "x" * 64, "../x", "ä"])
def test_invalid_names_are_refused_with_the_allowed_form(name):
    exp = ExperimentSpec("ok")
    with pytest.raises(InvalidNameError, match=r"^process name (is empty: use lowercase letters, digits and '-'|"
                                               r"'.*' is invalid: use lowercase letters, digits and '-'|"
                                               r"'x{64}' is 64 characters long: use at most 63$)") as info:
        exp.new_process(name, "true")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("name, message", [
    ("", "experiment name is empty"), ("Rl", "experiment name 'Rl' is invalid: .* e.g. 'rl'"),
    ("rl experiment", "experiment name 'rl experiment' is invalid: .* e.g. 'rl-experiment'"),
    (None, "experiment name must be a string, got NoneType None"), (3, "experiment name must be a string, got int 3"),
])
def test_invalid_experiment_names(name, message):
    with pytest.raises(InvalidNameError, match=f"^{message}"):
        ExperimentSpec(name)


def test_valid_names_and_queries():
    exp = ExperimentSpec("rl")
    learner = exp.new_process("learner", command="python", args=["learner.py"])
    group = exp.new_process_group("agents")
    a0 = group.new_process("agent-0", "python agent.py")
    assert exp.name == "rl"
    assert exp.get_process("learner") is learner
    assert exp.get_process("agents/agent-0") is a0
    assert exp.get_process("agent-0") is a0
    assert exp.get_process_group("agents") is group
    assert exp.list_processes() == [learner]
    assert exp.list_process_groups() == [group]
    assert exp.list_all_processes() == [learner, a0]
    assert a0.key == "agents/agent-0" and a0.pod_name == "agents"
    assert a0.cmds == ["python agent.py"]
    assert learner.command == "python" and learner.args == ["learner.py"]


def test_duplicate_names():
    exp = ExperimentSpec("rl")
    exp.new_process("a", "true")
    with pytest.raises(DuplicateNameError, match="^experiment 'rl' already has a process named 'a': "
                                                 "choose another process name$"):
        exp.new_process("a", "true")
    with pytest.raises(DuplicateNameError, match="^experiment 'rl' already has a process named 'a': "
                                                 "choose another process group name$"):
        exp.new_process_group("a")
    group = exp.new_process_group("g")
    with pytest.raises(DuplicateNameError, match="^experiment 'rl' already has a process group named 'g': "
                                                 "choose another process name$"):
        exp.new_process("g", "true")
    group.new_process("x", "true")
    with pytest.raises(DuplicateNameError, match="^process group 'g' already has a process named 'x': "
                                                 "choose another name$"):
        group.new_process("x", "true")
    # the same process name in two different groups is fine (addressed as group/process)
    exp.new_process_group("h").new_process("x", "true")
    with pytest.raises(SpecError, match="ambiguous"):
        exp.get_process("x")


def test_service_shapes_and_conflicts():
    exp = ExperimentSpec("rl")
    a, b = exp.new_process("a", "true"), exp.new_process("b", "true")
    a.binds("one")
    a.binds(["two", "three"])
    a.binds({"tensorboard": 6006})
    b.exposes({"web": 8080})
    b.connects(["one", "two"])
    b.connects("three")
    assert a.bound == {"one": None, "two": None, "three": None, "tensorboard": 6006}
    assert exp.fixed_ports() == {"tensorboard": 6006, "web": 8080}
    with pytest.raises(ServiceConflictError, match="already bound by process 'a'"):
        b.binds("one")
    with pytest.raises(PortConflictError, match="6006"):
        b.binds({"other": 6006})
    with pytest.raises(PortConflictError, match="out of range"):
        b.binds({"big": 70000})
    with pytest.raises(InvalidNameError, match="^service name 'Bad_Name' is invalid: use lowercase letters"):
        b.binds("Bad_Name")
    with pytest.raises(InvalidNameError, match="start with a letter"):
        b.binds("0svc")
    with pytest.raises(SpecError, match=r"^binds\(\) takes a name, a list of names or a mapping of names to ports, "
                                        r"got 42$"):
        b.binds(42)


def test_a_process_added_to_a_group_of_the_experiment_is_checked_for_conflicts():
    exp = ExperimentSpec("rl")
    exp.new_process("a", "true").binds({"replay": 7000})
    group = exp.new_process_group("g")
    with pytest.raises(ServiceConflictError, match="^service 'replay' is already bound by process 'a'"):
        group.add_process(ProcessSpec("b", "true").binds("replay"))
    with pytest.raises(PortConflictError, match="^port 7000 of service 'params' is already the fixed port of "
                                                "service 'replay': choose another port$"):
        group.add_process(ProcessSpec("c", "true").binds({"params": 7000}))
    assert group.processes == {}
    group.add_process(ProcessSpec("d", "true").binds({"params": 7001}))
    assert exp.service_providers()["params"].key == "g/d"


def test_connect_without_binder_fails_at_validation():
    exp = ExperimentSpec("rl")
    exp.new_process("agent", "true").connects("replay-server")
    with pytest.raises(UnboundServiceError, match="binds\\('replay-server'\\)"):
        exp.validate()


def test_empty_experiment_and_group_are_refused():
    exp = ExperimentSpec("rl")
    with pytest.raises(SpecError, match="no processes"):
        exp.validate()
    exp.new_process("a", "true")
    exp.new_process_group("g")
    with pytest.raises(SpecError, match="process group 'g' has no processes"):
        exp.validate()


def test_command_forms_are_exclusive():
    exp = ExperimentSpec("rl")
    with pytest.raises(SpecError, match="not both"):
        exp.new_process("a", ["echo hi"], command="python")
    with pytest.raises(SpecError, match="^process 'b' cmds must be a string or a list of strings, got 42$"):
        exp.new_process("b", cmds=42)
    with pytest.raises(SpecError, match=r"^process 'c' args must be a string or a list of strings, got \['x', 'y', 3\]$"):
        exp.new_process("c", command="python", args="x y".split() + [3])


def test_pod_level_settings_on_a_grouped_process_name_the_group():
    exp = ExperimentSpec("rl")
    group = exp.new_process_group("nonagent")
    learner = group.new_process("learner", "true")
    for call in (lambda: learner.node_selector("k", "v"), lambda: learner.add_toleration(key="x"),
                 lambda: learner.restart_policy("Always"), lambda: learner.add_label("a", "b")):
        with pytest.raises(PodLevelSettingError, match="call it on the group instead") as info:
            call()
        assert "'nonagent'" in str(info.value)
    group.node_selector("surreal-node", "nonagent-cpu").restart_policy("OnFailure")
    assert learner.effective_restart_policy() == "OnFailure"
    # container-level settings work on grouped processes and on the group (defaults)
    learner.resource_limit(cpu=1.5, mem="2G", gpu=1).set_env("A", "1").mount_nfs("srv", "/data", "/mnt")
    group.image_pull_policy("Always")
    assert learner.effective_pull_policy() == "Always"
    assert learner.resources["limits"] == {"cpu": 1.5, "memory": "2G", "gpu": 1}


@pytest.mark.parametrize("kwargs, fix", [
    ({"mem": "2GB"}, "'2G'"), ({"memory": "512MB"}, "'512M'"), ({"cpu": -1}, "positive"),
    ({"cpu": "2 cores"}, "500m"), ({"gpu": 1.5}, "whole number"), ({"gpu": "one"}, "whole number"),
])
def test_invalid_quantities(kwargs, fix):
    process = ExperimentSpec("rl").new_process("a", "true")
    with pytest.raises(InvalidQuantityError, match=fix):
        process.resource_request(**kwargs)


def test_unknown_policies():
    process = ExperimentSpec("rl").new_process("a", "true")
    with pytest.raises(SpecError, match="Never, OnFailure, Always"):
        process.restart_policy("Sometimes")
    with pytest.raises(SpecError, match="Always, IfNotPresent, Never"):
        process.image_pull_policy("Often")
    assert process.restart_policy("onfailure").effective_restart_policy() == "OnFailure"


def test_cluster_registry():
    assert Cluster.new("LOCAL").backend_name == "local"
    assert Cluster.new("subproc").backend_name == "local"
    with pytest.raises(UnknownBackendError, match="use one of .*local"):
        Cluster.new("no-such-engine")


def test_pod_settings_filled_directly_on_a_group_member_are_refused_on_every_backend():
    """validate() (run by every backend's launch) refuses them: the member's pod is the group's."""
    exp = ExperimentSpec("rl")
    member = exp.new_process_group("nonagent").new_process("learner", "true")
    member.labels["team"] = "rl"
    with pytest.raises(PodLevelSettingError, match="labels is set on process 'nonagent/learner'.*"
                                                   "process group 'nonagent': set it on the group instead"):
        exp.validate()


@pytest.mark.parametrize("name", ["docker.io-creds", "regcred", "a.b.c", "x" * 253])
def test_secret_names_are_dns_subdomains(name):
    process = ExperimentSpec("rl").new_process("a", "true", container_image="img")
    process.mount_secret(name, "/secret").image_pull_secret(name)
    assert process.image_pull_secrets == [name]


@pytest.mark.parametrize("name, fix", [("a..b", "DNS subdomain"), ("Creds", "DNS subdomain"), ("-a", "DNS subdomain"),
                                       ("a.", "DNS subdomain"), ("", "empty"), ("x" * 254, "at most 253")])
def test_invalid_secret_names_say_the_allowed_form(name, fix):
    process = ExperimentSpec("rl").new_process("a", "true", container_image="img")
    for call in (lambda: process.mount_secret(name, "/secret"), lambda: process.image_pull_secret(name)):
        with pytest.raises(InvalidNameError, match=fix):
            call()
