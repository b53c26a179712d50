"""The table of fields drives every place a setting appears: storage, group defaults, dict/YAML/JSON,
the loader's key tables, the JSON Schema and the pod-level check. Each test iterates the table, so a
setting added to it is checked everywhere, and one missing from SAMPLES below fails at once."""

import typing

import pytest

from symphony import ExperimentSpec
from symphony.errors import PodLevelSettingError
from symphony.readiness import command, http
from symphony.spec import ProcessGroupSpec, ProcessSpec, experiment_from_dict, load_json, load_yaml
from symphony.spec.fields import (CONCAT, FIELD, FIELDS, GROUP_FIELDS, LAYERS, MEMBER_FIELDS, OVERRIDE, OWN,
                                  PER_KEY, PER_KIND, POD_FIELDS, POD_OWNER, Level, file_keys)
from symphony.spec.serialize import GROUP_KEYS, MEMBER_KEYS, POD_KEYS, PROCESS_KEYS, experiment_schema


def _set(attr, value):
    def setter(owner):
        setattr(owner, attr, value)
    return setter


#: for every field, a way to give a process or group a value other than the default (through the
#: builder method where there is one); two samples so that a group's and a member's differ
SAMPLES = {
    "cmds": (_set("cmds", ["echo one"]), _set("cmds", ["echo two", "true"])),
    "command": (_set("command", "python"), _set("command", "")),
    "args": (_set("args", ["a b"]), _set("args", ["--x", "'"])),
    "cwd": (_set("cwd", "/tmp"), _set("cwd", "code")),
    "container_image": (_set("container_image", "img:1"), _set("container_image", "img:2")),
    "build_image": (_set("build_image", "build:1"), _set("build_image", "build:2")),
    "bound": (lambda o: o.binds({"one": 7001}), lambda o: o.binds(["two"])),
    "exposed": (lambda o: o.exposes({"web": 8080}), lambda o: o.exposes("page")),
    "connected": (lambda o: o.connects("one"), lambda o: o.connects(["two", "web"])),
    "readiness": (lambda o: o.binds("r", ready=http("/healthz", interval=2)),
                  lambda o: o.exposes({"w": 8081}, ready=command(["true"], failure_threshold=5))),
    "waits": (lambda o: o.connects("one", wait=True), lambda o: o.connects(["two"], wait=True, on_timeout="start")),
    "resources": (lambda o: o.resource_request(cpu="500m", mem="1Gi").resource_limit(cpu=2, gpu=1),
                  lambda o: o.resource_limit(cpu=1.5, memory="2G")),
    "preamble_cmds": (_set("preamble_cmds", ["source a"]), _set("preamble_cmds", ["source b", "cd /"])),
    "env": (lambda o: o.set_envs({"A": "1", "B": 2}), lambda o: o.set_env("A", "own")),
    "pull_policy": (lambda o: o.image_pull_policy("Always"), lambda o: o.image_pull_policy("never")),
    "mounts": (lambda o: o.mount_nfs("srv", "/export", "/data").mount_shared_memory("1Gi"),
               lambda o: o.mount_host_path("/host", "/host", read_only=True, type="Directory").mount_secret("s", "/s")),
    "container_yml": (_set("container_yml", {"stdin": True}), _set("container_yml", {"tty": True, "stdin": None})),
    "_restart_policy": (lambda o: o.restart_policy("OnFailure"), lambda o: o.restart_policy("Always")),
    "node_selectors": (lambda o: o.node_selector("disk", "ssd"), lambda o: o.node_selector("gpu", True)),
    "tolerations": (lambda o: o.add_toleration(key="k", operator="Exists", effect="NoExecute"),
                    lambda o: o.add_toleration(key="x", value="y", toleration_seconds=30)),
    "labels": (lambda o: o.add_labels(team="rl"), lambda o: o.add_label("run", "3")),
    "image_pull_secrets": (lambda o: o.image_pull_secret("regcred"), lambda o: o.image_pull_secret("docker.io-creds")),
    "pod_yml": (_set("pod_yml", {"spec": {"hostNetwork": False}}), _set("pod_yml", {"metadata": {"a": [1, None]}})),
}


