"""Conformance: every example, on every backend this machine has, gives the same result.

The examples' declarations have no backend branches: only where the code lives
(image, directory in it, interpreter) differs. A backend whose engine is present
must pass; only an absent engine skips (no tmux binary, no Docker engine answering,
no ``SYMPHONY_TEST_KUBE=1``), and not even that when ``SYMPHONY_REQUIRE_ENGINES`` lists
it (tests/engines.py): an engine without what the examples need fails.

* local and tmux run the examples from this checkout with this interpreter;
* Docker (a reachable engine, which must hold ``symphony-test-base:latest``, as
  ``.ci/docker-up`` makes) runs them from an image built once per session with
  :class:`symphony.addons.DockerBuilder` (``tests/examples_support``), on internal
  networks;
* Kubernetes runs them with ``SYMPHONY_TEST_KUBE=1``, which then requires a kubeconfig
  (``$KUBECONFIG`` or ``~/.kube/config``) and ``SYMPHONY_TEST_IMAGE``: an image the cluster can pull (or
  already holds: pull policy IfNotPresent, so an image loaded into kind/minikube works)
  with the examples at ``/examples``, caraml importable and python3 with pyzmq. Build it
  with ``.venv/bin/python tests/examples_support/backends.py <repo>:<tag> --push``. The
  rl dashboard is reached through ``symphony visit``'s URL: a LoadBalancer's address, or
  a ``kubectl port-forward`` (kubectl on PATH).

Each run checks the example's result from the processes' logs and exit codes, that
process groups are honoured (the members of a group report one network namespace;
on container backends each standalone process and each group has its own), that
``symphony visit dashboard <experiment> -u`` prints a URL that answers while rl runs,
and that after delete nothing of the experiment is left.
"""

import contextlib
import importlib.util
import io
import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest

from engines import require_engine
from examples_support import backends
from examples_support.backends import (EXAMPLES, KUBE_IMAGE, KUBECONFIG, REPO_ROOT, ExamplesSetupError,
                                       build_examples_image, container_location, docker_unavailable, dockerhelpers,
                                       examples_run, kube_cluster, kube_setup_error, kube_unavailable,
                                       pull_if_not_present, stop_tmux_server, tmux_unavailable)
from leftovers import experiment_pids

RUN_PY = os.path.join(REPO_ROOT, "examples", "run.py")


class DashboardNotAnswering(Exception):
    pass


def visit_url_from_cli(backend, experiment, service="dashboard"):
    """The URL ``symphony visit <service> <experiment> -u -b <backend>`` prints."""
    from symphony.cli.main import main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["visit", service, experiment, "-u", "-b", backend])
    if code != 0:
        raise DashboardNotAnswering(f"symphony visit exited {code}: {err.getvalue().strip()}")
    return out.getvalue().strip()


def dashboard_visitor(backend, example):
    """``while_running`` for examples/run.py: the rl example's exposed dashboard answers at the
    URL `symphony visit dashboard -u` prints (the same as ``cluster.external_url``)."""
    def visit(cluster, experiment):
        if example != "rl":
            return
        deadline = time.monotonic() + 60
        while True:
            try:
                url = visit_url_from_cli(backend, experiment)
                assert url == cluster.external_url(experiment, "dashboard")
                with urllib.request.urlopen(url, timeout=2) as response:
                    assert response.status == 200
                    assert "version" in json.loads(response.read())
                    return
            except (OSError, ValueError, DashboardNotAnswering):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    return visit


def unique_name(example):
    """Engines are shared with other test sessions: experiment names must not collide."""
    return f"{example}-{uuid.uuid4().hex[:6]}"


# --- local and tmux -------------------------------------------------------------------
def host_backend(backend):
    from symphony import Cluster
    from symphony.config import SymphonyConfig
    if backend == "tmux":
        reason = tmux_unavailable()
        if reason:
            require_engine("tmux", reason)
        server_name = f"symph-examples-{os.getpid()}"
        SymphonyConfig().set_backend_kwargs("tmux", server_name=server_name)  # for `symphony visit -b tmux`
        return Cluster.new("tmux", server_name=server_name)
    return Cluster.new(backend, grace=2)


