"""Private tmux servers for the readiness tests on the tmux backend, killed at the end."""

import os
import shutil
import subprocess
import uuid

import pytest


def new_server_name():
    if shutil.which("tmux") is None:
        pytest.fail("tmux is not installed (apt-get install tmux); the tmux tests need a real tmux")
    return f"symph-test-{uuid.uuid4().hex[:10]}"


def kill_server(name):
    subprocess.run(["tmux", "-L", name, "kill-server"], capture_output=True)
    socket = os.path.join(os.environ.get("TMUX_TMPDIR") or "/tmp", f"tmux-{os.getuid()}", name)
    if os.path.exists(socket):  # tmux leaves its socket file behind
        os.unlink(socket)
