"""Start order on Docker: a process that waits for services is held in its container by Symphony's
wait script (symphony/docker/tools.py), run by Symphony's own busybox, until each service answers
its provider's check from the waiting container; ``symphony p`` shows it waiting meanwhile, and
at the deadline 'fail' leaves it not started (failed, with the reason) and 'start' starts it.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from symphony.docker.tools import find_busybox
from waiting import wait_for

from dockerhelpers import BASE_IMAGE, docker_cluster, leftovers

pytestmark = [pytest.mark.docker, pytest.mark.slow,
              pytest.mark.skipif(find_busybox() is None, reason="no static busybox here: run .ci/docker-up")]

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

#: listens on 7000 after 5 s and greets each of CLIENTS connections once
SERVER = textwrap.dedent("""
    import socket, sys, time
    time.sleep(5)
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("0.0.0.0", 7000))
    server.listen(64)
    print("listening", flush=True)
    served = 0
    while served < int(sys.argv[1]):
        connection, _ = server.accept()
        data = connection.recv(64)
        if data:
            connection.sendall(b"welcome " + data)
            served += 1
        connection.close()
    print(f"served {served}", flush=True)
""")
#: connects exactly once, no retry
CLIENT = textwrap.dedent("""
    import os, socket, sys
    try:
        address = (os.environ["SYMPH_MODEL_HOST"], int(os.environ["SYMPH_MODEL_PORT"]))
        with socket.create_connection(address, 5) as s:
            s.sendall(sys.argv[1].encode())
            print("first attempt:", s.recv(64).decode(), flush=True)
    except OSError as exc:
        print("connection error:", exc, flush=True)
        sys.exit(1)