@contextlib.contextmanager
def same_named_experiment_elsewhere(example):
    """A process of another session's experiment called ``example`` (as `python examples/run.py
    example` names it), running on this host for the duration: it is not this test's business."""
    env = {**os.environ, "SYMPH_EXPERIMENT": example}
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], env=env)
    try:
        yield
    finally:
        other.kill()
        other.wait()


@pytest.mark.slow
@pytest.mark.parametrize("example", EXAMPLES)
@pytest.mark.parametrize("backend", ["local", pytest.param("tmux", marks=pytest.mark.tmux)])
def test_example_on_host_backends(backend, example):
    cluster = host_backend(backend)
    name = unique_name(example)
    try:
        with same_named_experiment_elsewhere(example):
            statuses, logs, elapsed = examples_run.run(example, cluster, timeout=120, name=name,
                                                       python=sys.executable,
                                                       while_running=dashboard_visitor(backend, example))
            assert all(s.exit_code == 0 for s in statuses)
            assert name not in cluster.list_experiments(), "deleted after the run"
            assert experiment_pids(name) == [], "no process of the experiment survives delete"
        print(f"\n{example} on {backend}: {elapsed:.1f}s")
    finally:
        if backend == "tmux":
            stop_tmux_server(cluster.server_name)


# --- Docker ---------------------------------------------------------------------------
@pytest.fixture(scope="session")
def examples_image(tmp_path_factory):
    """The examples image, built once per session with DockerBuilder; its tag is removed afterwards.

    The tag is unique to this session: other sessions on the same engine build and
    remove their own. Only an absent engine skips; an engine without the base image fails.
    """
    reason = docker_unavailable()
    if reason:
        require_engine("docker", reason)
    try:
        builder, image = build_examples_image("symphony-examples", f"test-{uuid.uuid4().hex[:8]}",
                                              temp_directory=tmp_path_factory.mktemp("examples-image"))
    except ExamplesSetupError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield image
    builder.client.images.remove(image)


@pytest.mark.slow
@pytest.mark.docker
@pytest.mark.parametrize("example", EXAMPLES)
def test_example_on_docker(example, examples_image):
    cluster = dockerhelpers.docker_cluster()
    name = unique_name(example)
    try:
        statuses, logs, elapsed = examples_run.run(example, cluster, timeout=180, name=name,
                                                   while_running=dashboard_visitor("docker", example),
                                                   **container_location(example, examples_image))
        assert all(s.exit_code == 0 and s.extra["image"] == examples_image for s in statuses)
        assert name not in cluster.list_experiments(), "deleted after the run"
        assert dockerhelpers.leftovers(cluster.client, name) == [], "no container, network or volume is left"
        print(f"\n{example} on docker: {elapsed:.1f}s")
    finally:
        if dockerhelpers.leftovers(cluster.client, name):
            cluster._remove(name)


# --- Kubernetes -----------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.kube
@pytest.mark.timeout(600)
@pytest.mark.skipif(kube_unavailable() is not None, reason=kube_unavailable() or "")
@pytest.mark.parametrize("example", EXAMPLES)
def test_example_on_kube(example):
    from symphony.config import SymphonyConfig
    if kube_setup_error():
        pytest.fail(kube_setup_error(), pytrace=False)
    SymphonyConfig().set_backend_kwargs("kube", kubeconfig=KUBECONFIG)  # for `symphony visit -b kube`
    cluster = kube_cluster()
    name = unique_name(example)
    try:
        statuses, logs, elapsed = examples_run.run(example, cluster, timeout=300, keep=True, name=name,
                                                   prepare=pull_if_not_present,
                                                   while_running=dashboard_visitor("kube", example),
                                                   **container_location(example, KUBE_IMAGE))
        assert all(s.state == "terminated" and s.exit_code == 0 for s in statuses)
        cluster.delete(name, wait=True)
        assert name not in cluster.list_experiments()
        assert cluster._read_namespace(name) is None, "the namespace, and everything in it, is gone"
        print(f"\n{example} on kube: {elapsed:.1f}s")
    finally:
        if name in cluster.list_experiments():
            cluster.delete(name, wait=True)


