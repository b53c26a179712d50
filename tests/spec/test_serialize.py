"""Dict/YAML/JSON round trips and line-numbered errors."""

import json

import pytest
import yaml

from symphony import ExperimentSpec
from symphony.errors import InvalidQuantityError, SpecError
from symphony.spec import experiment_from_dict, load_json, load_yaml


def rich_experiment():
    exp = ExperimentSpec("rl", preamble_cmds=["source env/bin/activate"], env={"SEED": "1"}, secrets=["~/.key"])
    learner = exp.new_process("learner", command="python", args=["learner.py", "--lr", "0.1 $x;'\""])
    learner.binds(["replay-server", "parameter-server"]).exposes({"tensorboard": 6006})
    learner.resource_request(cpu="500m", memory="1Gi").resource_limit(cpu=2, mem="2G", gpu=1)
    learner.restart_policy("OnFailure").node_selector("surreal-node", "gpu").add_toleration(
        key="surreal", operator="Exists", effect="NoExecute")
    learner.mount_shared_memory("1Gi").mount_host_path("/data", "/data", read_only=True)
    learner.pod_yml["metadata"] = {"annotations": {"a": "b"}}
    group = exp.new_process_group("agents", preamble_cmds=["echo group"])
    group.image_pull_policy("IfNotPresent").add_labels(team="rl")
    for i in range(2):
        agent = group.new_process(f"agent-{i}", ["cd /x", f"python agent.py {i}"], cwd="/tmp", container_image="img:1")
        agent.connects(["replay-server", "parameter-server"]).set_env("I", i)
    return exp


def test_round_trip_dict_yaml_json():
    exp = rich_experiment()
    data = exp.to_dict()
    assert experiment_from_dict(data).to_dict() == data
    assert load_yaml(exp.dump_yaml()).to_dict() == data
    assert load_json(exp.dump_json()).to_dict() == data
    assert json.loads(exp.dump_json()) == data
    assert yaml.safe_load(exp.dump_yaml()) == data


def test_round_trip_through_files(tmp_path):
    exp = rich_experiment()
    path = tmp_path / "experiment.yml"
    with open(path, "w") as handle:
        exp.dump_yaml(handle)
    assert load_yaml(str(path)).to_dict() == exp.to_dict()


def test_the_class_loading_is_the_class_built(tmp_path):
    """The loaders are given the class to build (serialize never imports the model), so a subclass's
    from_dict/load_yaml/load_json build that subclass, and the module-level loaders the model itself."""
    class Tagged(ExperimentSpec):
        pass

    exp = rich_experiment()
    data = exp.to_dict()
    path = tmp_path / "experiment.json"
    path.write_text(exp.dump_json())
    for loaded in (Tagged.from_dict(data), Tagged.load_yaml(exp.dump_yaml()), Tagged.load_json(exp.dump_json()),
                   Tagged.load_dict(data), Tagged.load_yaml_str(exp.dump_yaml()), Tagged.load_file(str(path))):
        assert type(loaded) is Tagged and loaded.to_dict() == data
    for loaded in (experiment_from_dict(data), load_yaml(exp.dump_yaml()), load_json(exp.dump_json())):
        assert type(loaded) is ExperimentSpec


def test_unknown_key_error_has_line_number():
    text = "name: x\nprocesses:\n  a:\n    cmds: [x]\n    comand: python\n"
    with pytest.raises(SpecError, match=r"^<yaml>:5: processes\.a\.comand: unknown key 'comand'"):
        load_yaml(text)


def test_builder_errors_keep_their_type_and_line():
    text = "name: x\nprocesses:\n  a:\n    cmds: [x]\n    resource_limit:\n      mem: 2GB\n"
    with pytest.raises(InvalidQuantityError, match=r"<yaml>:5: .*'2G'"):
        load_yaml(text)


@pytest.mark.parametrize("text, needle", [
    ("name: x\nprocesses: [a, b]\n", "must be a mapping"),
    ("name: x\nprocesses:\n  a:\n    args: {x: 1}\n", "list of strings"),
    ("processes: {}\n", "needs a name"),
    ("name: x\n  bad: : indent\n", "invalid YAML"),
    ("- just a list\n", "must be a mapping"),
    ("name: x\ngroups:\n  g:\n    processes:\n      a:\n        restart_policy: Always\n", "pod-level keys belong to its group"),
])
def test_malformed_documents(text, needle):
    with pytest.raises(SpecError, match=needle):
        load_yaml(text)
