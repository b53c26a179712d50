"""Hostile values at declaration time: errors stay one short line, documents cannot explode.

* Every message that echoes a user's value shows it briefly, whatever its size (a list
  repeated inside itself 10^8 times, a megabyte string, a 5000-digit number).
* YAML aliases cannot expand a small file into a huge one, or a value into itself; no file
  nests deeper than MAX_DEPTH (Python's stack would end in a RecursionError traceback).
* Text no engine can pass on unchanged (a lone surrogate) is refused where it is declared.
"""

import io

import pytest

from symphony import ExperimentSpec
from symphony.errors import SpecError
from symphony.spec import experiment_from_dict, load_json, load_yaml
from symphony.spec.brief import MAX_SHOWN, brief
from symphony.spec.serialize import MAX_DEPTH, MAX_REPEATED, DocumentShapeError, _LineDict, read_yaml


def laughs(levels=8):
    """A list that is 10^levels strings once expanded, in a few hundred bytes of memory."""
    value = ["x"] * 10
    for _ in range(levels):
        value = [value] * 10
    return value


def process():
    return ExperimentSpec("x").new_process("p", "true")


# --- brief values ---------------------------------------------------------------------
@pytest.mark.parametrize("value", [laughs(), "x" * 10**6, 10**5000, -10**5000, _LineDict({"a": laughs()}),
                                   {f"k{i}": laughs() for i in range(1000)}, [["y" * 1000] * 1000] * 1000],
                         ids=["laughs", "long string", "huge int", "huge negative int", "loader mapping",
                              "wide mapping", "wide list"])
@pytest.mark.timeout(30)  # showing a whole value of these would take minutes or all memory
def test_any_value_is_shown_briefly(value):
    shown = brief(value)
    assert len(shown) <= MAX_SHOWN and "\n" not in shown


def test_small_values_are_shown_as_repr():
    for value in ["a b", 7, 1.5, None, True, [1, "2"], {"a": [1]}, "\udcff", "new\nline"]:
        assert brief(value) == repr(value)


def test_a_cyclic_value_is_shown_briefly():
    cyclic = []
    cyclic.append(cyclic)
    assert len(brief(cyclic)) <= MAX_SHOWN


SHOWN = r"\[\[\[\.\.\.\], \[\.\.\.\], \[\.\.\.\], \[\.\.\.\], \.\.\.\], .*\.\.\.\]"  # laughs(), cut short


def long(char):
    """A million-character string of ``char``, as messages show it: cut short in the middle."""
    return rf"'{char}{{77}}\.\.\.{char}{{78}}'"


@pytest.mark.parametrize("declare, message", [
    (lambda: process().add_labels(a0=laughs()), rf"^label 'a0' must be a string, got {SHOWN}: write one text value"),
    (lambda: process().add_label(laughs(), "v"), rf"^label key must be a string or a number, got {SHOWN}$"),
    (lambda: process().set_env("A", laughs()), rf"^process 'p' env: value of 'A' must be a string or a number, got {SHOWN}$"),
    (lambda: process().set_envs({"A": {"b": laughs()}}),
     r"^process 'p' env: value of 'A' must be a string or a number, got \{'b': \[\[\.\.\.\], .*\.\.\.\]\}$"),
    (lambda: process().binds(laughs()),
     rf"^binds\(\) takes a name, a list of names or a mapping of names to ports, got {SHOWN}$"),
    (lambda: process().resource_limit(mem=laughs()),
     r"^process 'p' resource_limit memory must be a number of bytes or a string like '2G' or '512Mi', got \[\[\["),
    (lambda: process().resource_request(cpu="9" * 10**6),
     rf"^process 'p' resource_request cpu {long(9)} is larger than any machine has \(at most 2\^63\)"),
    (lambda: process().resource_limit(gpu=10**5000),
     r"^process 'p' resource_limit gpu <a number of about 5000 digits> is larger than any machine has"),
    (lambda: process().mount_host_path("/x", laughs()), rf"^process 'p': mount_path must be an absolute path, got {SHOWN}$"),
    (lambda: process().restart_policy("x" * 10**6), rf"^unknown restart policy {long('x')}: use one of Never, OnFailure, Always$"),
    (lambda: ExperimentSpec("x").new_process("p", laughs()),
     rf"^process 'p' cmds must be a string or a list of strings, got {SHOWN}$"),
    (lambda: ExperimentSpec("x").new_process("p", cwd=laughs()), rf"^process 'p': cwd must be a path string, got {SHOWN}$"),
    (lambda: ExperimentSpec("x" * 10**6), rf"^experiment name {long('x')} is 1000000 characters long: use at most 63$"),
    (lambda: ExperimentSpec("x").new_process("p", "true").binds("1" + "x" * 10**6),
     r"^service name '1x{76}\.\.\.x{78}' is invalid: it must start with a letter, e\.g\. 's-1x+'$"),
    (lambda: experiment_from_dict({"name": "x", "processes": {"p": {"args": {"a": laughs()}}}}),
     r"^processes\.p\.args: must be a list of strings, got dict \{'a': \[\[\.\.\.\], .*\.\.\.\]\}$"),
    (lambda: experiment_from_dict({"name": "x", "processes": {"p" * 10**6: {"cmds": ["ls"]}}}),
     rf"^processes\.{long('p')}: process name {long('p')} is 1000000 characters long: use at most 63$"),
    (lambda: experiment_from_dict({"name": "x", "processes": {"p": {"cmds": ["ls"], "k" * 10**6: 1}}}),
     rf"^processes\.p\.{long('k')}: unknown key {long('k')} in process 'p': allowed keys are args, binds, "),
    (lambda: experiment_from_dict({"name": "x", "processes": {"p": {"cmds": ["ls"], "mounts": [laughs()]}}}),
     rf"^processes\.p\.mounts: each mount needs mount_path and one of empty_dir, host_path, nfs, raw, secret, "
     rf"got {SHOWN}$"),
    (lambda: experiment_from_dict({"name": "x", "processes": {"p": {"cmds": ["ls"], "tolerations": [laughs()]}}}),
     rf"^processes\.p\.tolerations: each toleration must be a mapping, got {SHOWN}$"),
])
@pytest.mark.timeout(30)
def test_messages_echo_values_briefly(declare, message):
    """A 418-byte YAML file of aliases once printed a 580 MB error line after 13 s."""
    with pytest.raises(SpecError, match=message) as refused:
        declare()
    assert len(str(refused.value)) < 1000 and "\n" not in str(refused.value)