# --- what the runs check, and how the tools around them behave ----------------------
def namespace_logs(namespaces):
    """Logs in which each process reports the given network namespace, as the workers print it."""
    return {key: [f"{key} network namespace: net:[{number}] on kernel b00t", f"{key} done"]
            for key, number in namespaces.items()}


def test_group_members_must_report_one_network_namespace():
    """A backend that split a group over network namespaces fails the run, whatever the backend."""
    from symphony import Cluster
    exp = examples_run.load_example("mixed").build(Cluster.new("local"))
    examples_run.check_network_namespaces(exp, namespace_logs({"p0": 1, "pair/p1": 1, "pair/p2": 1}), isolated=False)
    with pytest.raises(AssertionError, match="process group 'pair' are in different network namespaces"):
        examples_run.check_network_namespaces(exp, namespace_logs({"p0": 1, "pair/p1": 1, "pair/p2": 2}),
                                              isolated=False)
    with pytest.raises(AssertionError, match="pair/p2 must report its network namespace once"):
        examples_run.check_network_namespaces(exp, {**namespace_logs({"p0": 1, "pair/p1": 1}), "pair/p2": ["p2 done"]},
                                              isolated=False)


def test_container_backends_must_isolate_standalone_processes_from_groups():
    from symphony import Cluster
    exp = examples_run.load_example("integration").build(Cluster.new("local"))
    separate = {"s0": 1, "g0/master": 2, "g0/worker-0": 2, "g0/worker-1": 2,
                **{f"g1/{key}": 3 for key in ("master", "worker-0", "worker-1", "worker-2", "worker-3")}}
    examples_run.check_network_namespaces(exp, namespace_logs(separate), isolated=True)
    with pytest.raises(AssertionError, match=r"must not share a network namespace here: \[\['s0', 'g1'\]\]"):
        examples_run.check_network_namespaces(exp, namespace_logs({**separate, "s0": 3}), isolated=True)
    with pytest.raises(AssertionError, match="must not share"):
        examples_run.check_network_namespaces(exp, namespace_logs(dict.fromkeys(separate, 1)), isolated=True)
    examples_run.check_network_namespaces(exp, namespace_logs(dict.fromkeys(separate, 1)), isolated=False)


def run_py(*args):
    return subprocess.run([sys.executable, RUN_PY, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args, expected", [
    (["hello", "--backend", "dockr"], "error: unknown backend 'dockr'"),
    (["hello", "--backend", "docker"], "error: the docker backend runs the examples from an image: pass --image"),
    (["mixed", "--backend", "kubernetes"], "error: the kube backend runs the examples from an image: pass --image"),
])
def test_run_py_refuses_user_mistakes_in_one_line(args, expected):
    result = run_py(*args)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith(expected) and result.stderr.count("\n") == 1, result.stderr


