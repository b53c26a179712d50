"""Experiment files: repeated keys, whole-experiment errors at their line, value forms, and the JSON Schema."""

import glob
import json
import os
import re

import jsonschema
import pytest
import yaml

from symphony import ExperimentSpec
from symphony.errors import SpecError, UnboundServiceError
from symphony.spec import load_json, load_yaml
from symphony.spec.serialize import (EXPERIMENT_KEYS, GROUP_KEYS, POD_KEYS, PROCESS_KEYS, experiment_from_dict,
                                     experiment_schema)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# --- repeated keys ------------------------------------------------------------------
@pytest.mark.parametrize("text, message", [
    ("name: x\nprocesses:\n  a: {cmds: [one]}\n  a: {cmds: [two]}\n", r"^<yaml>:4: duplicate key 'a' \(first at line 3\)"),
    ("name: x\nname: y\nprocesses:\n  a: {cmds: [ls]}\n", r"^<yaml>:2: duplicate key 'name' \(first at line 1\)"),
    ("name: x\nprocesses:\n  a:\n    cmds: [ls]\n    env: {A: 1, A: 2}\n", r"^<yaml>:5: duplicate key 'A'"),
])
def test_a_repeated_yaml_key_is_an_error_at_its_line(text, message):
    """YAML itself keeps the last value silently: process `a` listed twice would launch once."""
    with pytest.raises(SpecError, match=message):
        load_yaml(text)


def test_merge_keys_may_still_be_overridden():
    text = "name: x\nbase: &base {cmds: [ls], cwd: /tmp}\n"
    data = yaml.safe_load(text + "processes:\n  a: {<<: *base, cwd: /}\n")
    exp = experiment_from_dict({"name": "x", "processes": data["processes"]})
    assert exp.get_process("a").cwd == "/"
    loaded = load_yaml("name: x\nprocesses:\n  a: &a {cmds: [ls], cwd: /tmp}\n  b: {<<: *a, cwd: /}\n")
    assert loaded.get_process("b").cwd == "/" and loaded.get_process("b").cmds == ["ls"]


def test_a_repeated_json_key_is_an_error_at_its_line():
    text = '{"name": "x",\n "processes": {\n  "a": {"cmds": ["one"]},\n  "a": {"cmds": ["two"]}}}'
    with pytest.raises(SpecError, match=r"^<json>:4: duplicate key 'a' \(first at line 3\)"):
        load_json(text)


# --- whole-experiment errors at their line, phrased as file keys ---------------------
@pytest.mark.parametrize("body, line, message", [
    ("processes:\n  a: {}\n", 3, r"processes\.a: process 'a' has nothing to run: add `cmds: \[\.\.\.\]`"),
    ("processes:\n  a:\n    cmds: []\n", 3, r"processes\.a: process 'a' has nothing to run"),
    ("processes:\n  a:\n    command: ''\n", 3, r"processes\.a: process 'a' has nothing to run"),
    ("processes:\n  a:\n", 3, r"processes\.a: process 'a' has nothing to run"),
    ("processes:\n  a: {cmds: [ls]}\ngroups:\n  g: {}\n", 5,
     r"groups\.g: process group 'g' has no processes: add one under its `processes:` or remove the group"),
    ("processes: {}\n", 2, r"processes: experiment 'x' has no processes: add one under `processes:`"),
    ("env: {A: b}\n", 1, r"processes: experiment 'x' has no processes"),
    ("groups:\n  g:\n    processes:\n      a:\n        cmds: [ls]\n        connects: [nope]\n", 7,
     r"groups\.g\.processes\.a\.connects: process 'g/a' connects to service 'nope' but no process binds it: "
     r"add `binds: \[nope\]` to the process that provides it"),
])
def test_incomplete_experiments_are_reported_at_their_line(body, line, message):
    with pytest.raises(SpecError, match=rf"^<yaml>:{line}: {message}"):
        load_yaml("name: x\n" + body, validate=True)
    data = yaml.safe_load("name: x\n" + body)
    with pytest.raises(SpecError, match=rf"^<json>:\d+: {message}"):
        load_json(json.dumps(data, indent=1), validate=True)


def test_json_errors_beyond_syntax_name_the_line():
    text = '{\n  "name": "x",\n  "processes": {\n    "a": {\n      "cmds": ["ls"],\n      "bindz": ["s"]\n    }\n  }\n}'
    with pytest.raises(SpecError, match=r"^<json>:6: processes\.a\.bindz: unknown key 'bindz'"):
        load_json(text)


def test_python_callers_keep_the_python_phrasing():
    exp = ExperimentSpec("x")
    exp.new_process("a", "true").connects("nope")
    with pytest.raises(UnboundServiceError, match=r"add <process>\.binds\('nope'\)$"):
        exp.validate()
    exp = ExperimentSpec("x")
    exp.new_process("a")
    with pytest.raises(SpecError, match=r"process 'a' has nothing to run: give cmds=\['\.\.\.'\]"):
        exp.validate()


def test_loading_without_validate_still_allows_a_partial_experiment():
    """A Python caller may load a skeleton and add processes to it afterwards."""
    exp = load_yaml("name: x\ngroups:\n  g: {}\n")
    exp.get_process_group("g").new_process("a", "true")
    exp.validate()