# --- YAML aliases and nesting -----------------------------------------------------------
def alias_bomb(levels):
    anchors = "&a0 [" + ",".join("x" * 10) + "]"
    for level in range(1, levels):
        anchors += f", &a{level} [" + ",".join([f"*a{level - 1}"] * 10) + "]"
    return f"name: x\nprocesses:\n  p:\n    cmds: [ls]\n    labels: {{k: [{anchors}]}}\n"


def nested(levels, inner="x"):
    return "[" * (levels - 1) + inner + "]" * (levels - 1)


@pytest.mark.timeout(30)
def test_an_alias_bomb_is_refused_without_expanding_it():
    text = alias_bomb(9)  # 10^9 values once expanded; never expanded here
    assert len(text) < 500
    with pytest.raises(DocumentShapeError, match=rf"repeat more than {MAX_REPEATED} values: .*reuse smaller anchors"):
        read_yaml(io.StringIO(text))
    with pytest.raises(SpecError, match=r"^<yaml>:5: aliases \(\*a\d among them\) repeat more than"):
        load_yaml(text)


def test_merge_keys_cannot_multiply_a_document_either():
    """PyYAML flattens ``<<: [*m, *m, ...]`` by copying pairs: 10^8 pairs before any check of ours would run."""
    text = "name: x\nprocesses:\n  p:\n    cmds: [ls]\n    pod_yml:\n      m0: &m0 {" + \
        ", ".join(f"k{i}: x" for i in range(10)) + "}\n"
    for level in range(1, 9):
        text += f"      m{level}: &m{level} {{<<: [" + ", ".join([f"*m{level - 1}"] * 10) + "]}\n"
    with pytest.raises(SpecError, match="repeat more than"):
        load_yaml(text)


def test_small_reuse_through_anchors_and_merge_keys_still_loads():
    base = "{cmds: [python train.py], env: {SEED: '1'}, resource_limit: {cpu: 1}}"
    text = f"name: x\nprocesses:\n  p0: &base {base}\n" + "".join(f"  p{i}: {{<<: *base}}\n" for i in range(1, 500))
    exp = load_yaml(text)
    assert len(exp.processes) == 500 and exp.get_process("p499").env == {"SEED": "1"}


@pytest.mark.parametrize("text, anchor", [
    ("    pod_yml: {a: &c [1, *c]}\n", "c"),
    ("    pod_yml: &m {a: *m}\n", "m"),
])
def test_a_value_containing_itself_is_refused(text, anchor):
    with pytest.raises(SpecError, match=rf"^<yaml>:5: alias \*{anchor} is inside its own anchor &{anchor}"):
        load_yaml("name: x\nprocesses:\n  p:\n    cmds: [ls]\n" + text)