@pytest.mark.docker
def test_run_py_runs_from_the_image_layout_on_container_backends():
    """``--image`` alone means the examples image: the workers run from its /examples with its python3."""
    reason = docker_unavailable()
    if reason:
        require_engine("docker", reason)
    result = run_py("mixed", "--backend", "docker", "--image", "symphony-examples:v1", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("working_dir: /examples/hello") == 3, result.stdout
    assert "- python3" in result.stdout and sys.executable not in result.stdout


def test_the_kube_runs_fail_without_their_image_when_a_cluster_is_promised(monkeypatch, tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("{}")
    monkeypatch.setenv("SYMPHONY_TEST_KUBE", "1")
    monkeypatch.setattr(backends, "KUBECONFIG", str(kubeconfig))
    monkeypatch.setattr(backends, "KUBE_IMAGE", None)
    assert kube_unavailable() is None, "not a reason to skip"
    assert kube_setup_error().startswith("SYMPHONY_TEST_KUBE=1 but SYMPHONY_TEST_IMAGE is not set")
    monkeypatch.setattr(backends, "KUBECONFIG", str(tmp_path / "missing"))
    assert "does not exist: set KUBECONFIG" in kube_setup_error()
    monkeypatch.delenv("SYMPHONY_TEST_KUBE")
    assert kube_unavailable() is not None


@pytest.mark.docker
def test_an_engine_without_the_base_image_fails_instead_of_skipping(monkeypatch, tmp_path):
    reason = docker_unavailable()
    if reason:
        require_engine("docker", reason)
    monkeypatch.setattr(backends, "BASE_IMAGE", "symphony-no-such-base:latest")
    assert docker_unavailable() is None, "the engine answers: no reason to skip"
    with pytest.raises(ExamplesSetupError, match="lacks symphony-no-such-base:latest.*run .ci/docker-up"):
        build_examples_image("symphony-examples", "never-built", temp_directory=tmp_path / "context")


def test_building_the_image_by_hand_leaves_no_build_context(monkeypatch, capsys):
    contexts = []

    def build(repository, tag, temp_directory, verbose=False):
        os.makedirs(os.path.join(temp_directory, "examples"))
        contexts.append(temp_directory)
        return None, f"{repository}:{tag}"
    monkeypatch.setattr(backends, "build_examples_image", build)
    assert backends.main(["symphony-examples:v1"]) == 0
    assert capsys.readouterr().out == "symphony-examples:v1\n"
    assert len(contexts) == 1 and not os.path.exists(contexts[0])


def load_bench():
    path = os.path.join(REPO_ROOT, "bench", "examples_table.py")
    spec = importlib.util.spec_from_file_location("examples_table", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.tmux
def test_the_bench_table_is_not_interleaved_with_tmux_messages(capsys):
    reason = tmux_unavailable()
    if reason:
        require_engine("tmux", reason)
    from symphony import Cluster
    bench = load_bench()
    server = f"symph-examples-{os.getpid()}"
    backend = bench.Backend("tmux", Cluster.new("tmux", server_name=server), lambda example: {"python": sys.executable})
    try:
        assert isinstance(bench.run_once(backend, "hello", timeout=60), float)
    finally:
        stop_tmux_server(server)
    assert capsys.readouterr().out == ""


# --- examples/apex: distributed DQN that must learn -----------------------------------
#: the CI bar: mean return over 100 greedy episodes, and the minutes allowed to reach it
#: (the example's own default is CartPole's "solved", 475 within 10 minutes)
APEX_BAR, APEX_MINUTES = 150.0, 3.0


def apex_status_visitor(backend, kill=()):
    """``while_running``: as soon as the exposed status page answers at the URL
    `symphony visit status -u` prints (the run is under way, far from the bar), every process
    of ``kill`` is killed with SIGKILL at once, and each must be restarted by its restart
    policy (OnFailure). At once, because a good run can reach the CI bar within a minute: one
    kill after another, each waiting for the previous restart, could come after the end."""
    def visit(cluster, experiment):
        deadline = time.monotonic() + 120
        while True:
            try:
                url = visit_url_from_cli(backend, experiment, service="status")
                with urllib.request.urlopen(url.rstrip("/") + "/json", timeout=2) as response:
                    status = json.loads(response.read())
                break
            except (OSError, ValueError, DashboardNotAnswering):
                pass
            assert time.monotonic() < deadline, "the apex status page never answered"
            time.sleep(0.5)
        assert status["solved"] is None, f"solved before anything was killed: {status}"
        victims = [wait_for_status(cluster, experiment, key, lambda s: s.pid is not None) for key in kill]
        for victim in victims:
            os.kill(victim.pid, 9)
        for victim in victims:
            # restarted; once back it may already have ended with the run (the bar reached)
            wait_for_status(cluster, experiment, victim.key, lambda s: s.restarts > victim.restarts)
    return visit


def wait_for_status(cluster, experiment, key, condition, timeout=60.0):
    """The status of process ``key`` once ``condition(status)`` holds (fails after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        (status,) = [s for s in cluster.describe_experiment(experiment) if s.key == key]
        if condition(status):
            return status
        assert time.monotonic() < deadline, \
            f"{key}: still {status.state_text()}, {status.restarts} restart(s), after {timeout:.0f} s"
        time.sleep(0.2)


def event_log_scalars(logdir):
    """(tag, step, value) of every scalar in the TensorBoard event files under ``logdir``,
    read with TensorBoard's own record format (length, masked CRCs) and protobuf schema."""
    import struct
    from tensorboardX.proto import event_pb2
    found = []
    for name in sorted(os.listdir(logdir)):
        with open(os.path.join(logdir, name), "rb") as handle:
            data = handle.read()
        offset = 0
        while offset < len(data):
            (length,) = struct.unpack("<Q", data[offset:offset + 8])
            event = event_pb2.Event.FromString(data[offset + 12:offset + 12 + length])
            offset += 12 + length + 4
            found += [(value.tag, event.step, value.simple_value) for value in event.summary.value]
    return found


@pytest.mark.slow
@pytest.mark.timeout(420)
@pytest.mark.parametrize("backend", ["local", pytest.param("tmux", marks=pytest.mark.tmux)])
def test_apex_learns_on_host_backends(backend, tmp_path):
    """The flagship example reaches the CI bar; on local an agent and the replay server are
    killed mid-run and it still does."""
    cluster = host_backend(backend)
    name = unique_name("apex")
    kill = ["agents-0/agent-0", "nonagent/replay"] if backend == "local" else []
    try:
        statuses, logs, elapsed = examples_run.run(
            "apex", cluster, timeout=60 * APEX_MINUTES + 90, name=name, python=sys.executable,
            bar=APEX_BAR, minutes=APEX_MINUTES, logdir=str(tmp_path / "events"),
            while_running=apex_status_visitor(backend, kill))
        verdict = examples_run.load_example("apex").result(logs)
        restarts = {s.key: s.restarts for s in statuses}
        for key in kill:
            assert restarts[key] >= 1, f"{key} was killed, so it must have restarted: {restarts}"
        scores = [value for tag, _, value in event_log_scalars(tmp_path / "events")
                  if tag == "evaluation/mean_return"]
        assert scores and max(scores) >= APEX_BAR, scores[-5:]
        assert name not in cluster.list_experiments()
        print(f"\napex on {backend}: {verdict} in {elapsed:.0f} s, restarts {restarts}")
    finally:
        if backend == "tmux":
            stop_tmux_server(cluster.server_name)


@pytest.mark.slow
@pytest.mark.docker
@pytest.mark.timeout(420)
def test_apex_learns_on_docker(examples_image):
    cluster = dockerhelpers.docker_cluster()
    name = unique_name("apex")
    try:
        statuses, logs, elapsed = examples_run.run(
            "apex", cluster, timeout=60 * APEX_MINUTES + 90, name=name, bar=APEX_BAR, minutes=APEX_MINUTES,
            while_running=apex_status_visitor("docker"), **container_location("apex", examples_image))
        verdict = examples_run.load_example("apex").result(logs)
        assert dockerhelpers.leftovers(cluster.client, name) == []
        print(f"\napex on docker: {verdict} in {elapsed:.0f} s")
    finally:
        if dockerhelpers.leftovers(cluster.client, name):
            cluster._remove(name)


@pytest.mark.slow
@pytest.mark.kube
@pytest.mark.timeout(600)
@pytest.mark.skipif(kube_unavailable() is not None, reason=kube_unavailable() or "")
def test_apex_learns_on_kube():
    """The flagship on a live cluster, from the examples image (SYMPHONY_TEST_IMAGE)."""
    if kube_setup_error():
        pytest.fail(kube_setup_error(), pytrace=False)
    cluster = kube_cluster()
    name = unique_name("apex")
    try:
        statuses, logs, elapsed = examples_run.run(
            "apex", cluster, timeout=60 * APEX_MINUTES + 240, keep=True, name=name, prepare=pull_if_not_present,
            bar=APEX_BAR, minutes=APEX_MINUTES, **container_location("apex", KUBE_IMAGE))
        verdict = examples_run.load_example("apex").result(logs)
        assert verdict["solved"], verdict
        print(f"\napex on kube: {verdict} in {elapsed:.0f} s")
    finally:
        if name in cluster.list_experiments():
            cluster.delete(name, wait=True)
