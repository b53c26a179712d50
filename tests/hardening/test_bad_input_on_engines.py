"""The bad-input catalogue's launch-time mistakes on the tmux and Docker backends: one clear
error, and nothing started on the engine (no tmux session or server, no container, network or
volume, no process in the pid scan, no state row)."""

import os
import re
import socket
import subprocess

import pytest

from symphony.errors import SymphonyError

from hardeninghelpers import BASE_IMAGE, experiment_pids, state_rows

pytestmark = pytest.mark.slow


def one_process(exp, **options):
    return exp.new_process("p", command="sleep", args=["600"], **options)


HOST_CASES = {
    "connect to an unbound service": (lambda e, o: one_process(e, **o).connects("replay"), "binds('replay')"),
    "nothing to run": (lambda e, o: (one_process(e, **o), e.new_process("empty")), "nothing to run"),
    "empty group": (lambda e, o: (one_process(e, **o), e.new_process_group("g")), "add one"),
    "misspelt program": (lambda e, o: e.new_process("x", command="pyhton3", **o), "fix command="),
    "missing cwd": (lambda e, o: e.new_process("x", "true", cwd="/no/such/dir"), "does not exist"),
    "fixed port in use": (lambda e, o: one_process(e, **o).binds({"web": e.held_port}), "already in use"),
}
DOCKER_CASES = {
    "connect to an unbound service": HOST_CASES["connect to an unbound service"],
    "empty group": HOST_CASES["empty group"],
    "no image": (lambda e, o: e.new_process("x", command="true"), "container_image="),
    "kubernetes secret mount": (lambda e, o: one_process(e, **o).mount_secret("creds", "/creds"), "mount_host_path"),
    "image missing, pull policy Never": (lambda e, o: one_process(e, container_image="no-such-image:1")
                                         .image_pull_policy("Never"), "pull policy is Never"),
    "image that cannot be pulled": (lambda e, o: one_process(e, container_image="127.0.0.1:9/no/such:1"),
                                    "cannot pull image"),
}


def tmux_server_exists(server_name):
    return subprocess.run(["tmux", "-L", server_name, "list-sessions"], capture_output=True).returncode == 0


@pytest.mark.tmux
def test_launch_time_mistakes_start_nothing_on_tmux(tmux_cluster, server_name, symphony_home):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        for case, (declare, fix) in HOST_CASES.items():
            exp = tmux_cluster.new_experiment("bad")
            exp.held_port = holder.getsockname()[1]
            declare(exp, {})
            with pytest.raises(SymphonyError, match=re.escape(fix)) as error:
                tmux_cluster.launch(exp)
            assert "\n" not in str(error.value), case
            assert not tmux_server_exists(server_name), f"{case}: tmux was started"
            assert state_rows(symphony_home, "bad") == [] and experiment_pids("bad") == [], case
            assert not os.path.exists(tmux_cluster._log_dir("bad")), case


@pytest.mark.docker
def test_launch_time_mistakes_start_nothing_on_docker(docker_cluster, docker_client, new_name):
    from dockerhelpers import leftovers
    for case, (declare, fix) in DOCKER_CASES.items():
        name = new_name()
        exp = docker_cluster.new_experiment(name)
        declare(exp, {"container_image": BASE_IMAGE})
        with pytest.raises(SymphonyError, match=re.escape(fix)) as error:
            docker_cluster.launch(exp)
        assert "\n" not in str(error.value).strip(), case
        assert leftovers(docker_client, name) == [] and experiment_pids(name) == [], case