""")


def statuses(cluster, name):
    return {s.key: s for s in cluster.describe_experiment(name)}


def cli(*args):
    return subprocess.run([os.path.join(os.path.dirname(sys.executable), "symphony"), "-b", "docker", *args],
                          capture_output=True, text=True,
                          timeout=60, cwd=REPO, env={**os.environ, "COLUMNS": "200"})


def logs(cluster, name, key):
    return "\n".join(cluster.get_log(name, key))


def test_clients_wait_for_a_slow_server(new_name, docker_client):
    cluster = docker_cluster()
    name = new_name()
    exp = cluster.new_experiment(name)
    clients = 10
    server = exp.new_process("server", container_image=BASE_IMAGE, command="python3",
                             args=["-c", SERVER, str(clients)])
    server.binds({"model": 7000})
    for i in range(clients):
        client = exp.new_process(f"client-{i}", container_image=BASE_IMAGE, command="python3",
                                 args=["-c", CLIENT, str(i)])
        client.connects("model", wait=True)
    text = cluster.plan(exp).render()
    assert "waits:" in text and "model" in text and "checks:" in text
    cluster.launch(exp)
    done = wait_for(lambda: (lambda s: s if all(x.state in ("exited", "failed", "killed") for x in s.values())
                             else None)(statuses(cluster, name)), timeout=90)
    for i in range(clients):
        text = logs(cluster, name, f"client-{i}")
        assert "connection error" not in text, text
        assert f"first attempt: welcome {i}" in text, text
        assert "symphony: waiting for model (server:7000)" in text, text
        assert done[f"client-{i}"].exit_code == 0
    assert f"served {clients}" in logs(cluster, name, "server")
    cluster.delete(name)
    assert leftovers(docker_client, name) == []


def test_the_deadline_fails_or_starts(new_name, docker_client):
    cluster = docker_cluster()
    name = new_name()
    exp = cluster.new_experiment(name)
    never = exp.new_process("never", container_image=BASE_IMAGE, command="sleep", args=["600"])
    never.binds({"model": 7000})
    exp.new_process("gives-up", container_image=BASE_IMAGE, command="echo", args=["ran"]).connects(
        "model", wait=True, wait_timeout=2, on_timeout="fail")
    exp.new_process("goes-on", container_image=BASE_IMAGE, command="echo", args=["ran"]).connects(
        "model", wait=True, wait_timeout=2, on_timeout="start")
    exp.new_process("keeps-trying", container_image=BASE_IMAGE, command="echo", args=["ran"]).restart_policy(
        "OnFailure").connects("model", wait=True, wait_timeout=2, on_timeout="fail")
    exp.new_process("patient", container_image=BASE_IMAGE, command="echo", args=["ran"]).connects(
        "model", wait=True, wait_timeout=600)
    unhealthy = exp.new_process("unhealthy", container_image=BASE_IMAGE, command="python3",
                                args=["-m", "http.server", "7001"])
    from symphony.readiness import http
    unhealthy.binds({"health": 7001}, ready=http("/missing"))
    cluster.launch(exp)
    final = wait_for(lambda: (lambda s: s if s["gives-up"].state == "failed" and s["goes-on"].state == "exited"
                              and s["keeps-trying"].state == "failed" else None)(statuses(cluster, name)), timeout=30)
    for key in ("gives-up", "keeps-trying"):
        assert final[key].detail == "model (never:7000) not ready after 2s", final[key].detail
        assert "ran" not in logs(cluster, name, key)
    assert final["goes-on"].exit_code == 0 and "ran" in logs(cluster, name, "goes-on")
    # held while its service is not ready: `symphony p` (API, CLI and JSON) says so
    patient = statuses(cluster, name)["patient"]
    assert patient.state == "waiting" and patient.waiting_for == ["model"], patient
    assert patient.detail.startswith("model (not ready "), patient.detail
    shown = cli("p", name)
    assert shown.returncode == 0, shown.stderr
    assert "not ready after 2s" in shown.stdout, shown.stdout
    assert "model (not ready" in shown.stdout and "waiting" in shown.stdout.lower(), shown.stdout
    shown = cli("p", name, "-o", "json")
    assert shown.returncode == 0, shown.stderr
    rows = json.loads(shown.stdout)
    rows = rows if isinstance(rows, list) else rows.get("processes", rows)
    row = next(row for row in rows if row["name"] == "patient")
    assert row["state"] == "waiting", row
    assert "ran" not in logs(cluster, name, "patient")
    # a running process whose declared check fails is not ready; one with the default check is (not probed)
    sick = wait_for(lambda: (lambda s: s if s.state == "running" and s.checked else None)(
        statuses(cluster, name)["unhealthy"]), timeout=20)
    assert not sick.ready and sick.not_ready == ["health"]
    assert final["never"].ready and not final["never"].checked
    # given up for good: the engine's restart policy does not run the wait again
    assert docker_client.containers.get(f"{name}.keeps-trying").attrs["RestartCount"] == 0
    cluster.delete(name)
    assert leftovers(docker_client, name) == []


def test_a_shell_less_image_waits(new_name, docker_client, shell_less_image):
    cluster = docker_cluster()
    name = new_name()
    exp = cluster.new_experiment(name)
    server = exp.new_process("server", container_image=BASE_IMAGE, command="python3",
                             args=["-c", "import time, http.server as h; time.sleep(3); "
                                         "h.HTTPServer(('', 7000), h.SimpleHTTPRequestHandler).serve_forever()"])
    from symphony.readiness import http
    server.binds({"web": 7000}, ready=http("/"))
    exp.new_process("waiter", container_image=shell_less_image, command="/exit0").connects("web", wait=True)
    cluster.launch(exp)
    held = wait_for(lambda: (lambda s: s if s["waiter"].state == "waiting" else None)(statuses(cluster, name)),
                    timeout=20)
    assert held["waiter"].waiting_for == ["web"]
    done = wait_for(lambda: (lambda s: s if s["waiter"].state == "exited" else None)(statuses(cluster, name)),
                    timeout=30)
    assert done["waiter"].exit_code == 0
    # `symphony p` makes the server's declared check: it passes now
    assert done["server"].checked and done["server"].ready and done["server"].not_ready == []
    cluster.delete(name)
    assert leftovers(docker_client, name) == []


def test_waits_without_busybox_are_refused(new_name, monkeypatch, tmp_path):
    not_static = tmp_path / "busybox"
    not_static.write_text("#!/bin/sh\n")
    monkeypatch.setenv("SYMPHONY_BUSYBOX", str(not_static))
    cluster = docker_cluster()
    name = new_name()
    exp = cluster.new_experiment(name)
    exp.new_process("server", container_image=BASE_IMAGE, command="sleep", args=["60"]).binds({"model": 7000})
    exp.new_process("client", container_image=BASE_IMAGE, command="true").connects("model", wait=True)
    from symphony.errors import LaunchError
    with pytest.raises(LaunchError, match=r"^process 'client' waits for services.*busybox") as caught:
        cluster.launch(exp)
    assert "\n" not in str(caught.value)
    assert name not in cluster.list_experiments()