def settings_of(owner, fields):
    return {field.attr: getattr(owner, field.attr) for field in fields}


def test_every_field_has_samples_and_a_type_annotation():
    assert set(SAMPLES) == set(FIELD)
    hints = typing.get_type_hints(ProcessSpec)
    group_hints = typing.get_type_hints(ProcessGroupSpec)
    for field in FIELDS:
        assert field.attr in hints, f"annotate {field.attr} on ProcessSpec (or its settings mixin)"
        if field.on_group:
            assert field.attr in group_hints, f"annotate {field.attr} on the settings mixin ProcessGroupSpec shares"


def test_new_processes_and_groups_hold_each_fields_default():
    exp = ExperimentSpec("x")
    process = exp.new_process("p")
    group = exp.new_process_group("g")
    for field in FIELDS:
        assert getattr(process, field.attr) == field.default() and not field.is_set(process)
        assert getattr(group, field.attr) == field.default() if field.on_group else not hasattr(group, field.attr)
    assert exp.to_dict() == {"name": "x", "processes": {"p": {}}, "groups": {"g": {"processes": {}}}}


def round_trips(exp):
    data = exp.to_dict()
    loaded = [experiment_from_dict(data), load_yaml(exp.dump_yaml()), load_json(exp.dump_json())]
    for other in loaded:
        assert other.to_dict() == data
    return loaded


@pytest.mark.parametrize("field", FIELDS, ids=lambda f: f.attr)
def test_each_field_round_trips_on_a_process(field):
    exp = ExperimentSpec("x")
    process = exp.new_process("p")  # nothing else set: cmds and command exclude each other
    SAMPLES[field.attr][0](process)
    assert field.is_set(process) and set(field.to_data(process)) <= set(PROCESS_KEYS)
    assert set(exp.to_dict()["processes"]["p"]) >= set(field.to_data(process))
    for loaded in round_trips(exp):
        assert settings_of(loaded.get_process("p"), FIELDS) == settings_of(process, FIELDS)


@pytest.mark.parametrize("field", GROUP_FIELDS, ids=lambda f: f.attr)
def test_each_group_field_round_trips_on_a_group_and_its_member(field):
    exp = ExperimentSpec("x")
    group = exp.new_process_group("g")
    member = group.new_process("m")
    first, second = SAMPLES[field.attr]
    first(group)
    if field.level is Level.CONTAINER:
        second(member)
    assert set(exp.to_dict()["groups"]["g"]) == set(field.to_data(group)) | {"processes"}
    for loaded in round_trips(exp):
        assert settings_of(loaded.get_process_group("g"), GROUP_FIELDS) == settings_of(group, GROUP_FIELDS)
        assert settings_of(loaded.get_process("g/m"), FIELDS) == settings_of(member, FIELDS)


@pytest.mark.parametrize("field", GROUP_FIELDS, ids=lambda f: f.attr)
def test_the_merge_rule_of_each_group_field(field):
    exp = ExperimentSpec("x")
    group = exp.new_process_group("g")
    bare, own = group.new_process("bare", "true"), group.new_process("own", "true")
    first, second = SAMPLES[field.attr]
    first(group)
    group_value = getattr(group, field.attr)
    if field.merge is POD_OWNER:
        assert bare.effective(field.attr) == group_value
        return
    second(own)
    own_value = getattr(own, field.attr)
    expected = {
        OVERRIDE: lambda: own_value,
        CONCAT: lambda: group_value + own_value,
        PER_KEY: lambda: {**group_value, **own_value},
        PER_KIND: lambda: {kind: {**group_value[kind], **own_value[kind]} for kind in group_value},
        LAYERS: lambda: [group_value, own_value],
    }[field.merge]()
    assert own.effective(field.attr) == expected
    assert bare.effective(field.attr) == ([group_value] if field.merge is LAYERS else group_value)
    if isinstance(own_value, (dict, list)):  # a copy: changing it changes neither setting
        assert own.effective(field.attr) is not own_value


