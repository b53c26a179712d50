"""Readiness on Kubernetes: checks as readinessProbes, waits as a wait in the process's image, and
what ``symphony p`` shows of them; every manifest schema-validated, ``p`` through the fake API server."""

import os
import socket
import subprocess
import threading
import time

import pytest
import yaml

from symphony import Cluster
from symphony.errors import SpecError
from symphony.kube.readiness import WAIT_SCRIPT
from symphony.readiness import command, http, tcp

from test_kube_apply import _container_status, _now

IMAGE = "python:3.11-slim"


def pods_of(plan):
    return {obj["metadata"]["name"]: obj for obj in plan.of_kind("Pod")}


def services_of(plan):
    return {obj["metadata"]["name"]: obj for obj in plan.of_kind("Service")}


def server_and_clients(kube, clients=2, **wait):
    exp = kube.new_experiment("rd")
    server = exp.new_process("server", container_image=IMAGE, command="python", args=["server.py"])
    server.binds("replay", ready=http("/healthz", interval=0.5, timeout="2s", failure_threshold=4))
    server.binds("params")
    for i in range(clients):
        exp.new_process(f"client-{i}", container_image=IMAGE, command="python",
                        args=["client.py"]).connects("replay", wait=True, **wait)
    return exp


def test_each_check_is_the_binding_containers_readiness_probe(kube, validate_all):
    exp = kube.new_experiment("rd")
    web = exp.new_process("web", container_image=IMAGE, command="python", args=["web.py"])
    web.binds("site", ready=http("/healthz", interval=2, timeout="3s", failure_threshold=5))
    port = exp.new_process("port", container_image=IMAGE, command="python", args=["p.py"])
    port.binds("raw", ready=tcp())
    plain = exp.new_process("plain", container_image=IMAGE, command="python", args=["q.py"])
    plain.binds("default")
    model = exp.new_process("model", container_image=IMAGE, command="python", args=["m.py"])
    model.binds("model", ready=command(["python", "check.py"], interval=5, timeout=4, failure_threshold=2))
    exp.new_process("user", container_image=IMAGE, command="python", args=["u.py"]).connects(["site", "raw"])
    plan = kube.plan(exp)
    validate_all(plan.objects)
    pods = pods_of(plan)
    assert pods["web"]["spec"]["containers"][0]["readinessProbe"] == {
        "httpGet": {"path": "/healthz", "port": plan.ports["site"]},
        "periodSeconds": 2, "timeoutSeconds": 3, "successThreshold": 1, "failureThreshold": 5}
    assert pods["port"]["spec"]["containers"][0]["readinessProbe"] == {
        "tcpSocket": {"port": plan.ports["raw"]},
        "periodSeconds": 1, "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3}
    # the default check gets no probe: the kubelet's connections would reach servers that take only one
    assert "readinessProbe" not in pods["plain"]["spec"]["containers"][0]
    assert "symphony/checks" not in pods["plain"]["metadata"]["annotations"]
    assert pods["model"]["spec"]["containers"][0]["readinessProbe"]["exec"] == {"command": ["python", "check.py"]}
    assert "readinessProbe" not in pods["user"]["spec"]["containers"][0]
    assert "initContainers" not in pods["user"]["spec"]  # nobody waits


def test_a_declared_check_makes_its_service_route_only_to_ready_pods(kube, validate_all):
    plan = kube.plan(server_and_clients(kube))
    validate_all(plan.objects)
    services = services_of(plan)
    assert "publishNotReadyAddresses" not in services["replay"]["spec"]  # Kubernetes' default: ready pods only
    # the default TCP check: refused until the port listens either way, and a finished group member cuts nothing
    assert services["params"]["spec"]["publishNotReadyAddresses"] is True


def test_several_services_of_one_container_are_probed_by_its_first_declared_check(kube):
    exp = kube.new_experiment("rd")
    server = exp.new_process("server", container_image=IMAGE, command="python", args=["s.py"])
    server.binds("first")
    server.binds("second", ready=http("/ok"))
    server.binds("third", ready=tcp())
    plan = kube.plan(exp)
    pod = pods_of(plan)["server"]
    assert pod["spec"]["containers"][0]["readinessProbe"]["httpGet"] == {"path": "/ok", "port": plan.ports["second"]}
    assert yaml.safe_load(pod["metadata"]["annotations"]["symphony/checks"]) == {"server": ["first", "second", "third"]}


def test_sub_second_probe_times_are_rounded_up_and_said_so(kube):
    plan = kube.plan(server_and_clients(kube))
    probe = pods_of(plan)["server"]["spec"]["containers"][0]["readinessProbe"]
    assert probe["periodSeconds"] == 1 and probe["timeoutSeconds"] == 2
    assert "# readiness check of 'replay' (server): interval 0.5s runs as 1s" in plan.render()


def test_a_waiting_process_is_held_by_an_init_container_of_its_own_image(kube, validate_all):
    plan = kube.plan(server_and_clients(kube, wait_timeout="90s", on_timeout="start"))
    validate_all(plan.objects)
    pod = pods_of(plan)["client-0"]
    (init,) = pod["spec"]["initContainers"]
    assert init["name"] == "symphony-wait" and init["image"] == IMAGE
    assert init["command"][:4] == ["/bin/sh", "-c", WAIT_SCRIPT, "symphony-wait"]
    assert init["command"][4:] == ["replay", "replay", str(plan.ports["replay"]), "90", "start"]
    assert init["terminationMessagePolicy"] == "FallbackToLogsOnError"
    assert pod["spec"]["containers"][0]["command"] == ["python"]  # the process itself is untouched
    assert yaml.safe_load(pod["metadata"]["annotations"]["symphony/waits"]) == {"client-0": ["replay"]}
    assert "initContainers" not in pods_of(plan)["server"]["spec"]
    text = plan.render()
    assert "initContainers:" in text and "readinessProbe:" in text and "symphony-wait" in text


def test_a_group_member_waits_in_its_own_container_and_for_its_group_on_localhost(kube, validate_all):
    exp = kube.new_experiment("rd")
    exp.new_process("outside", container_image=IMAGE, command="python", args=["o.py"]).binds("far")
    group = exp.new_process_group("grp")
    group.new_process("provider", container_image=IMAGE, command="python", args=["p.py"]).binds("near")
    waiter = group.new_process("waiter", container_image=IMAGE, command="python", args=["-c", "print('$HOME')"])
    waiter.connects(["near", "far"], wait=True)
    plan = kube.plan(exp)
    validate_all(plan.objects)
    pod = pods_of(plan)["grp"]
    assert "initContainers" not in pod["spec"]  # it would hold the provider of 'near' too
    waiting = next(c for c in pod["spec"]["containers"] if c["name"] == "waiter")
    assert "args" not in waiting
    assert waiting["command"][:4] == ["/bin/sh", "-c", WAIT_SCRIPT, "symphony-wait"]
    assert waiting["command"][4:] == ["--started-file", "/.symphony-held/waiter",
                                      "near", "127.0.0.1", str(plan.ports["near"]), "300", "fail",
                                      "far", "far", str(plan.ports["far"]), "300", "fail",
                                      "--", "python", "-c", "print('$$HOME')"]
    # started: false (symphony p: waiting) until the wait wrote "started"; a hung wait is restarted at last
    assert waiting["startupProbe"] == {
        "exec": {"command": ["/bin/sh", "-c", 'read state < "$0" && [ "$state" = started ]', "/.symphony-held/waiter"]},
        "periodSeconds": 1, "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 360}
    assert {"name": "symphony-held", "mountPath": "/.symphony-held", "readOnly": False} in waiting["volumeMounts"]
    assert {"name": "symphony-held", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}} in pod["spec"]["volumes"]
    provider = next(c for c in pod["spec"]["containers"] if c["name"] == "provider")
    assert "startupProbe" not in provider and "volumeMounts" not in provider
    assert plan.process_meanings()["grp/waiter"].argv == ["python", "-c", "print('$HOME')"]
    assert plan.process_meanings()["grp/waiter"].mounts == []  # (Symphony's own volume, as the secrets')


def test_waits_that_cannot_run_are_refused_at_plan_time():
    kube = Cluster.new("kube", shell="")
    with pytest.raises(SpecError, match="^process 'client-0' waits for 'replay'.*shell setting is empty"):
        kube.plan(server_and_clients(kube))
    kube = Cluster.new("kube")
    exp = kube.new_experiment("rd")
    exp.new_process("server", container_image=IMAGE, command="python", args=["s.py"]).binds("s")
    group = exp.new_process_group("grp")
    group.new_process("entry", container_image=IMAGE, args=["--flag"]).connects("s", wait=True)
    with pytest.raises(SpecError, match="^process 'grp/entry' waits for 's'.*runs its image's entrypoint.*command="):
        kube.plan(exp)


def _serve_after(delay):
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def listen():
        time.sleep(delay)
        listener.listen()
    threading.Thread(target=listen, daemon=True).start()
    return listener, port


@pytest.mark.parametrize("tools", ["bash", "python3"])
def test_the_wait_script_holds_until_the_port_listens_then_execs(tools, tmp_path):
    """The script as the container runs it (dash, as in Debian images), through each way to connect."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("date", "expr", "sleep", "timeout", tools):
        found = subprocess.run(["sh", "-c", f"command -v {name}"], capture_output=True, text=True).stdout.strip()
        if found:
            os.symlink(found, bin_dir / name)
    listener, port = _serve_after(1.5)
    try:
        begun = time.monotonic()
        done = subprocess.run(["/bin/sh", "-c", WAIT_SCRIPT, "symphony-wait", "s", "127.0.0.1", str(port), "30", "fail",
                               "--", "sh", "-c", "echo started"], capture_output=True, text=True,
                              env={"PATH": str(bin_dir) + ":/bin"}, timeout=60)
        assert done.returncode == 0, done.stderr
        assert done.stdout == "started\n" and time.monotonic() - begun >= 1.4
        assert "symphony: waiting for s (127.0.0.1:" in done.stderr
    finally:
        listener.close()


def test_the_wait_script_fails_or_starts_at_its_deadline():
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = str(unused.getsockname()[1])  # bound, never listening: refused
        failed = subprocess.run(["/bin/sh", "-c", WAIT_SCRIPT, "symphony-wait", "s", "127.0.0.1", port, "1", "fail",
                                 "--", "echo", "never"], capture_output=True, text=True, timeout=60)
        assert failed.returncode == 1 and failed.stdout == ""
        assert failed.stderr.splitlines()[-1] == f"symphony: not started: s (127.0.0.1:{port}) not ready after 1s"
        started = subprocess.run(["/bin/sh", "-c", WAIT_SCRIPT, "symphony-wait", "s", "127.0.0.1", port, "1", "start",
                                  "--", "echo", "anyway"], capture_output=True, text=True, timeout=60)
        assert started.returncode == 0 and started.stdout == "anyway\n"
        assert "started anyway: s (127.0.0.1:" in started.stderr


def test_the_wait_script_says_waiting_then_started_in_its_started_file(tmp_path):
    """What a waiting group member's startupProbe reads, run by the probe's own command."""
    marker = tmp_path / "waiter"
    listener, port = _serve_after(1.0)
    probe = ["/bin/sh", "-c", 'read state < "$0" && [ "$state" = started ]', str(marker)]
    try:
        wait = subprocess.Popen(["/bin/sh", "-c", WAIT_SCRIPT, "symphony-wait", "--started-file", str(marker),
                                 "s", "127.0.0.1", str(port), "30", "fail", "--", "cat", str(marker)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        while not marker.exists() and wait.poll() is None:
            time.sleep(0.01)
        assert marker.read_text() == "waiting\n" and subprocess.run(probe).returncode == 1
        out, err = wait.communicate(timeout=60)
        assert wait.returncode == 0, err
        assert out == "started\n" and subprocess.run(probe).returncode == 0  # (written before the exec)
    finally:
        listener.close()
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        given_up = subprocess.run(["/bin/sh", "-c", WAIT_SCRIPT, "symphony-wait", "--started-file", str(marker),
                                   "s", "127.0.0.1", str(unused.getsockname()[1]), "1", "fail", "--", "true"],
                                  capture_output=True, text=True, timeout=60)
    assert given_up.returncode == 1 and marker.read_text() == "waiting\n"


def test_an_image_without_a_way_to_connect_is_told_so_in_one_line(tmp_path):
    done = subprocess.run(["/bin/sh", "-c", WAIT_SCRIPT, "symphony-wait", "s", "127.0.0.1", "1", "5", "fail"],
                          capture_output=True, text=True, env={"PATH": str(tmp_path)}, timeout=60)
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == \
        "symphony: cannot wait for s: the image has none of bash, nc, python3, python"


# --- symphony p, through the fake API server ---------------------------------------------

@pytest.fixture
def live(api_cluster):
    return api_cluster


def test_p_shows_held_processes_waiting_and_ready_from_the_probes(api, live):
    live.launch(server_and_clients(live, clients=3))
    pods = api.stored("rd", "pods")
    pods["server"]["status"] = {"phase": "Running", "containerStatuses": [
        _container_status("server", {"running": {"startedAt": _now(20)}}, ready=False)]}
    for name in ("client-0", "client-1"):
        pods[name]["status"] = {"phase": "Pending", "initContainerStatuses": [
            _container_status("symphony-wait", {"running": {"startedAt": _now(12)}})],
            "containerStatuses": [_container_status(name, {"waiting": {"reason": "PodInitializing"}})]}
    pods["client-2"]["status"] = {"phase": "Failed", "initContainerStatuses": [
        _container_status("symphony-wait", {"terminated": {
            "exitCode": 1, "reason": "Error",
            "message": "symphony: waiting for replay\nnot started: replay (replay:7000) not ready after 300s\n"}})],
        "containerStatuses": [_container_status("client-2", {"waiting": {"reason": "PodInitializing"}})]}
    statuses = {s.key: s for s in live.describe_experiment("rd")}
    server = statuses["server"]
    assert (server.state.value, server.ready, server.checked, server.not_ready) == \
        ("running", False, True, ["replay", "params"])
    held = statuses["client-0"]
    assert held.state.value == "waiting" and held.waiting_for == ["replay"]
    assert held.state_text().startswith("waiting: replay (not ready 1") and not held.checked
    assert statuses["client-2"].state_text() == "failed: not started: replay (replay:7000) not ready after 300s"

    pods["server"]["status"]["containerStatuses"][0]["ready"] = True
    for name in ("client-0", "client-1"):
        pods[name]["status"] = {"phase": "Running", "initContainerStatuses": [
            _container_status("symphony-wait", {"terminated": {"exitCode": 0, "reason": "Completed"}})],
            "containerStatuses": [_container_status(name, {"running": {"startedAt": _now(1)}}, ready=True)]}
    statuses = {s.key: s for s in live.describe_experiment("rd")}
    assert (statuses["server"].ready, statuses["server"].not_ready) == (True, [])
    assert statuses["client-0"].state_text() == "running: 1s" and statuses["client-0"].waiting_for == []


def test_p_shows_a_waiting_group_member_waiting_until_its_startup_probe_passes(api, live):
    exp = live.new_experiment("rd")
    exp.new_process("outside", container_image=IMAGE, command="python", args=["o.py"]).binds("far")
    group = exp.new_process_group("grp")
    group.new_process("provider", container_image=IMAGE, command="python", args=["p.py"]).binds("near")
    group.new_process("waiter", container_image=IMAGE, command="python", args=["w.py"]).connects("far", wait=True)
    group.new_process("quitter", container_image=IMAGE, command="python", args=["q.py"]).connects("far", wait=True)
    live.launch(exp)
    pod = api.stored("rd", "pods")["grp"]
    pod["status"] = {"phase": "Running", "containerStatuses": [
        _container_status("provider", {"running": {"startedAt": _now(12)}}, ready=True),
        {**_container_status("waiter", {"running": {"startedAt": _now(12)}}), "started": False},
        {**_container_status("quitter", {"terminated": {
            "exitCode": 1, "reason": "Error",
            "message": "symphony: waiting for far (far:7000), at most 300s\n"
                       "not started: far (far:7000) not ready after 300s\n"}}), "started": False}]}
    statuses = {s.key: s for s in live.describe_experiment("rd")}
    assert statuses["grp/provider"].state_text().startswith("running: ")
    waiter = statuses["grp/waiter"]
    assert waiter.state.value == "waiting" and waiter.waiting_for == ["far"]
    assert waiter.state_text().startswith("waiting: far (not ready 1")
    quitter = statuses["grp/quitter"]
    assert quitter.state_text() == "failed: not started: far (far:7000) not ready after 300s"

    pod["status"]["containerStatuses"][1]["started"] = True
    pod["status"]["containerStatuses"][2]["state"] = {"terminated": {"exitCode": 1, "reason": "Error",
                                                                     "message": "Traceback: boom\n"}}
    statuses = {s.key: s for s in live.describe_experiment("rd")}
    assert statuses["grp/waiter"].state_text().startswith("running: 1") and statuses["grp/waiter"].waiting_for == []
    assert statuses["grp/quitter"].state_text() == "terminated: Error (1)"  # its own failure, after the wait
