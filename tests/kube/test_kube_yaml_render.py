"""The dry run's own YAML writer means exactly what PyYAML's dumpers (libyaml's and pure Python) mean."""

import datetime
import math

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symphony.kube.yaml_render import dump_manifest, dump_with_pyyaml

from test_kube_translation import IMAGE, YAML_11_LOOKALIKES, Yaml11Loader

AWKWARD_STRINGS = YAML_11_LOOKALIKES + [
    "a: b", "a #b", "- x", "? q", "[1]", "{a: 1}", "*alias", "&anchor", "!tag", "%d", "@x", "`x`", "'single'",
    '"double"', "back\\slash", "tab\there", "line\nbreak", "trailing\n", "\r\n", "nul\x00", "bell\x07", "esc\x1b",
    "del\x7f", "nel\x85", "nbsp\xa0", "ls\u2028ps\u2029", "bom\ufeff", "café", "日本語", "emoji 🎉", "\U0001f600",
    "x" * 300, ("word " * 40).strip(), "$(VAR) $$", "#comment", "---", "...", "-", ":", "a/b.c_d-e", "Yes", "OFF",
]
RECEIVABLE = [text for text in AWKWARD_STRINGS if "\0" not in text]  # no process can receive a NUL


def _plan(kube, tmp_path):
    (tmp_path / "on").write_text("secret bytes")
    exp = kube.new_experiment("render", secrets=[str(tmp_path / "on")])
    group = exp.new_process_group("g")
    for name in ("a", "b"):
        proc = group.new_process(name, container_image=IMAGE, command="prog", args=RECEIVABLE[:30])
        proc.mount_nfs(server="fs", path="/data", mount_path="/fs").mount_empty_dir("/scratch")
        proc.container_yml = {"securityContext": {"runAsUser": 1000, "privileged": False}}
    group.get_process("a").binds("svc")
    group.node_selector("gpu", "true").add_toleration(key="k", operator="Exists")
    group.pod_yml = {"spec": {"priorityClassName": "high", "hostAliases": [{"ip": "10.0.0.1", "hostnames": []}],
                              "overhead": {}, "activeDeadlineSeconds": 3600}}
    exp.new_process("solo", container_image=IMAGE, command="prog", args=RECEIVABLE[30:],
                    env={f"V{i}": value for i, value in enumerate(RECEIVABLE)}).connects("svc")
    return kube.plan(exp)


def test_every_manifest_reads_back_the_same_through_every_dumper_and_a_yaml_11_reader(kube, tmp_path):
    plan = _plan(kube, tmp_path)
    for obj in plan.objects:
        text = dump_manifest(obj)
        assert yaml.safe_load(text) == obj
        assert yaml.load(text, Loader=Yaml11Loader) == obj  # as kubectl's Go YAML 1.1 reads it
        assert yaml.safe_load(dump_with_pyyaml(obj)) == obj
        assert yaml.safe_load(dump_with_pyyaml(obj, pure_python=True)) == obj
    assert list(yaml.safe_load_all(plan.render(show_secrets=True))) == plan.objects


def test_ordinary_manifests_are_byte_identical_to_pyyaml(kube):
    """Same layout as PyYAML's own dumper (only strings over 80 columns are folded by PyYAML alone)."""
    exp = kube.new_experiment("plain")
    learner = exp.new_process("learner", container_image=IMAGE, command="python", args=["learner.py", "--lr=3"])
    learner.binds(["replay", "ps"]).exposes({"tensorboard": 6006})
    learner.resource_request(cpu=1.5, mem="2G").mount_nfs(server="fs", path="/data", mount_path="/fs")
    learner.add_toleration(key="surreal", operator="Exists", effect="NoExecute").node_selector("pool", "gpu")
    exp.new_process("agent", ["echo $HOME", "python agent.py"], container_image=IMAGE).connects("replay")
    plan = kube.plan(exp)
    for obj in plan.objects:
        assert dump_manifest(obj) == dump_with_pyyaml(obj, pure_python=True)


def test_values_outside_the_fast_subset_are_written_by_pyyaml_whole():
    for obj in ({"kind": "Pod", "when": datetime.date(2024, 1, 2)},     # a date from a pod_yml file
                {"kind": "Pod", "k" * 200: "long key"},                  # PyYAML's `? key` form
                {"kind": "Pod", "metadata": {1: "int key"}},
                {"kind": "Pod", "blob": b"\x00bytes"}):
        assert dump_manifest(obj) == dump_with_pyyaml(obj)
        assert yaml.safe_load(dump_manifest(obj)) == obj


def test_floats_are_written_as_pyyaml_writes_them():
    values = [0.0, -0.0, 1.5, 1e20, 1e-7, 3.0, -2.5e-300, math.inf, -math.inf]
    obj = {"values": values, "one": 0.1}
    assert dump_manifest(obj) == dump_with_pyyaml(obj, pure_python=True)
    assert math.isnan(yaml.safe_load(dump_manifest({"x": math.nan}))["x"])


scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                    st.text(max_size=20), st.sampled_from(AWKWARD_STRINGS))
trees = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.one_of(st.text(max_size=10), st.sampled_from(AWKWARD_STRINGS)), inner, max_size=4)),
    max_leaves=25)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.text(min_size=1, max_size=10), trees, min_size=1, max_size=5))
def test_any_json_like_manifest_reads_back_as_itself(obj):
    text = dump_manifest(obj)
    assert yaml.safe_load(text) == obj
    assert yaml.safe_load(text) == yaml.safe_load(dump_with_pyyaml(obj))


@pytest.mark.parametrize("text", AWKWARD_STRINGS)
def test_each_awkward_string_alone_reads_back_through_both_readers(text):
    obj = {"value": text, "list": [text], text[:100]: "as key"}
    assert yaml.safe_load(dump_manifest(obj)) == obj
    assert yaml.load(dump_manifest(obj), Loader=Yaml11Loader) == obj
