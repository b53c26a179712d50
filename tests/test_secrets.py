"""Experiment secrets on every backend: each file at $SYMPH_SECRETS_DIR/<name>, contents never shown."""

import os
import shutil
import subprocess
import sys
import uuid

import pytest

from symphony import Cluster
from symphony.errors import SpecError

from engines import require_engine
from waiting import wait_for

pytestmark = pytest.mark.slow

READ = "import os; print(open(os.path.join(os.environ['SYMPH_SECRETS_DIR'], 'key.txt')).read(), flush=True)"


@pytest.fixture
def secret(tmp_path):
    path = tmp_path / "key.txt"
    path.write_text("s3cr3t-value")
    return str(path)


def run_reader(cluster, secret, name, **process):
    exp = cluster.new_experiment(name, secrets=[secret])
    exp.new_process("reader", command=process.pop("python", sys.executable), args=["-c", READ], **process)
    cluster.launch(exp)
    wait_for(lambda: all(s.state in ("exited", "killed") for s in cluster.describe_experiment(name)), timeout=60)
    (status,) = cluster.describe_experiment(name)
    return status, list(cluster.get_log(name, "reader"))


@pytest.mark.parametrize("backend", ["local", pytest.param("tmux", marks=pytest.mark.tmux)])
def test_host_backends_give_a_private_copy(backend, secret, capsys):
    if backend == "tmux" and not shutil.which("tmux"):
        require_engine("tmux", "tmux is not installed")
    kwargs = {"server_name": f"symph-secrets-{uuid.uuid4().hex[:6]}"} if backend == "tmux" else {}
    cluster = Cluster.new(backend, grace=1, **kwargs)
    try:
        plan = cluster.launch(cluster.new_experiment("dry", secrets=[secret]).new_process("p", "true").experiment,
                              dry_run=True)
        assert "s3cr3t-value" not in capsys.readouterr().out + str(plan.to_dict())
        status, log = run_reader(cluster, secret, "secrets")
        assert (status.exit_code, log) == (0, ["s3cr3t-value"])
        env, _ = cluster.process_environment("secrets", "reader")
        copy = os.path.join(env["SYMPH_SECRETS_DIR"], "key.txt")
        assert oct(os.stat(copy).st_mode & 0o777) == "0o600"
        cluster.delete("secrets")
        assert not os.path.exists(copy), "the copy goes with the experiment"
    finally:
        if backend == "tmux":
            subprocess.run(["tmux", "-L", kwargs["server_name"], "kill-server"], capture_output=True)
            socket = os.path.join(os.environ.get("TMUX_TMPDIR") or "/tmp", f"tmux-{os.getuid()}", kwargs["server_name"])
            if os.path.exists(socket):  # tmux leaves its socket file behind
                os.unlink(socket)


@pytest.mark.docker
def test_docker_mounts_them_read_only(secret):
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "docker"))
    from dockerhelpers import BASE_IMAGE, docker_cluster, engine, leftovers
    client, reason = engine()
    if client is None:
        require_engine("docker", reason)
    cluster = docker_cluster()
    name = f"secrets-{uuid.uuid4().hex[:6]}"
    try:
        status, log = run_reader(cluster, secret, name, python="python3", container_image=BASE_IMAGE)
        assert (status.exit_code, log) == (0, ["s3cr3t-value"])
        assert "s3cr3t-value" not in cluster.plan(cluster.new_experiment(name + "x", secrets=[secret]).new_process(
            "p", container_image=BASE_IMAGE, command="true").experiment).render()
    finally:
        if name in cluster.list_experiments():
            cluster.delete(name)
    assert leftovers(client, name) == []


def test_kubernetes_points_processes_at_the_mounted_secret(secret):
    cluster = Cluster.new("kube")
    exp = cluster.new_experiment("k", secrets=[secret])
    exp.new_process("p", container_image="img", command="true")
    (pod,) = [o for o in cluster.plan(exp).objects if o["kind"] == "Pod"]
    env = {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}
    assert env["SYMPH_SECRETS_DIR"] == "/etc/secrets"


@pytest.mark.parametrize("backend", ["local", "docker", "kube"])
def test_an_unreadable_secret_is_an_error_before_anything_starts(backend, tmp_path):
    cluster = Cluster.new(backend)
    exp = cluster.new_experiment("bad-secret", secrets=[str(tmp_path / "missing.txt")])
    exp.new_process("p", command="true", container_image="img")
    with pytest.raises(SpecError, match="missing.txt' cannot be read"):
        cluster.plan(exp)
