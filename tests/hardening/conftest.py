"""Fixtures of the hardening suite: the engines' own fixtures, reused, plus a pid scan.

The tmux and Docker fixtures are the ones tests/tmux and tests/docker use (a private
tmux server per test; a real Docker engine, fresh names, everything removed after the
test), loaded from their conftest files rather than copied.
"""

import importlib.util
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
for helper_dir in ("docker", "kube"):  # dockerhelpers, fake_apiserver
    sys.path.insert(0, os.path.join(HERE, os.pardir, helper_dir))


def _load_conftest(backend):
    path = os.path.join(HERE, os.pardir, backend, "conftest.py")
    spec = importlib.util.spec_from_file_location(f"hardening_{backend}_fixtures", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_tmux_fixtures = _load_conftest("tmux")
_docker_fixtures = _load_conftest("docker")
server_name = _tmux_fixtures.server_name
docker_client = _docker_fixtures.docker_client
new_name = _docker_fixtures.new_name


@pytest.fixture
def tmux_cluster(server_name):
    from symphony import Cluster
    return Cluster.new("tmux", server_name=server_name, grace=1.0, restart_backoff=0.2)


@pytest.fixture
def docker_cluster(docker_client):
    from dockerhelpers import docker_cluster as make
    return make()
