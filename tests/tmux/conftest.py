"""Real tmux servers on private sockets, one per test (or several), killed at the end."""

import os
import shutil
import subprocess
import uuid

import pytest

from symphony import Cluster


def _kill_server(name):
    subprocess.run(["tmux", "-L", name, "kill-server"], capture_output=True)
    socket = os.path.join(os.environ.get("TMUX_TMPDIR") or "/tmp", f"tmux-{os.getuid()}", name)
    if os.path.exists(socket):  # tmux leaves its socket file behind
        os.unlink(socket)


def _new_server_name():
    if shutil.which("tmux") is None:
        pytest.fail("tmux is not installed (apt-get install tmux); the tmux tests need a real tmux")
    return f"symph-test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def server_name():
    name = _new_server_name()
    yield name
    _kill_server(name)


@pytest.fixture
def server_names():
    """``server_names(n)``: n private server names, each killed at the end."""
    names = []

    def make(count):
        names.extend(_new_server_name() for _ in range(count))
        return names[-count:]
    yield make
    for name in names:
        _kill_server(name)


@pytest.fixture
def tmux_cluster(server_name):
    return Cluster.new("tmux", server_name=server_name, grace=1.0, restart_backoff=0.1)
