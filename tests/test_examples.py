"""Conformance: every example, on every backend this machine has, gives the same result.

The examples' declarations have no backend branches: only where the code lives
(image, directory in it, interpreter) differs. A backend whose engine is present
must pass; only an absent engine skips.

* local and tmux run the examples from this checkout with this interpreter;
* Docker (a reachable engine with ``symphony-test-base:latest``, as ``.ci/docker-up``
  makes) runs them from an image built once per session with
  :class:`symphony.addons.DockerBuilder` (``tests/examples_support``), on internal
  networks;
* Kubernetes runs them with ``SYMPHONY_TEST_KUBE=1``, a kubeconfig (``$KUBECONFIG`` or
  ``~/.kube/config``) and ``SYMPHONY_TEST_IMAGE``: an image the cluster can pull (or
  already holds: pull policy IfNotPresent, so an image loaded into kind/minikube works)
  with the examples at ``/examples``, caraml importable and python3 with pyzmq. Build it
  with ``.venv/bin/python tests/examples_support/backends.py <repo>:<tag> --push``. The
  rl dashboard is reached through ``symphony visit``'s URL: a LoadBalancer's address, or
  a ``kubectl port-forward`` (kubectl on PATH).

Each run checks the example's result from the processes' logs and exit codes, that
``symphony visit dashboard <experiment> -u`` prints a URL that answers while rl runs,
and that after delete nothing of the experiment is left.
"""

import contextlib
import io
import json
import os
import sys
import time
import urllib.request
import uuid

import pytest

from examples_support.backends import (EXAMPLES, KUBE_IMAGE, KUBECONFIG, build_examples_image, container_location,
                                       docker_unavailable, dockerhelpers, examples_run, kube_cluster, kube_unavailable,
                                       pull_if_not_present, stop_tmux_server, tmux_unavailable)

pytestmark = pytest.mark.slow


class DashboardNotAnswering(Exception):
    pass


def visit_url_from_cli(backend, experiment):
    """The URL ``symphony visit dashboard <experiment> -u -b <backend>`` prints."""
    from symphony.cli.main import main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["visit", "dashboard", experiment, "-u", "-b", backend])
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
def leftover_processes(experiment):
    """Pids on this host whose environment says they belong to ``experiment``."""
    marker = f"SYMPH_EXPERIMENT={experiment}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                with open(f"/proc/{entry}/environ", "rb") as handle:
                    if marker in handle.read().split(b"\0"):
                        found.append(int(entry))
            except OSError:
                pass
    return found


def host_backend(backend):
    from symphony import Cluster
    from symphony.config import SymphonyConfig
    if backend == "tmux":
        reason = tmux_unavailable()
        if reason:
            pytest.skip(reason)
        server_name = f"symph-examples-{os.getpid()}"
        SymphonyConfig().set_backend_kwargs("tmux", server_name=server_name)  # for `symphony visit -b tmux`
        return Cluster.new("tmux", server_name=server_name)
    return Cluster.new(backend, grace=2)


@pytest.mark.parametrize("example", EXAMPLES)
@pytest.mark.parametrize("backend", ["local", pytest.param("tmux", marks=pytest.mark.tmux)])
def test_example_on_host_backends(backend, example):
    cluster = host_backend(backend)
    try:
        statuses, logs, elapsed = examples_run.run(example, cluster, timeout=120, python=sys.executable,
                                                   while_running=dashboard_visitor(backend, example))
        assert all(s.exit_code == 0 for s in statuses)
        assert example not in cluster.list_experiments(), "deleted after the run"
        assert leftover_processes(example) == [], "no process of the experiment survives delete"
        print(f"\n{example} on {backend}: {elapsed:.1f}s")
    finally:
        if backend == "tmux":
            stop_tmux_server(cluster.server_name)


# --- Docker ---------------------------------------------------------------------------
@pytest.fixture(scope="session")
def examples_image(tmp_path_factory):
    """The examples image, built once per session with DockerBuilder; its tag is removed afterwards.

    The tag is unique to this session: other sessions on the same engine build and
    remove their own.
    """
    reason = docker_unavailable()
    if reason:
        pytest.skip(reason)
    builder, image = build_examples_image("symphony-examples", f"test-{uuid.uuid4().hex[:8]}",
                                          temp_directory=tmp_path_factory.mktemp("examples-image"))
    yield image
    builder.client.images.remove(image)


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
@pytest.mark.kube
@pytest.mark.timeout(600)
@pytest.mark.skipif(kube_unavailable() is not None, reason=kube_unavailable() or "")
@pytest.mark.parametrize("example", EXAMPLES)
def test_example_on_kube(example):
    from symphony.config import SymphonyConfig
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
