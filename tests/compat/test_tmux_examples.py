"""The original README's first example and the tmux guide's example, on real tmux; only the
environment the preamble activates is this machine's (``source activate venv`` -> this venv)."""

import os
import subprocess
import sys
import time
import uuid

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.tmux]

ACTIVATE = f"source {os.path.dirname(sys.executable)}/activate"


@pytest.fixture
def private_tmux(tmp_path, monkeypatch):
    """tmux sockets in a directory of this test, so the default server name is this test's alone."""
    directory = tmp_path / "t"
    directory.mkdir()
    monkeypatch.setenv("TMUX_TMPDIR", str(directory))
    names = []
    yield names
    for name in names:
        subprocess.run(["tmux", "-L", name, "kill-server"], capture_output=True)


def wait_for_log(cluster, experiment, process, text, timeout=30):
    deadline = time.monotonic() + timeout
    lines = []
    while time.monotonic() < deadline:
        lines = list(cluster.get_log(experiment, process))
        if any(text in line for line in lines):
            return lines
        time.sleep(0.2)
    pytest.fail(f"{process} never printed {text!r}: {lines}")


def test_readme_example(private_tmux, tmp_path, monkeypatch):
    private_tmux.append("__symphony__")
    (tmp_path / "learner.py").write_text(
        "import os\nprint('replay at', os.environ['SYMPH_REPLAY_SERVER_HOST'], os.environ['SYMPH_REPLAY_SERVER_PORT'],"
        " 'rendering', os.environ['DISABLE_MUJOCO_RENDERING'], flush=True)\n")
    monkeypatch.chdir(tmp_path)
    # --- the README, as written (the preamble's environment is this machine's) ---
    from symphony import Cluster

    cluster = Cluster.new('tmux', preamble_cmds=[ACTIVATE, 'export DISABLE_MUJOCO_RENDERING=1'])  # cluster is a TmuxCluster
    exp = cluster.new_experiment('rl')  # exp is a TmuxExperimentSpec
    learner = exp.new_process('learner', cmds=['python learner.py'])
    agent = exp.new_process('agent', cmds=['python learner.py'])  # agent, learner are a TmuxProcessSpec

    learner.binds('replay-server')
    learner.binds('parameter-server')
    agent.connects('replay-server')
    agent.connects('parameter-server')

    cluster.launch(exp)  # Runs agent.py and learner.py in two tmux sessions
    # --- what the README promises: every process gets the services' addresses ---
    try:
        for process in ("learner", "agent"):
            line = wait_for_log(cluster, "rl", process, "replay at")[-1]
            host, port, rendering = line.split()[2], int(line.split()[3]), line.split()[5]
            assert host == "127.0.0.1" and 1 <= port <= 65535 and rendering == "1"
    finally:
        cluster.delete("rl")


SERVER = ("import os, socket\ns = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
          "s.bind(('127.0.0.1', int(os.environ['SYMPH_EXAMPLE_PORT']))); s.listen()\n"
          "c, _ = s.accept(); print('server got', c.recv(10).decode(), flush=True)\n")
CLIENT = ("import os, socket, time\nfor _ in range(300):\n    try:\n"
          "        c = socket.create_connection((os.environ['SYMPH_EXAMPLE_HOST'], int(os.environ['SYMPH_EXAMPLE_PORT'])))\n"
          "        break\n    except OSError:\n        time.sleep(0.05)\n"
          "c.sendall(b'hello'); print('client sent', flush=True)\n")


def test_tmux_guide_example(private_tmux, tmp_path, monkeypatch, capsys):
    server_name = f"custom_server_{uuid.uuid4().hex[:6]}"
    private_tmux.append(server_name)
    (tmp_path / "run_simple_server.py").write_text(SERVER)
    (tmp_path / "run_simple_client.py").write_text(CLIENT)
    monkeypatch.chdir(tmp_path)
    # --- docs/tmux.md, as written (environment and server name are this machine's) ---
    from symphony.engine import Cluster

    # Create a Cluster with tmux as the backend
    cluster = Cluster.new('tmux', server_name=server_name)  # cluster is a TmuxCluster

    # Create an Experiment spec to run on this cluster.
    exp = cluster.new_experiment('hello-world')

    server = exp.new_process('server', cmds=[ACTIVATE, 'python run_simple_client.py'])
    client = exp.new_process('client', cmds=[ACTIVATE, 'python run_simple_server.py'])
    server.binds('example')
    client.connects('example')
    cluster.launch(exp)

    print('Server and client are running in a tmux session')
    print('Run "tmux ls" to see your processes')
    # --- the two talk to each other (the guide's server process runs the client script, as written) ---
    try:
        wait_for_log(cluster, "hello-world", "client", "server got hello")
        windows = subprocess.run(["tmux", "-L", server_name, "list-windows", "-a", "-F", "#{window_name}"],
                                 capture_output=True, text=True).stdout.split()
        assert {"server", "client"} <= set(windows)
    finally:
        cluster.delete("hello-world")