def test_the_named_effective_methods_follow_the_table():
    exp = ExperimentSpec("x")
    group = exp.new_process_group("g").resource_limit(cpu=2, mem="1Gi").set_env("A", "g").image_pull_policy("Never")
    group.mount_empty_dir("/scratch").restart_policy("Always").container_yml["stdin"] = True
    group.preamble_cmds.append("echo group")
    member = group.new_process("m", "true", preamble_cmds=["echo own"]).resource_limit(mem="2Gi").set_env("B", "m")
    assert member.effective_resources() == {"requests": {}, "limits": {"cpu": 2, "memory": "2Gi"}}
    assert member.effective_env() == {"A": "g", "B": "m"}
    assert member.effective_preamble() == ["echo group", "echo own"]
    assert member.effective_mounts() == group.mounts
    assert member.effective_pull_policy() == "Never"
    assert member.effective_restart_policy() == "Always"
    assert member.effective_container_yml() == [{"stdin": True}]
    alone = exp.new_process("alone", "true")
    assert alone.effective_resources() == {"requests": {}, "limits": {}}
    assert (alone.effective_pull_policy(), alone.effective_restart_policy(), alone.effective_container_yml()) == \
        (None, "Never", [])


def test_group_resources_survive_to_dict_yaml_and_json():
    """They were dropped: a group's resource_limit() vanished from to_dict() and dump_yaml()."""
    exp = ExperimentSpec("x")
    group = exp.new_process_group("grp").resource_limit(cpu=2, mem="1Gi").resource_request(cpu="500m")
    group.new_process("a", "true")
    assert exp.to_dict()["groups"]["grp"]["resource_limit"] == {"cpu": 2, "memory": "1Gi"}
    for loaded in round_trips(exp):
        assert loaded.get_process_group("grp").resources == {"requests": {"cpu": "500m"},
                                                             "limits": {"cpu": 2, "memory": "1Gi"}}
        assert loaded.get_process("grp/a").effective_resources()["limits"] == {"cpu": 2, "memory": "1Gi"}


@pytest.mark.parametrize("field", POD_FIELDS, ids=lambda f: f.attr)
def test_each_pod_level_field_set_on_a_group_member_is_a_problem(field):
    exp = ExperimentSpec("x")
    member = exp.new_process_group("g").new_process("m", "true")
    standalone = ExperimentSpec("y").new_process("p")
    SAMPLES[field.attr][0](standalone)  # the builder methods refuse it on a member; the attribute does not
    setattr(member, field.attr, getattr(standalone, field.attr))
    with pytest.raises(PodLevelSettingError, match=rf"^{field.name} is set on process 'g/m', but it is a pod-level "
                                                   rf"setting and the process belongs to process group 'g': "
                                                   rf"set it on the group instead$"):
        exp.validate()


def test_the_key_tables_come_from_the_table():
    assert list(PROCESS_KEYS) == [key.key for key in file_keys(FIELDS)]
    assert list(GROUP_KEYS) == [key.key for key in file_keys(GROUP_FIELDS)] + ["processes"]
    assert list(MEMBER_KEYS) == [key.key for key in file_keys(MEMBER_FIELDS)]
    assert POD_KEYS == ("restart_policy", "node_selector", "tolerations", "labels", "image_pull_secrets", "pod_yml")
    assert {"resource_request", "resource_limit", "env", "mounts", "preamble_cmds"} <= set(GROUP_KEYS)
    assert not {"cmds", "command", "args", "cwd", "binds", "container_image"} & set(GROUP_KEYS)
    assert all(field.merge is OWN for field in FIELDS if not field.on_group)


def test_every_file_key_is_in_the_schema_where_the_loader_takes_it():
    schema = experiment_schema()
    process = schema["properties"]["processes"]["additionalProperties"]["properties"]
    group = schema["properties"]["groups"]["additionalProperties"]["properties"]
    member = group["processes"]["additionalProperties"]["properties"]
    for field in FIELDS:
        for key in field.keys:
            assert key.key in process
            assert (key.key in group) == field.on_group
            assert (key.key in member) == (field.level is Level.CONTAINER)


def test_a_single_image_pull_secret_may_be_written_as_a_string():
    from symphony.spec.model import ExperimentSpec
    exp = ExperimentSpec.from_dict({"name": "x", "processes": {"p": {"cmds": ["true"], "image_pull_secrets": "regcred"}}})
    assert exp.get_process("p").image_pull_secrets == ["regcred"]
