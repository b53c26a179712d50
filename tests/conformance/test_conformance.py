"""Every declaration of the catalogue means the same on every registered backend.

Each declaration is planned (nothing is started, no engine is contacted) on every
backend in the registry — a backend registered later is covered with no new test code —
and what each plan would really run is read back from the plan itself
(``process_meanings()``: argv, container entrypoint and command, escaped ``$$``,
Docker's nano-CPUs). For each declaration:

* refusals are the same everywhere (same error type, same message), except where a
  backend's declared capabilities refuse a feature, and then in one line naming it;
* otherwise every backend runs the same argv (the shell each backend uses for shell
  lines aside), with the same environment (addresses, which are the backend's to
  choose, aside), the same restart policy, and — on every backend that applies
  resources — the same effective resources;
* what a backend does not apply is listed in its plan, never dropped silently.
"""

import math
import re

import pytest

from symphony.cluster import BACKENDS, Cluster
from symphony.errors import SpecError
from symphony.resolution import CapabilityError, Support
from symphony.resolution.capabilities import FEATURES
from symphony.spec.model import ExperimentSpec

from .catalogue import CATALOGUE

_FEATURE_OF = {text: feature for feature, text in FEATURES.items()}
_ADDRESS = re.compile(r"^SYMPH_(BIND_HOST|SECRETS_DIR|.+_(HOST|ADDR|PORT))$")


def test_the_catalogue_is_large_enough_and_every_backend_is_registered():
    assert len(CATALOGUE) >= 30
    assert {"local", "tmux", "docker", "kube", "slurm"} <= set(BACKENDS)


#: how each backend is built for planning: Slurm as a cluster whose srun runs images (pyxis), so
#: that declarations with an image are compared too (without that support it refuses images in
#: one line, which tests/slurm checks on a real cluster)
SETTINGS = {"slurm": {"containers": True}}


def _cluster(backend):
    return Cluster.new(backend, **SETTINGS.get(backend, {}))


def _outcome(backend, declare, tmp_path):
    exp = ExperimentSpec("conf")
    expect = declare(exp, tmp_path)
    cluster = _cluster(backend)
    try:
        return expect, cluster, None, cluster.plan(exp)
    except SpecError as exc:
        return expect, cluster, exc, None


def _refuses(capabilities, feature):
    if feature == "containers":
        return capabilities.runs_in_containers
    if feature == "image":  # (a declaration whose processes declare an image)
        return capabilities.runs_in_containers or capabilities.of("images") is Support.APPLIED
    return capabilities.of(feature) is Support.REFUSED


def _argv(meaning):
    argv = list(meaning.argv)
    if len(argv) >= 2 and argv[1] == "-c" and argv[0].endswith("sh"):
        argv[0] = "<shell>"  # each backend's shell for shell lines is a setting of its cluster
    return argv


def _env(env):
    """The environment with what the backend chooses (addresses, its run id, its secrets folder) masked."""
    return {name: ("<chosen>" if _ADDRESS.match(name) else value)
            for name, value in env.items() if name != "SYMPH_RUN_ID"}


