"""Fuzzing the YAML loader and the spec builder: only Symphony's own errors may escape, and every
setting of processes and groups survives dict, YAML and JSON round trips exactly."""

import string

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symphony import ExperimentSpec
from symphony.errors import SpecError, SymphonyError
from symphony.spec import experiment_from_dict, load_json, load_yaml
from symphony.spec.fields import FIELDS, GROUP_FIELDS, PULL_POLICIES, RESTART_POLICIES, TOLERATION_KEYS, Level
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


# --- valid experiments with every setting, on processes and on groups ---------------------------
# Text an engine passes on unchanged (no NUL, no lone surrogate); YAML and JSON keep it exactly.
text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), max_size=8)
words = st.text(string.ascii_lowercase, min_size=1, max_size=6)
paths = words.map(lambda w: "/" + w)
plain = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), text),
                     lambda children: st.one_of(st.lists(children, max_size=3),
                                                st.dictionaries(text, children, max_size=3)), max_leaves=8)
cpus = st.one_of(st.integers(1, 64), st.sampled_from([0.5, 1.5, 1e-3, 250.25]), st.sampled_from(["500m", "2", "1e0"]))
memories = st.one_of(st.integers(1, 2**40), st.sampled_from(["1Gi", "512Mi", "2G", "1e9", "3k"]))
amounts = st.fixed_dictionaries({}, optional={"cpu": cpus, "mem": memories, "gpu": st.integers(0, 8)})
mount_calls = st.one_of(
    st.tuples(st.just("mount_nfs"), st.tuples(words, paths, paths, st.booleans()), st.just({})),
    st.tuples(st.just("mount_host_path"), st.tuples(paths, paths, st.booleans()),
              st.fixed_dictionaries({}, optional={"type": st.sampled_from(["Directory", "File"])})),
    st.tuples(st.just("mount_empty_dir"), st.tuples(paths), st.fixed_dictionaries(
        {}, optional={"size_limit": memories, "medium": st.just("Memory")})),
    st.tuples(st.just("mount_shared_memory"), st.tuples(memories), st.just({})),
    st.tuples(st.just("mount_secret"), st.tuples(words, paths), st.just({})),
    st.tuples(st.just("mount_volume"), st.tuples(st.dictionaries(words, plain, min_size=1, max_size=2), paths),
              st.just({})),
)
#: builder calls that set each container-level field a group carries (the process-only ones are constructor
#: keywords and services, below); ``("container_yml", ...)`` updates the mapping itself
CONTAINER_CALLS = {
    "resources": st.tuples(st.sampled_from(["resource_request", "resource_limit"]), st.just(()), amounts),
    "preamble_cmds": st.tuples(st.just("preamble_cmds"), st.tuples(text), st.just({})),
    "env": st.tuples(st.just("set_env"), st.tuples(text.filter(lambda n: n and "=" not in n),
                                                   st.one_of(text, st.integers(), st.floats())), st.just({})),
    "pull_policy": st.tuples(st.just("image_pull_policy"), st.tuples(st.sampled_from(PULL_POLICIES)), st.just({})),
    "mounts": mount_calls,
    "container_yml": st.tuples(st.just("container_yml"), st.tuples(st.dictionaries(text, plain, max_size=3)),
                               st.just({})),
}
POD_CALLS = {
    "_restart_policy": st.tuples(st.just("restart_policy"), st.tuples(st.sampled_from(RESTART_POLICIES)), st.just({})),
    "node_selectors": st.tuples(st.just("node_selector"), st.tuples(text, st.one_of(text, st.integers(), st.booleans())),
                                st.just({})),
    "tolerations": st.tuples(st.just("add_toleration"), st.just(()),
                             st.dictionaries(st.sampled_from(TOLERATION_KEYS), st.one_of(text, st.integers()), max_size=3)),
    "labels": st.tuples(st.just("add_label"), st.tuples(text, text), st.just({})),
    "image_pull_secrets": st.tuples(st.just("image_pull_secret"), st.tuples(words), st.just({})),
    "pod_yml": st.tuples(st.just("pod_yml"), st.tuples(st.dictionaries(text, plain, max_size=3)), st.just({})),
}
process_keywords = st.fixed_dictionaries({}, optional={
    "cwd": text, "container_image": words, "build_image": words, "preamble_cmds": st.lists(text, max_size=2),
    "env": st.dictionaries(words.map(str.upper), text, max_size=2)}).flatmap(
    lambda kwargs: st.one_of(st.fixed_dictionaries({"cmds": st.lists(text, max_size=2)}),
                             st.fixed_dictionaries({}, optional={"command": text, "args": st.lists(text, max_size=3)}))
    .map(lambda run: {**kwargs, **run}))
