"""What an experiment on Docker goes through when dockerd is killed (kill -9) and started again.

Without live-restore (Docker's default), dockerd stops every container that still runs when it
starts again, then starts the ones whose restart policy says so. Symphony must then tell the
truth and lose nothing silently: processes whose policy brings them back run again (group
members included: Docker starts them all at once, and a member started before its group's
holder fails), the others show how they ended, nothing runs twice, ``delete`` leaves nothing,
and while dockerd is down every verb says so in one line.

The engine killed here is a private one (tests/docker/private_engine.py): killing the shared
engine of .ci/docker-up would break whatever else uses it at that moment.
"""

import os
import subprocess
import sys
import threading

import docker
import pytest

from engines import require_engine
from symphony.docker.holder import holder_tarball
from symphony.docker.tools import BUSYBOX
from symphony.errors import BackendUnavailableError
from waiting import wait_for

from dockerhelpers import BASE_IMAGE, docker_cluster, leftovers
from private_engine import PrivateEngine, why_not_available


#: an image with one static program that waits for a signal (no shell, nothing to pull)
WAITER = "symphony-test-waiter:1"


@pytest.fixture
def private_engine(monkeypatch):
    reason = why_not_available()
    if reason:
        require_engine("docker", reason)
    shared_bridge = os.path.exists("/sys/class/net/docker0")  # the shared engine's default network
    engine = PrivateEngine()
    try:
        engine.start()
        client = engine.client()
        client.api.import_image_from_data(holder_tarball(client.version()["Arch"]), repository=WAITER.split(":")[0],
                                          tag=WAITER.split(":")[1])
        client.close()
        monkeypatch.setenv("DOCKER_HOST", engine.host)
        yield engine
    finally:
        engine.close()
    assert os.path.exists("/sys/class/net/docker0") == shared_bridge, "the private engine took docker0 with it"