def _close(a, b):
    """Equal resources, up to what an engine can express (Docker weighs cpu requests in 1/1024 cores)."""
    return set(a) == set(b) and all(
        set(a[kind]) == set(b[kind]) and all(math.isclose(a[kind][n], b[kind][n], rel_tol=0.01, abs_tol=0.002)
                                             for n in a[kind])
        for kind in a)


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_same_meaning_on_every_backend(name, tmp_path):
    outcomes = {backend: _outcome(backend, CATALOGUE[name], tmp_path) for backend in sorted(BACKENDS)}
    expect = next(iter(outcomes.values()))[0]

    # --- refusals -------------------------------------------------------------------
    planned = {}
    for backend, (_, cluster, error, plan) in outcomes.items():
        capabilities = cluster.capabilities
        if expect.refusal:
            assert error is not None, f"{backend} accepted what every backend must refuse"
            assert not isinstance(error, CapabilityError), f"{backend}: {error}"
            assert re.search(expect.refusal, str(error)), f"{backend}: {error}"
            continue
        if expect.capability_refusal and _refuses(capabilities, expect.capability_refusal[0]):
            assert isinstance(error, CapabilityError), f"{backend} should refuse: {error or 'it planned'}"
            assert re.search(expect.capability_refusal[1], str(error)), f"{backend}: {error}"
            assert backend in str(error).lower(), f"the refusal does not name the {backend} backend: {error}"
            assert "\n" not in str(error)
            continue
        assert error is None, f"{backend} refused: {error}"
        planned[backend] = (cluster, plan)
    if expect.refusal:
        messages = {backend: str(error) for backend, (_, _, error, _) in outcomes.items()}
        assert len(set(messages.values())) == 1, messages
        assert len({type(error) for _, _, error, _ in outcomes.values()}) == 1
        return

    # --- what each plan would run ------------------------------------------------------
    meanings = {backend: plan.process_meanings() for backend, (_, plan) in planned.items()}
    keys = {backend: sorted(m) for backend, m in meanings.items()}
    assert len({tuple(k) for k in keys.values()}) == 1, keys
    for key in next(iter(keys.values())):
        by_backend = {backend: m[key] for backend, m in meanings.items()}
        argvs = {backend: _argv(m) for backend, m in by_backend.items()}
        assert len({tuple(a) for a in argvs.values()}) == 1, (key, argvs)
        if key in expect.argv:
            assert next(iter(argvs.values())) == expect.argv[key]
        envs = {backend: _env(m.env) for backend, m in by_backend.items()}
        first = next(iter(envs.values()))
        assert all(env == first for env in envs.values()), (key, envs)
        for backend, m in by_backend.items():
            for variable, value in expect.env.get(key, {}).items():
                assert m.env[variable] == value, (backend, key, variable)
        policies = {m.restart_policy for m in by_backend.values()}
        assert len(policies) == 1, (key, policies)
        if key in expect.restart:
            assert policies == {expect.restart[key]}
        applied = {backend: m.resources for backend, m in by_backend.items() if m.resources is not None}
        for backend, resources in applied.items():
            wanted = expect.resources.get(key)
            if wanted is not None:
                assert _close(resources, wanted), (backend, key, resources, wanted)
            assert _close(resources, next(iter(applied.values()))), (key, applied)
        in_containers = {backend: m for backend, m in by_backend.items()
                         if planned[backend][0].capabilities.runs_in_containers or m.image is not None}
        for backend, m in by_backend.items():
            if backend not in in_containers:
                assert not m.keeps_image_entrypoint
                if planned[backend][0].capabilities.of("images") is not Support.APPLIED:
                    assert m.image is None
        for field in ("image", "cwd", "keeps_image_entrypoint"):
            assert len({repr(getattr(m, field)) for m in in_containers.values()}) <= 1, (key, field)
        for field in ("mounts", "labels"):
            values = {backend: getattr(m, field) for backend, m in by_backend.items() if getattr(m, field) is not None}
            assert len({repr(v) for v in values.values()}) <= 1, (key, field, values)
            if key in getattr(expect, field):
                assert values and all(v == getattr(expect, field)[key] for v in values.values()), (key, field, values)
        if key in expect.keeps_entrypoint:
            assert all(m.keeps_image_entrypoint == expect.keeps_entrypoint[key] for m in in_containers.values())

    # --- nothing dropped without a word --------------------------------------------------
    for backend, (cluster, plan) in planned.items():
        for text in expect.host_not_applied:
            if cluster.capabilities.of(_FEATURE_OF[text]) is Support.IGNORED:
                assert any(note.startswith(text) for note in plan.not_applied), (backend, text, plan.not_applied)
                assert text in plan.render()
        if all(cluster.capabilities.of(f) is Support.APPLIED for f in FEATURES):
            assert not plan.not_applied


def test_a_setting_used_but_not_applied_is_listed_with_its_reason(tmp_path):
    """Every feature a backend ignores shows up in its plan's not-applied lines when used."""
    for backend in sorted(BACKENDS):
        cluster = _cluster(backend)
        exp = ExperimentSpec("conf-notes")
        process = exp.new_process("p", container_image="img:1", command="echo")
        process.resource_limit(cpu=1, gpu=1).node_selector("a", "b")
        ignored = [f for f in ("cpu", "gpu", "node_selectors") if cluster.capabilities.of(f) is Support.IGNORED]
        plan = cluster.plan(exp)
        for feature in ignored:
            line = next(note for note in plan.not_applied if note.startswith(FEATURES[feature]))
            assert cluster.capabilities.reason(feature) in line and "'p'" in line


def test_a_launch_says_what_it_did_not_apply(capsys):
    cluster = Cluster.new("local")
    exp = cluster.new_experiment("conf-launch-notes")
    exp.new_process("p", command="true").resource_limit(cpu=1)
    try:
        cluster.launch(exp)
        err = capsys.readouterr().err
    finally:
        cluster.delete("conf-launch-notes")
    assert "note: 'conf-launch-notes' on the local backend: cpu requests and limits not applied (process 'p')" in err


@pytest.mark.parametrize("name", ["args_without_command_keep_the_image_entrypoint", "exec_form_arguments_verbatim",
                                  "a_relative_working_directory_has_no_meaning_in_a_container"])
def test_a_process_in_an_image_means_the_same_wherever_it_runs_in_one(name, tmp_path):
    """Every backend that plans a process into an image gives it the same image, working directory
    and entrypoint decision, or refuses it as the backends that run every process in an image do."""
    outcomes = {backend: _outcome(backend, CATALOGUE[name], tmp_path) for backend in sorted(BACKENDS)}
    in_image, refused = {}, {}
    for backend, (_, cluster, error, plan) in outcomes.items():
        if error is not None:
            refused[backend] = error
            continue
        for key, m in plan.process_meanings().items():
            if m.image is not None:
                in_image.setdefault(key, {})[backend] = (m.image, m.cwd, m.keeps_image_entrypoint)
    containers = {backend for backend, (_, cluster, _, _) in outcomes.items() if cluster.capabilities.runs_in_containers}
    if containers <= set(refused):
        assert not in_image, f"refused on {sorted(containers)} but planned into an image: {in_image}"
    for key, meanings in in_image.items():
        assert len(set(meanings.values())) == 1, (key, meanings)