# (the setting first, then its call: every setting equally often, however many forms of call it has)
container_calls = st.lists(st.sampled_from(list(CONTAINER_CALLS.values())).flatmap(lambda calls: calls), max_size=6)
pod_calls = st.lists(st.sampled_from(list(POD_CALLS.values())).flatmap(lambda calls: calls), max_size=4)


def test_the_fuzzed_calls_cover_every_setting_a_group_carries():
    """A setting added to the table of fields must be added here too, or it is never fuzzed."""
    assert set(CONTAINER_CALLS) == {f.attr for f in GROUP_FIELDS if f.level is Level.CONTAINER}
    assert set(POD_CALLS) == {f.attr for f in GROUP_FIELDS if f.level is Level.POD}


def apply_calls(owner, calls):
    """Make the calls; one the builder refuses (a mount path taken twice...) leaves a valid model."""
    for method, args, kwargs in calls:
        try:
            if method in ("container_yml", "pod_yml"):
                getattr(owner, method).update(*args)
            elif method == "preamble_cmds":
                owner.preamble_cmds.extend(args)
            else:
                getattr(owner, method)(*args, **kwargs)
        except SpecError:
            pass


@st.composite
def experiments(draw):
    exp = ExperimentSpec("fuzz", preamble_cmds=draw(st.lists(text, max_size=2)),
                         env=draw(st.dictionaries(words, text, max_size=2)))
    services = [f"s{i}" for i in range(draw(st.integers(0, 3)))]
    processes = [exp.new_process(f"p{i}", **draw(process_keywords)) for i in range(draw(st.integers(0, 2)))]
    for process in processes:
        apply_calls(process, draw(container_calls) + draw(pod_calls))
    for g in range(draw(st.integers(0, 2))):
        group = exp.new_process_group(f"g{g}", preamble_cmds=draw(st.lists(text, max_size=2)))
        apply_calls(group, draw(container_calls) + draw(pod_calls))
        for i in range(draw(st.integers(0, 2))):
            member = group.new_process(f"m{i}", **draw(process_keywords))
            apply_calls(member, draw(container_calls))
            processes.append(member)
    for name in services:  # each service bound or exposed once, some with a fixed port
        provider = draw(st.sampled_from(processes)) if processes else None
        if provider is not None:
            port = draw(st.one_of(st.none(), st.integers(1, 65535)))
            try:
                getattr(provider, draw(st.sampled_from(["binds", "exposes"])))({name: port})
            except SpecError:  # a fixed port taken by another service
                pass
    for process in processes:
        process.connects(draw(st.lists(st.sampled_from(services), max_size=2)) if services else [])
    return exp


def settings_of(exp):
    """Every field of every process and group: the model itself, not only its dict form."""
    result = {p.key: {f.attr: getattr(p, f.attr) for f in FIELDS} for p in exp.list_all_processes()}
    result.update({g.name + "/": {f.attr: getattr(g, f.attr) for f in GROUP_FIELDS} for g in exp.list_process_groups()})
    return result


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(experiments())
def test_every_setting_round_trips_exactly_on_processes_and_groups(exp):
    data = exp.to_dict()
    for loaded in (experiment_from_dict(data), load_yaml(exp.dump_yaml()), load_json(exp.dump_json())):
        assert loaded.to_dict() == data
        assert settings_of(loaded) == settings_of(exp)
        for process in exp.list_all_processes():
            twin = loaded.get_process(process.key)
            assert twin.effective_resources() == process.effective_resources()
            assert twin.effective_mounts() == process.effective_mounts()
            assert twin.effective_env() == process.effective_env()