def cli(engine, *argv):
    """``symphony -b docker ARGV`` against ``engine``: (exit code, stdout, stderr)."""
    env = {**os.environ, "DOCKER_HOST": engine.host}
    done = subprocess.run([sys.executable, "-m", "symphony.cli", "-b", "docker", *argv], env=env,
                          capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout, done.stderr


def statuses(cluster, name):
    return {s.key: s for s in cluster.describe_experiment(name)}


@pytest.mark.docker
@pytest.mark.slow
def test_an_experiment_lives_through_a_killed_dockerd_and_delete_leaves_nothing(private_engine):
    engine = private_engine
    cluster = docker_cluster()
    name = "fault"
    exp = cluster.new_experiment(name)
    exp.new_process("steady", container_image=WAITER, command="/pause").restart_policy("Always")
    exp.new_process("retry", container_image=WAITER, command="/pause").restart_policy("OnFailure")
    exp.new_process("once", container_image=WAITER, command="/pause")
    exp.new_process("done", container_image=WAITER, command="/absent")  # exits 127 before the kill
    pod = exp.new_process_group("pod")
    for member in ("first", "second"):
        pod.new_process(member, container_image=WAITER, command="/pause")
    pod.restart_policy("Always")
    quiet = exp.new_process_group("quiet")  # Never: its member stays down, its holder comes back
    quiet.new_process("member", container_image=WAITER, command="/pause")
    cluster.launch(exp)
    running = {"steady", "retry", "once", "pod/first", "pod/second", "quiet/member"}
    wait_for(lambda: {k for k, s in statuses(cluster, name).items() if s.state == "running"} == running
             and statuses(cluster, name)["done"].state == "exited", timeout=60)
    client = engine.client()
    before = {c.name: c.id for c in client.containers.list(all=True)}
    follow = cluster.get_log(name, "steady", follow=True)
    ended = []
    follower = threading.Thread(target=lambda: ended.append(_exhaust(follow)), daemon=True)
    follower.start()

    engine.kill()
    wait_for(lambda: ended, timeout=30)
    assert isinstance(ended[0], BackendUnavailableError), ended
    for verb in (["p", name], ["logs", "steady", name], ["ls"], ["delete", "-f", name]):
        code, out, err = cli(engine, *verb)
        assert (code, out) == (1, ""), (verb, err)
        assert err.count("\n") == 1 and err.startswith("symphony: error: cannot reach the Docker engine") and \
            err.rstrip().endswith("start dockerd or point DOCKER_HOST at a running engine"), (verb, err)
    with pytest.raises(BackendUnavailableError, match="cannot reach the Docker engine .*start dockerd"):
        cluster.describe_experiment(name)

    engine.start()
    wait_for(lambda: {k for k, s in statuses(cluster, name).items() if s.state == "running"}
             == {"steady", "retry", "pod/first", "pod/second"}, timeout=60)
    after = statuses(cluster, name)
    # stopped by the engine as it started again, with no policy to bring them back: shown as such
    for key in ("once", "quiet/member"):
        assert (after[key].state, after[key].signal) == ("killed", "SIGTERM"), after[key]
    assert (after["done"].state, after["done"].exit_code) == ("exited", 127)
    client = engine.client()
    containers = {c.name: c for c in client.containers.list(all=True)}
    assert {c: containers[c].id for c in containers} == before, "the same containers, none new"
    for holder in (f"{name}.pod", f"{name}.quiet"):  # groups keep their names (and ports)
        assert containers[holder].status == "running"
    # nothing runs twice: every running container holds one program (under Docker's init and, if it
    # may restart, Symphony's restart runner), not a second one beside a survivor of the killed engine
    for container in containers.values():
        if container.status == "running":
            programs = [p for p in container.top()["Processes"]
                        if "docker-init" not in " ".join(p) and not p[-1].startswith(BUSYBOX)]
            assert len(programs) == 1, (container.name, [p[-1] for p in container.top()["Processes"]])
    code, out, err = cli(engine, "p", name)
    assert code == 0 and "steady" in out and "killed (SIGTERM)" in out, err

    code, out, err = cli(engine, "delete", "-f", name)
    assert code == 0, err
    assert leftovers(client, name) == []
    client.close()


def _exhaust(lines):
    """Read a follow to its end: what ended it (None, or the exception)."""
    try:
        for _ in lines:
            pass
    except Exception as exc:  # the engine going away is what this records
        return exc
    return None


@pytest.mark.docker
@pytest.mark.slow
def test_a_group_member_docker_could_not_start_before_its_holder_runs_again(cluster, new_name, docker_client):
    """What a restarted dockerd may leave (it starts a group's containers all at once): a stopped
    holder, and a member whose start failed because the holder was not running yet."""
    name = new_name()
    exp = cluster.new_experiment(name)
    pod = exp.new_process_group("pod")
    pod.new_process("member", container_image=BASE_IMAGE, cmds=["sleep 600"])
    pod.restart_policy("Always")
    cluster.launch(exp)
    holder, member = (docker_client.containers.get(f"{name}.pod{suffix}") for suffix in ("", ".member"))
    member.stop(timeout=1)
    holder.stop(timeout=1)
    with pytest.raises(docker.errors.APIError, match="cannot join network of a non running container"):
        member.start()
    member.reload()
    assert member.attrs["State"]["Error"].startswith("cannot join network of a non running container")

    status = statuses(cluster, name)["pod/member"]
    assert status.state == "running", status
    holder.reload()
    member.reload()
    assert holder.status == "running" and member.attrs["HostConfig"]["NetworkMode"] == f"container:{holder.id}"
    # the member is in the holder's namespace again: the group's address is its own
    address = holder.attrs["NetworkSettings"]["Networks"][f"symphony-{name}"]["IPAddress"]
    bind = member.exec_run(["python3", "-c", f"import socket; socket.socket().bind(({address!r}, 0)); print('local')"])
    assert bind.output.decode().strip() == "local"


@pytest.mark.parametrize("broken", ["refused", "dropped mid-answer"])
def test_an_engine_that_goes_away_after_the_first_contact_is_one_line(broken):
    import requests

    from symphony.engines.docker_api import _engine_gone_is_one_line
    error = {"refused": requests.exceptions.ConnectionError("Connection refused"),
             "dropped mid-answer": requests.exceptions.ChunkedEncodingError("Connection broken: IncompleteRead")}[broken]

    def send(*args, **kwargs):
        raise error
    with pytest.raises(BackendUnavailableError, match=r"^cannot reach the Docker engine \(.*\): start dockerd or "
                                                      r"point DOCKER_HOST at a running engine$"):
        _engine_gone_is_one_line(send)()