# --- value forms ----------------------------------------------------------------------
@pytest.mark.parametrize("port", ['"6006"', "true", "1.5"])
def test_a_port_that_is_not_an_integer_says_so(port):
    with pytest.raises(SpecError, match=r"<yaml>:4: processes\.a\.binds: port .* of service 's' must be an integer"):
        load_yaml(f"name: x\nprocesses:\n  a:\n    binds: {{s: {port}}}\n    cmds: [ls]\n")


@pytest.mark.parametrize("value, needle", [("[1]", r"\[1\]"), ("{b: c}", r"\{'b': 'c'\}"), ("null", "None"),
                                           ("3", r"3: write one text value, e.g\. '3'"), ("true", "True")])
def test_label_values_must_be_strings(value, needle):
    with pytest.raises(SpecError, match=rf"<yaml>:4: processes\.a\.labels: label 'a' must be a string, got {needle}"):
        load_yaml(f"name: x\nprocesses:\n  a:\n    labels: {{a: {value}}}\n    cmds: [ls]\n")
    assert load_yaml("name: x\nprocesses:\n  a:\n    labels: {a: '1'}\n").get_process("a").labels == {"a": "1"}


# --- the JSON Schema ------------------------------------------------------------------
@pytest.fixture(scope="module")
def validator():
    schema = experiment_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def documented_experiments():
    """Every experiment file of the examples and every YAML experiment in the docs."""
    found = {path: yaml.safe_load(open(path)) for path in glob.glob(os.path.join(REPO, "examples", "*", "experiment.yml"))}
    for doc in glob.glob(os.path.join(REPO, "docs", "*.md")) + [os.path.join(REPO, "README.md")]:
        for number, block in enumerate(re.findall(r"```yaml\n(.*?)```", open(doc).read(), re.S)):
            if re.match(r"(#.*\n)*name: ", block):  # an experiment file (not a config or a manifest)
                found[f"{doc}#{number}"] = yaml.safe_load(block)
    return found


def test_schema_accepts_the_examples_and_the_documented_files(validator):
    documents = documented_experiments()
    assert any("examples" in name for name in documents) and any("cli.md" in name for name in documents)
    for name, data in documents.items():
        assert list(validator.iter_errors(data)) == [], name
        experiment_from_dict(data)  # and the loader agrees


def test_schema_accepts_what_the_python_api_dumps(validator):
    from test_serialize import rich_experiment
    assert list(validator.iter_errors(rich_experiment().to_dict())) == []


@pytest.mark.parametrize("document, message", [
    ({"name": "x", "proceses": {}}, r"proceses: unknown key 'proceses' in the experiment"),
    ({"name": "x", "processes": {"a": {"cmds": ["ls"], "comand": "ls"}}},
     r"processes\.a\.comand: unknown key 'comand' in process 'a'"),
    ({"name": "x", "groups": {"g": {"processes": {"a": {"cmds": ["ls"], "restart_policy": "Always"}}}}},
     r"groups\.g\.processes\.a\.restart_policy: unknown key 'restart_policy' in process 'a' "
     r"\(pod-level keys belong to its group\)"),
    ({"name": "x", "groups": {"g": {"bogus": 1}}}, r"groups\.g\.bogus: unknown key 'bogus' in process group 'g'"),
    ({"name": "x", "processes": {"a": {"cmds": ["ls"], "resource_limit": {"gpus": 1}}}},
     r"processes\.a\.resource_limit: unknown resource key 'gpus': use cpu, mem, memory, gpu$"),
    ({"name": "x", "processes": {"a": {"cmds": ["ls"], "binds": {"s": "6006"}}}},
     r"processes\.a\.binds: port '6006' of service 's' must be an integer"),
    ({"name": "x", "processes": {"a": {"cmds": ["ls"], "mounts": [{"mount_path": "/x"}]}}},
     r"processes\.a\.mounts: each mount needs mount_path and exactly one of empty_dir, host_path, nfs, raw, secret"),
    ({"name": "x", "processes": {"a": {"cmds": ["ls"], "labels": {"a": [1]}}}},
     r"processes\.a\.labels: label 'a' must be a string, got \[1\]"),
    ({"name": "Bad_Name", "processes": {"a": {"cmds": ["ls"]}}}, r"name: experiment name 'Bad_Name' is invalid"),
    ({"processes": {"a": {"cmds": ["ls"]}}}, r"the experiment needs a name: add 'name: my-experiment'$"),
])
def test_schema_rejects_what_the_loader_rejects(validator, document, message):
    assert list(validator.iter_errors(document))
    with pytest.raises(SpecError, match=f"^{message}"):
        experiment_from_dict(document)


def test_schema_keys_are_the_loaders_keys():
    schema = experiment_schema()
    process = schema["properties"]["processes"]["additionalProperties"]
    group = schema["properties"]["groups"]["additionalProperties"]
    grouped = group["properties"]["processes"]["additionalProperties"]
    assert set(schema["properties"]) == set(EXPERIMENT_KEYS)
    assert set(process["properties"]) == set(PROCESS_KEYS)
    assert set(group["properties"]) == set(GROUP_KEYS)
    assert set(grouped["properties"]) == set(PROCESS_KEYS) - set(POD_KEYS)
