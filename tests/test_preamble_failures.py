"""A failing preamble line fails the process, with the line in its log, on every backend.

The same declaration runs on local and tmux (bash) and in a Docker container (/bin/sh,
where ``source`` does not even exist): a program must never run on in an environment its
preamble failed to set up.
"""

import os
import shutil
import subprocess
import sys
import uuid

import pytest

from symphony import Cluster

from engines import require_engine
from waiting import wait_for

pytestmark = pytest.mark.slow

MARKER = "the program ran"


def declare(cluster, name, python, **image):
    exp = cluster.new_experiment(name)
    exp.new_process("shell-lines", ["echo " + MARKER.replace(" ", "-")],
                    preamble_cmds=["export READY=1", "source /no/such/venv/bin/activate"], **image)
    exp.new_process("exec-form", command=python, args=["-c", f"print({MARKER!r})"],
                    preamble_cmds=["false"], **image)
    exp.new_process("fine", command=python, args=["-c", "print('fine')"],
                    preamble_cmds=["if true; then", "export A=1", "fi", 'test "$A" = 1'], **image)
    return exp


def run(cluster, exp):
    cluster.launch(exp)
    wait_for(lambda: all(s.state in ("exited", "killed") for s in cluster.describe_experiment(exp.name)), timeout=90)
    states = {s.key: s for s in cluster.describe_experiment(exp.name)}
    logs = {key: "\n".join(cluster.get_log(exp.name, key)) for key in states}
    return states, logs


def check(states, logs):
    assert states["shell-lines"].exit_code not in (0, None), logs["shell-lines"]
    assert "symphony: preamble line failed (exit" in logs["shell-lines"]
    assert "source /no/such/venv/bin/activate" in logs["shell-lines"]
    assert MARKER.replace(" ", "-") not in logs["shell-lines"]
    assert states["exec-form"].exit_code == 1
    assert "symphony: preamble line failed (exit 1): false" in logs["exec-form"]
    assert MARKER not in logs["exec-form"]
    assert (states["fine"].exit_code, logs["fine"]) == (0, "fine")  # constructs across lines still work


@pytest.mark.parametrize("backend", ["local", pytest.param("tmux", marks=pytest.mark.tmux)])
def test_on_host_backends(backend):
    if backend == "tmux" and not shutil.which("tmux"):
        require_engine("tmux", "tmux is not installed")
    server = f"symph-pre-{uuid.uuid4().hex[:6]}"
    cluster = Cluster.new(backend, grace=1, **({"server_name": server} if backend == "tmux" else {}))
    name = f"pre-{backend}"
    try:
        check(*run(cluster, declare(cluster, name, sys.executable)))
    finally:
        if name in cluster.list_experiments():
            cluster.delete(name)
        if backend == "tmux":
            subprocess.run(["tmux", "-L", server, "kill-server"], capture_output=True)
            socket = os.path.join(os.environ.get("TMUX_TMPDIR") or "/tmp", f"tmux-{os.getuid()}", server)
            if os.path.exists(socket):
                os.unlink(socket)


@pytest.mark.docker
def test_in_docker_containers():
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "docker"))
    from dockerhelpers import BASE_IMAGE, docker_cluster, engine, leftovers
    client, reason = engine()
    if client is None:
        require_engine("docker", reason)
    cluster = docker_cluster()
    name = f"pre-{uuid.uuid4().hex[:6]}"
    try:
        check(*run(cluster, declare(cluster, name, "python3", container_image=BASE_IMAGE)))
    finally:
        if name in cluster.list_experiments():
            cluster.delete(name)
    assert leftovers(client, name) == []