@pytest.mark.parametrize("levels", [MAX_DEPTH + 1, 400, 5000])
def test_yaml_nested_too_deeply_is_one_line(levels):
    """5000 levels used to end in a RecursionError traceback from PyYAML's composer."""
    with pytest.raises(SpecError, match=r"^<yaml>(:5)?: nested too deeply \(more than 100 levels"):
        load_yaml(f"name: x\nprocesses:\n  p:\n    cmds: [ls]\n    pod_yml: {{a: {nested(levels - 3)}}}\n")


def test_yaml_nesting_up_to_the_limit_loads():
    exp = load_yaml(f"name: x\nprocesses:\n  p:\n    cmds: [ls]\n    pod_yml: {{a: {nested(MAX_DEPTH - 4)}}}\n")
    assert exp.get_process("p").pod_yml["a"]


def test_an_alias_cannot_nest_a_document_deeper_than_its_text_shows():
    text = f"name: x\nx: &d {nested(60)}\nprocesses:\n  p:\n    cmds: [ls]\n    pod_yml: {{a: {nested(50, '*d')}}}\n"
    with pytest.raises(SpecError, match="^<yaml>:2: nested too deeply"):
        load_yaml(text)


@pytest.mark.parametrize("levels", [MAX_DEPTH + 1, 5000])
def test_json_nested_too_deeply_is_one_line(levels):
    inner = "[" * (levels - 4) + "]" * (levels - 4)
    with pytest.raises(SpecError, match=r"^<json>: nested too deeply \(more than 100 levels"):
        load_json('{"name": "x", "processes": {"p": {"cmds": ["ls"], "pod_yml": {"a": ' + inner + "}}}}")


@pytest.mark.parametrize("text, message", [
    ("env: {A: 2020-13-45}", r"^<yaml>:5: invalid YAML: '2020-13-45' cannot be read as a YAML timestamp "
                             r"\(month must be in 1..12\): quote it"),
    ("env: {A: " + "9" * 5000 + "}", r"^<yaml>:5: invalid YAML: '9999.*' cannot be read as a YAML int .*: quote it"),
])
def test_plain_scalars_that_python_cannot_build_are_one_line(text, message):
    with pytest.raises(SpecError, match=message):
        load_yaml("name: x\nprocesses:\n  p:\n    cmds: [ls]\n    " + text + "\n")


def test_a_json_number_python_cannot_build_is_one_line():
    with pytest.raises(SpecError, match=r"^<json>: a number cannot be read .*: write it as a string"):
        load_json('{"name": "x", "processes": {"p": {"cmds": ["ls"], "env": {"A": ' + "9" * 5000 + "}}}}")


# --- text no engine passes on unchanged ---------------------------------------------------
SURROGATE = "caf\udce9"  # what Python makes of b"caf\xe9" (Latin-1) with errors="surrogateescape"


@pytest.mark.parametrize("declare", [
    lambda s: ExperimentSpec("x").new_process("p", command="echo", args=["ok", s]),
    lambda s: ExperimentSpec("x").new_process("p", command=f"/bin/{s}"),
    lambda s: ExperimentSpec("x").new_process("p", [s]),
    lambda s: ExperimentSpec("x").new_process("p", "true", cwd=f"/tmp/{s}"),
    lambda s: ExperimentSpec("x").new_process("p", "true", preamble_cmds=[s]),
    lambda s: ExperimentSpec("x", preamble_cmds=[s]),
    lambda s: ExperimentSpec("x", env={"A": s}),
    lambda s: ExperimentSpec("x", env={s: "a"}),
    lambda s: ExperimentSpec("x", secrets=[s]),
    lambda s: ExperimentSpec("x").new_process_group("g", env={"A": s}),
    lambda s: process().set_env("A", s),
    lambda s: process().add_labels(a=s),
    lambda s: process().add_label(s, "v"),
    lambda s: process().node_selector("disk", s),
    lambda s: process().mount_empty_dir(f"/{s}"),
])
def test_lone_surrogates_are_refused_where_declared(declare):
    """tmux's launch crashed on them with a UnicodeEncodeError; Docker turned them into U+FFFD."""
    with pytest.raises(SpecError, match=r"contains a character that cannot be encoded as UTF-8 \(a lone surrogate, "
                                        r"'\\udce9' at position \d+\): remove it"):
        declare(SURROGATE)


def test_lone_surrogates_in_a_yaml_file_are_refused_at_their_line():
    with pytest.raises(SpecError, match=r"^<yaml>:3: processes\.p: process 'p' args contains a character that cannot"):
        load_yaml('name: x\nprocesses:\n  p:\n    command: echo\n    args: ["caf\\udce9"]\n')


def test_other_unicode_passes():
    exp = ExperimentSpec("x", env={"A": "日本語 🎻 e\u0301 \u200b"})
    exp.new_process("p", command="echo", args=["ünïcødé", "\U0001F3BB"]).add_labels(a="é")
    assert exp.get_process("p").args == ["ünïcødé", "\U0001F3BB"]
