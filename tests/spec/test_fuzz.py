"""Fuzzing the YAML loader and the spec builder: only Symphony's own errors may escape."""

import string

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symphony import ExperimentSpec
from symphony.errors import SymphonyError
from symphony.spec import experiment_from_dict, load_yaml
from symphony.spec.serialize import EXPERIMENT_KEYS, GROUP_KEYS, PROCESS_KEYS

KEYS = sorted(set(EXPERIMENT_KEYS) | set(GROUP_KEYS) | set(PROCESS_KEYS) |
              {"cpu", "mem", "memory", "gpu", "mount_path", "nfs", "server", "path", "key", "operator", "effect"})
names = st.one_of(st.sampled_from(["a", "learner", "g", "replay-server", "x-1", "Bad", "", "a_b", "-"]),
                  st.text(max_size=8))
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10, 70000), st.floats(allow_nan=True),
                    names, st.sampled_from(["2G", "2GB", "500m", "Always", "Never", "OnFailure", "/mnt"]))
values = st.recursive(scalars, lambda children: st.one_of(
    st.lists(children, max_size=4),
    st.dictionaries(st.one_of(st.sampled_from(KEYS), names), children, max_size=5)), max_leaves=25)
documents = st.fixed_dictionaries({}, optional={key: values for key in EXPERIMENT_KEYS}).map(
    lambda d: {k: v for k, v in d.items()})
process_docs = st.dictionaries(names, st.dictionaries(st.sampled_from(sorted(PROCESS_KEYS)), values, max_size=6),
                               max_size=3)

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def only_symphony_errors(action):
    try:
        action()
    except SymphonyError:
        pass


@FUZZ
@given(documents)
def test_loader_on_random_documents(document):
    only_symphony_errors(lambda: experiment_from_dict(document))


@FUZZ
@given(names, process_docs)
def test_loader_on_random_processes(name, processes):
    document = {"name": name, "processes": processes, "groups": {"g": {"processes": processes}}}
    only_symphony_errors(lambda: load_yaml(yaml.safe_dump(document)))


@FUZZ
@given(st.text(alphabet=string.printable + "äß\u2028", max_size=200))
def test_loader_on_random_text(text):
    only_symphony_errors(lambda: load_yaml("name: x\n" + text))
    only_symphony_errors(lambda: load_yaml(text))


RESOURCES = st.dictionaries(st.sampled_from(["cpu", "mem", "memory", "gpu"]), values, max_size=3)
TOLERATIONS = st.dictionaries(st.sampled_from(["key", "operator", "value", "effect"]), values, max_size=3)
CALLS = st.one_of(
    st.tuples(st.sampled_from(["binds", "connects", "exposes", "restart_policy", "image_pull_policy"]),
              st.tuples(values), st.just({})),
    st.tuples(st.sampled_from(["resource_request", "resource_limit"]), st.just(()), RESOURCES),
    st.tuples(st.just("add_toleration"), st.just(()), TOLERATIONS),
    st.tuples(st.sampled_from(["set_env", "node_selector"]), st.tuples(values, values), st.just({})),
    st.tuples(st.just("mount_nfs"), st.tuples(values, values, values), st.just({})),
)


@FUZZ
@given(names, st.lists(CALLS, max_size=8))
def test_builder_on_random_calls(name, calls):
    """Well-shaped calls with random values: bad values are SpecErrors, good ones round-trip."""
    exp = ExperimentSpec("fuzz")
    only_symphony_errors(lambda: exp.new_process(name, name))
    process = exp.new_process("fixed-process", "true")  # longer than any generated name: never taken
    for method, args, kwargs in calls:
        only_symphony_errors(lambda: getattr(process, method)(*args, **kwargs))
    only_symphony_errors(exp.validate)
    data = exp.to_dict()
    assert experiment_from_dict(data).to_dict() == data
