"""Restarts on Docker happen inside the container, by Symphony's restart runner (symphony/docker/tools.py).

The engine does not restart these containers: the container keeps running (one Docker start,
one continuous log) while its process runs again with the host backends' backoff, also in an
image with no shell at all; ``describe_experiment`` shows the runner's restarts and whether it
waits to restart, with the last exit code; SIGTERM and SIGINT reach the program and end the
runner without a restart; delete leaves nothing, the experiment's state volume included.
"""

import io
import json

import pytest

from symphony.docker.tools import STATE_DIR, TOOLS_DIR, find_busybox, read_local_records, read_records, state_volume
from waiting import wait_for

from dockerhelpers import BASE_IMAGE, docker_cluster, leftovers

pytestmark = [pytest.mark.docker, pytest.mark.slow,
              pytest.mark.skipif(find_busybox() is None, reason="no static busybox here: run .ci/docker-up")]

def statuses(cluster, name):
    return {s.key: s for s in cluster.describe_experiment(name)}


def test_a_shell_less_process_restarts_inside_its_running_container(new_name, docker_client, shell_less_image):
    cluster = docker_cluster(restart_backoff=0.1)
    name = new_name()
    exp = cluster.new_experiment(name)
    exp.new_process("flaky", container_image=shell_less_image, command="/exit3").restart_policy("OnFailure")
    exp.new_process("once", container_image=shell_less_image, command="/exit3")
    cluster.launch(exp)
    container = docker_client.containers.get(f"{name}.flaky")
    first_start = container.attrs["State"]["StartedAt"]
    seen = wait_for(lambda: (lambda s: s if s.restarts >= 3 else None)(statuses(cluster, name)["flaky"]),
                    timeout=60)
    assert seen.state in ("running", "restarting") and seen.exit_code in (None, 3)
    container.reload()
    # one container run all along: the engine restarted nothing
    assert container.status == "running" and container.attrs["State"]["StartedAt"] == first_start
    assert container.attrs["RestartCount"] == 0
    # the Docker restart policy stays set: it brings the container back after a restart of the engine
    assert container.attrs["HostConfig"]["RestartPolicy"]["Name"] == "on-failure"
    mounts = {m["Destination"]: m for m in container.attrs["Mounts"]}
    assert mounts[TOOLS_DIR]["RW"] is False and mounts[STATE_DIR]["Name"] == state_volume(name)
    # the records read through the engine are the ones read from the volume's folder (when this user may)
    through_engine = read_records(docker_client, container.id)
    assert through_engine[container.name].restarts >= 3 and through_engine[container.name].exit_code == 3
    local = read_local_records(mounts[STATE_DIR]["Source"])
    assert local is None or set(local) == set(through_engine) == {container.name}
    # Never: no runner, the program is the container's, as before
    once = docker_client.containers.get(f"{name}.once")
    assert once.attrs["Config"]["Entrypoint"] == ["/exit3"] and not once.attrs["Mounts"]
    assert (statuses(cluster, name)["once"].state, statuses(cluster, name)["once"].exit_code) == ("exited", 3)


def test_waiting_for_a_restart_shows_restarting_with_the_last_exit_code_and_delete_ends_the_wait(
        new_name, docker_client):
    cluster = docker_cluster(restart_backoff=30)
    name = new_name()
    exp = cluster.new_experiment(name)
    exp.new_process("flaky", container_image=BASE_IMAGE, command="python3",
                    args=["-c", "print('run', flush=True); raise SystemExit(4)"]).restart_policy("Always")
    cluster.launch(exp)
    waiting = wait_for(lambda: (lambda s: s if s.state == "restarting" else None)(statuses(cluster, name)["flaky"]),
                       timeout=60)
    assert (waiting.exit_code, waiting.signal, waiting.restarts) == (4, None, 0)
    assert docker_client.containers.get(f"{name}.flaky").status == "running"  # the runner waits inside
    assert list(cluster.get_log(name, "flaky")) == ["run"]
    cluster.delete(name)  # stops the runner in its wait (stop_timeout is 1 s, the wait 30 s)
    assert leftovers(docker_client, name) == []
    assert not docker_client.volumes.list(filters={"name": state_volume(name)})


def test_sigterm_and_sigint_reach_the_program_and_end_it_without_a_restart(new_name, docker_client):
    cluster = docker_cluster(restart_backoff=0.1)
    name = new_name()
    exp = cluster.new_experiment(name)
    handles = ("import signal, sys, time\n"
               "signal.signal(signal.SIGTERM, lambda *a: (print('got SIGTERM', flush=True), sys.exit(0)))\n"
               "print('up', flush=True)\ntime.sleep(600)\n")
    exp.new_process("term", container_image=BASE_IMAGE, command="python3", args=["-c", handles]).restart_policy("Always")
    # Python's default for SIGINT (KeyboardInterrupt): only if SIGINT is not ignored when it starts
    default = "import time\nprint('up', flush=True)\ntime.sleep(600)\n"
    exp.new_process("int", container_image=BASE_IMAGE, command="python3", args=["-c", default]).restart_policy("Always")
    cluster.launch(exp)
    wait_for(lambda: all(list(cluster.get_log(name, p)) == ["up"] for p in ("term", "int")), timeout=60)
    docker_client.containers.get(f"{name}.term").kill(signal="SIGTERM")
    docker_client.containers.get(f"{name}.int").kill(signal="SIGINT")
    ended = wait_for(lambda: (lambda s: s if s["term"].state == "exited" and s["int"].state == "killed" else None)(
        statuses(cluster, name)), timeout=60)
    assert (ended["term"].exit_code, ended["term"].restarts) == (0, 0)
    assert (ended["int"].signal, ended["int"].restarts) == ("SIGINT", 0)
    assert list(cluster.get_log(name, "term")) == ["up", "got SIGTERM"]
    assert "KeyboardInterrupt" in list(cluster.get_log(name, "int"))


def test_an_image_entrypoint_runs_under_the_runner_with_the_args(new_name, docker_client, image_tags):
    tag = "symphony-test-entrypoint:1"
    image_tags.append(tag)
    dockerfile = f'FROM {BASE_IMAGE}\nENTRYPOINT ["python3", "-c"]\nCMD ["print(1)"]\n'
    docker_client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True)
    cluster = docker_cluster(restart_backoff=0.1)
    name = new_name()
    exp = cluster.new_experiment(name)
    exp.new_process("args", container_image=tag,
                    args=["import os; print('run', flush=True); raise SystemExit(2)"]).restart_policy("OnFailure")
    exp.new_process("default", container_image=tag).restart_policy("OnFailure")  # the image's CMD: succeeds
    cluster.launch(exp)
    wait_for(lambda: list(cluster.get_log(name, "args"))[:3] == ["run"] * 3, timeout=60)
    done = wait_for(lambda: (lambda s: s if s.state == "exited" else None)(statuses(cluster, name)["default"]),
                    timeout=60)
    assert (done.exit_code, done.restarts) == (0, 0) and list(cluster.get_log(name, "default")) == ["1"]
    config = docker_client.containers.get(f"{name}.args").attrs["Config"]
    assert config["Cmd"][:2] == ["python3", "-c"]  # what the runner runs: the image's ENTRYPOINT, then the args
    assert json.dumps(config["Entrypoint"]).count(TOOLS_DIR) >= 2
