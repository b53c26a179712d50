"""The Docker backend on a real engine: a learner with agents, a ring, groups, exec/ssh/scp, cleanup."""

import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest

from symphony.errors import ExperimentExistsError, LaunchError, ProcessNotFoundError, SymphonyError

from dockerhelpers import BASE_IMAGE, docker_cluster, engine, leftovers, unique

pytestmark = [pytest.mark.docker, pytest.mark.slow]

# A learner and its agents: the learner binds two services (ZeroMQ, python3-zmq is in the
# base image) and exposes a web page; agents connect through SYMPH_* only.
LEARNER = """
import http.server, os, threading, zmq
ctx = zmq.Context()
def serve(service, reply):
    sock = ctx.socket(zmq.REP)
    sock.bind("tcp://%s:%s" % (os.environ["SYMPH_BIND_HOST"], os.environ["SYMPH_%s_PORT" % service]))
    while True:
        sock.send_string(reply + ":" + sock.recv_string())
for service, reply in (("REPLAY_SERVER", "replay"), ("PARAMETER_SERVER", "params")):
    threading.Thread(target=serve, args=(service, reply), daemon=True).start()
print("learner ready", flush=True)
address = (os.environ["SYMPH_BIND_HOST"], int(os.environ["SYMPH_TENSORBOARD_PORT"]))
http.server.HTTPServer(address, http.server.SimpleHTTPRequestHandler).serve_forever()
"""
AGENT = """
import os, sys, zmq
for service in ("REPLAY_SERVER", "PARAMETER_SERVER"):
    sock = zmq.Context.instance().socket(zmq.REQ)
    sock.connect("tcp://" + os.environ["SYMPH_%s_ADDR" % service])
    sock.send_string(sys.argv[1])
    print(sock.recv_string(), flush=True)
"""
# Each ring member listens on its own service and sends its name to the next one.
RING = """
import os, socket, sys, time
me, after = sys.argv[1], sys.argv[2]
def env(service, what):
    return os.environ["SYMPH_%s_%s" % (service.upper().replace("-", "_"), what)]
server = socket.create_server((os.environ["SYMPH_BIND_HOST"], int(env(me, "PORT"))))
for _ in range(300):
    try:
        out = socket.create_connection((env(after, "HOST"), int(env(after, "PORT"))), timeout=1)
        break
    except OSError:
        time.sleep(0.1)
out.sendall(me.encode())
out.close()
conn, _ = server.accept()
print(me, "got", conn.recv(100).decode(), flush=True)
"""
# Members of a process group reach each other on localhost (one network namespace).
LOCAL_SERVER = """
import socket
server = socket.create_server(("127.0.0.1", 9100))
conn, _ = server.accept()
conn.sendall(b"localhost shared")
"""
LOCAL_CLIENT = """
import socket, time
for _ in range(300):
    try:
        print(socket.create_connection(("127.0.0.1", 9100), timeout=1).recv(100).decode(), flush=True)
        break
    except OSError:
        time.sleep(0.1)
"""
RING_SIZE = 3


def wait_for(predicate, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def statuses(cluster, name):
    return {s.key: s for s in cluster.describe_experiment(name)}


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    """One running experiment shared by the read-only tests below (launching is the slow part)."""
    client, reason = engine()
    if client is None:
        pytest.skip(reason)
    data = tmp_path_factory.mktemp("data")
    (data / "from-host.txt").write_text("hello from the host\n")
    cluster = docker_cluster()
    exp = cluster.new_experiment(unique("t"))
    learner = exp.new_process("learner", container_image=BASE_IMAGE, command="python3", args=["-c", LEARNER],
                              cwd="/tmp")
    learner.binds(["replay-server", "parameter-server"]).exposes({"tensorboard": 6006})
    for i in range(2):
        exp.new_process(f"agent-{i}", container_image=BASE_IMAGE, command="python3",
                        args=["-c", AGENT, f"agent {i} with spaces"]).connects(["replay-server", "parameter-server"])
    for i in range(RING_SIZE):
        member = exp.new_process(f"ring-{i}", container_image=BASE_IMAGE, command="python3",
                                 args=["-c", RING, f"ring-{i}", f"ring-{(i + 1) % RING_SIZE}"])
        member.binds(f"ring-{i}").connects(f"ring-{(i + 1) % RING_SIZE}")
    pair = exp.new_process_group("pair")
    pair.new_process("server", container_image=BASE_IMAGE, command="python3", args=["-c", LOCAL_SERVER])
    pair.new_process("client", container_image=BASE_IMAGE, command="python3", args=["-c", LOCAL_CLIENT])
    worker = exp.new_process("worker", container_image=BASE_IMAGE, cwd="/tmp", env={"WORKER_ENV": "w"},
                             preamble_cmds=["export FROM_PREAMBLE=yes"],
                             cmds=['echo "worker $SYMPH_PROCESS $FROM_PREAMBLE"',
                                   "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done"])
    worker.resource_limit(cpu=0.5, mem="128Mi").resource_request(mem="64Mi")
    worker.mount_shared_memory("32Mi").mount_host_path(str(data), "/data").add_label("team", "rl")
    exp.validate()
    cluster.apply(exp)
    yield cluster, exp.name, data, client
    cluster.delete(exp.name)
    assert leftovers(client, exp.name) == []


def test_learner_agents_ring_and_group_talk_through_symph_variables(example):
    cluster, name, _, _ = example
    finished = ["agent-0", "agent-1", "pair/client", "pair/server"] + [f"ring-{i}" for i in range(RING_SIZE)]
    wait_for(lambda: all(statuses(cluster, name)[key].state == "exited" for key in finished), what="processes to finish")
    current = statuses(cluster, name)
    assert {key: current[key].exit_code for key in finished} == {key: 0 for key in finished}
    assert list(cluster.get_log(name, "agent-1")) == ["replay:agent 1 with spaces", "params:agent 1 with spaces"]
    for i in range(RING_SIZE):
        assert list(cluster.get_log(name, f"ring-{i}")) == [f"ring-{i} got ring-{(i - 1) % RING_SIZE}"]
    assert list(cluster.get_log(name, "pair/client")) == ["localhost shared"]


def test_status_lists_every_process_in_declaration_order(example):
    cluster, name, _, _ = example
    current = cluster.describe_experiment(name)
    # standalone processes first, then each group's (ExperimentSpec.list_all_processes)
    assert [s.key for s in current] == (["learner", "agent-0", "agent-1"] + [f"ring-{i}" for i in range(RING_SIZE)]
                                        + ["worker", "pair/server", "pair/client"])
    learner = current[0]
    assert learner.state == "running" and learner.ready and learner.restarts == 0
    assert learner.started and time.time() - learner.started < 600
    assert learner.state_text().startswith("running: ")
    assert (current[-1].group, current[-1].name) == ("pair", "client")


def test_group_members_share_the_holder_network_namespace(example):
    cluster, name, _, client = example
    holder = client.containers.get(f"{name}.pair")  # the group's pause container
    for member in (client.containers.get(f"{name}.pair.{p}") for p in ("server", "client")):
        assert member.attrs["HostConfig"]["NetworkMode"] == f"container:{holder.id}"
    assert list(holder.attrs["NetworkSettings"]["Networks"]) == [f"symphony-{name}"]
    assert [s.key for s in cluster.describe_experiment(name) if s.group == "pair"] == ["pair/server", "pair/client"]
    assert client.networks.get(f"symphony-{name}").attrs["Internal"] is True


def test_exposed_service_is_reachable_from_the_host(example):
    cluster, name, _, client = example
    wait_for(lambda: "learner ready" in list(cluster.get_log(name, "learner")), what="learner")
    url = cluster.external_url(name, "tensorboard")
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.status == 200
    # the container's own address on the experiment network: Docker publishes nothing on an internal
    # one, so the plan asks for no port binding it would ignore
    learner = client.containers.get(f"{name}.learner")
    assert urllib.parse.urlparse(url).hostname == learner.attrs["NetworkSettings"]["Networks"][f"symphony-{name}"]["IPAddress"]
    assert not learner.attrs["HostConfig"]["PortBindings"]
    with pytest.raises(SymphonyError, match="exposes no service 'replay-server': it exposes tensorboard"):
        cluster.external_url(name, "replay-server")
    assert cluster.exposed_services(name) == ["tensorboard"]  # what `symphony visit ten` matches against


def test_logs_tail_since_and_follow(example):
    cluster, name, _, _ = example
    wait_for(lambda: len(list(cluster.get_log(name, "worker"))) > 8, what="worker output")
    lines = list(cluster.get_log(name, "worker"))
    assert lines[0] == "worker worker yes"
    assert len(list(cluster.get_log(name, "worker", tail=2))) == 2
    recent = list(cluster.get_log(name, "worker", since="1s"))
    assert 0 < len(recent) < len(list(cluster.get_log(name, "worker")))
    followed = cluster.get_log(name, "worker", follow=True, tail=0)
    ticks = [next(followed) for _ in range(3)]
    followed.close()
    numbers = [int(line.split()[1]) for line in ticks]
    assert numbers == list(range(numbers[0], numbers[0] + 3))
    with pytest.raises(SymphonyError, match="invalid --since"):
        cluster.get_log(name, "worker", since="soon")


def test_exec_runs_in_the_process_environment(example, capsys):
    cluster, name, _, _ = example
    code = cluster.exec_command(name, "worker", ["sh", "-c", "echo $SYMPH_PROCESS $WORKER_ENV $SYMPH_TENSORBOARD_ADDR; pwd; exit 3"])
    assert code == 3
    assert capsys.readouterr().out.split("\n")[:2] == ["worker w learner:6006", "/tmp"]
    with pytest.raises(ProcessNotFoundError, match="has no process 'nobody'"):
        cluster.exec_command(name, "nobody", ["true"])
    with pytest.raises(SymphonyError, match="is exited, not running"):
        cluster.exec_command(name, "agent-0", ["true"])


def test_ssh_opens_a_shell_in_the_container(example):
    cluster, name, _, _ = example
    code = ("import sys; from symphony import Cluster; "
            f"sys.exit(Cluster.new('docker').shell({name!r}, 'worker'))")
    result = subprocess.run([sys.executable, "-c", code], input="echo in-shell $SYMPH_PROCESS $(pwd)\nexit 4\n",
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 4, result.stderr
    assert result.stdout.strip() == "in-shell worker /tmp"


def test_scp_copies_both_ways_with_docker_cp_semantics(example, tmp_path):
    cluster, name, _, client = example
    source = tmp_path / "notes.txt"
    source.write_text("to the container\n")
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "leaf.txt").write_text("leaf\n")
    # host -> container: into the working directory, then under a new name, then a directory
    assert cluster.copy(name, (None, str(source)), ("worker", ".")) == "/tmp/notes.txt"
    assert cluster.copy(name, (None, str(source)), ("worker", "/tmp/renamed.txt")) == "/tmp/renamed.txt"
    cluster.copy(name, (None, str(tree)), ("worker", "/tmp"))
    worker = client.containers.get(f"{name}.worker")
    listing = worker.exec_run(["sh", "-c", "cat /tmp/notes.txt /tmp/renamed.txt /tmp/tree/sub/leaf.txt"])
    assert listing.output.decode() == "to the container\nto the container\nleaf\n"
    # container -> host: a file under a new name, and a directory into an existing one
    back = tmp_path / "back.txt"
    assert cluster.copy(name, ("worker", "renamed.txt"), (None, str(back))) == str(back)
    assert back.read_text() == "to the container\n"
    out = tmp_path / "out"
    out.mkdir()
    cluster.copy(name, ("worker", "/tmp/tree"), (None, str(out)))
    assert (out / "tree" / "sub" / "leaf.txt").read_text() == "leaf\n"
    with pytest.raises(SymphonyError, match="no such file or directory"):
        cluster.copy(name, ("worker", "/nowhere"), (None, str(out)))
    # into a folder missing in the container: the local backend's words, not the engine's 404
    with pytest.raises(SymphonyError, match="^cannot copy to worker:/nodir/sub/x: directory /nodir/sub does not exist$"):
        cluster.copy(name, (None, str(source)), ("worker", "/nodir/sub/x"))


def test_resources_mounts_and_labels_reach_the_container(example):
    cluster, name, data, client = example
    worker = client.containers.get(f"{name}.worker")
    host = worker.attrs["HostConfig"]
    assert (host["NanoCpus"], host["Memory"], host["MemoryReservation"]) == (500_000_000, 128 * 2**20, 64 * 2**20)
    assert host["RestartPolicy"]["Name"] == "no" and host["Init"] is True
    assert worker.labels["team"] == "rl" and worker.labels["symphony.process"] == "worker"
    shm = worker.exec_run(["sh", "-c", "df -k /dev/shm | tail -n 1"]).output.decode().split()
    assert shm[1] == str(32 * 1024)
    (data / "late.txt").write_text("written after launch\n")
    assert worker.exec_run(["cat", "/data/from-host.txt", "/data/late.txt"]).output.decode() == \
        "hello from the host\nwritten after launch\n"


def test_restart_policies_map_to_docker(new_name, cluster, docker_client):
    name = new_name()
    exp = cluster.new_experiment(name)
    exp.new_process("flaky", container_image=BASE_IMAGE, cmds=["echo run; exit 1"]).restart_policy("OnFailure")
    exp.new_process("once", container_image=BASE_IMAGE, cmds=["exit 3"])
    group = exp.new_process_group("always")
    group.new_process("looper", container_image=BASE_IMAGE, cmds=["exit 0"])
    group.restart_policy("Always")
    cluster.launch(exp)
    wait_for(lambda: statuses(cluster, name)["flaky"].restarts >= 2 and statuses(cluster, name)["always/looper"].restarts >= 2,
             what="restarts")
    current = statuses(cluster, name)
    assert (current["once"].state, current["once"].exit_code, current["once"].restarts) == ("exited", 3, 0)
    assert current["once"].state_text().startswith("exited (3): ")
    policies = {c.labels.get("symphony.process", "holder of " + c.name): c.attrs["HostConfig"]["RestartPolicy"]["Name"]
                for c in docker_client.containers.list(all=True, filters={"label": f"symphony.experiment={name}"})}
    assert policies == {"flaky": "on-failure", "once": "no", "always/looper": "always",
                        f"holder of {name}.always": "always"}
    assert list(cluster.get_log(name, "flaky"))[:3] == ["run", "run", "run"]
    # between two runs (Docker's back-off grows) the last run's exit code is reported, as locally
    restarting = wait_for(lambda: [s for s in cluster.describe_experiment(name) if s.state == "restarting"],
                          what="a container between restarts")[0]
    assert restarting.exit_code == (1 if restarting.key == "flaky" else 0) and restarting.signal is None


def test_delete_leaves_no_container_network_or_volume(new_name, cluster, docker_client):
    name = new_name()
    exp = cluster.new_experiment(name)
    group = exp.new_process_group("g")
    group.new_process("a", container_image=BASE_IMAGE, cmds=["sleep 600"]).binds("svc")
    group.new_process("b", container_image=BASE_IMAGE, cmds=["sleep 600"]).connects("svc")
    exp.new_process("c", container_image=BASE_IMAGE, command="sleep", args=["600"]).mount_empty_dir("/scratch", "16Mi")
    cluster.launch(exp)
    assert name in cluster.list_experiments() and cluster.current_experiment() == name
    assert len(leftovers(docker_client, name)) == 5  # three processes, the group's holder, the network
    started = time.monotonic()
    cluster.delete(name)
    assert time.monotonic() - started < 10
    assert leftovers(docker_client, name) == []
    assert name not in cluster.list_experiments() and cluster.current_experiment() is None
    with pytest.raises(SymphonyError, match=f"no experiment '{name}' on the docker backend"):
        cluster.delete(name)


def test_a_failed_launch_removes_what_it_created(new_name, cluster, docker_client, tmp_path):
    name = new_name()
    exp = cluster.new_experiment(name)
    exp.new_process("fine", container_image=BASE_IMAGE, cmds=["sleep 600"])
    exp.new_process("broken", container_image=BASE_IMAGE, cmds=["true"]).mount_host_path(
        str(tmp_path / "does-not-exist"), "/data")
    with pytest.raises(LaunchError, match=f"launch of '{name}' failed, nothing was left running: .*does-not-exist"):
        cluster.launch(exp)
    assert leftovers(docker_client, name) == []
    assert name not in cluster.list_experiments()


def test_missing_image_with_pull_policy_never_stops_before_anything_starts(new_name, cluster, docker_client):
    name = new_name()
    exp = cluster.new_experiment(name)
    exp.new_process("a", container_image=BASE_IMAGE, cmds=["sleep 600"])
    exp.new_process("b", container_image="symphony-test-absent:1", cmds=["true"]).image_pull_policy("Never")
    with pytest.raises(LaunchError, match="'symphony-test-absent:1' is not on the Docker engine and its pull policy is Never"):
        cluster.launch(exp)
    assert leftovers(docker_client, name) == []


def test_an_image_name_the_engine_refuses_is_a_one_line_launch_error(new_name, cluster, docker_client):
    """Valid in Docker's grammar (an IPv6 registry), refused by this engine or its registry: no raw API error."""
    name = new_name()
    exp = cluster.new_experiment(name)
    exp.new_process("a", container_image="[::1]:1/symphony-test-absent:1", cmds=["true"])
    with pytest.raises(LaunchError, match=r"^cannot (use|pull) image '\[::1\]:1/symphony-test-absent:1': .*: check the name") as failure:
        cluster.launch(exp)
    assert "\n" not in str(failure.value)
    assert leftovers(docker_client, name) == []


def test_relaunch_needs_force(new_name, cluster, docker_client):
    name = new_name()
    exp = cluster.new_experiment(name)
    exp.new_process("a", container_image=BASE_IMAGE, cmds=["echo first; sleep 600"])
    cluster.launch(exp)
    with pytest.raises(ExperimentExistsError, match=r"already running .* or replace it with --force \(force=True in Python\)$"):
        cluster.launch(exp)
    with pytest.raises(ExperimentExistsError, match=r"already running .* \(force=True in Python\)$"):
        cluster.apply(exp)  # the backend's own check words it the same way
    first = docker_client.containers.get(f"{name}.a").id
    cluster.launch(exp, force=True)
    assert docker_client.containers.get(f"{name}.a").id != first
    assert len(leftovers(docker_client, name)) == 2


def test_launch_with_a_missing_engine_names_the_fix(monkeypatch):
    from symphony import Cluster
    from symphony.errors import BackendUnavailableError
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    cluster = Cluster.new("docker")
    with pytest.raises(BackendUnavailableError, match="cannot reach the Docker engine .*start dockerd or point DOCKER_HOST"):
        cluster.list_experiments()


def test_a_group_keeps_its_name_and_namespace_after_its_first_process_exits(cluster, new_name, docker_client,
                                                                             tmp_path):
    """The holder owns the group's network: the first member exiting takes nothing with it.
    The client connects only once the test has seen that member exit (it opens the gate)."""
    name = new_name()
    gate = tmp_path / "gate"
    gate.mkdir()
    exp = cluster.new_experiment(name)
    pod = exp.new_process_group("pod")
    pod.new_process("quick", container_image=BASE_IMAGE, command="true")
    server = pod.new_process("server", container_image=BASE_IMAGE, command="python3", args=["-c", (
        "import os, socket; s = socket.create_server(('0.0.0.0', int(os.environ['SYMPH_ECHO_PORT'])));"
        "c, _ = s.accept(); c.sendall(b'hello from the group'); c.close()")])
    server.binds("echo")
    exp.new_process("client", container_image=BASE_IMAGE, command="python3", args=["-c", (
        "import os, socket, time\n"
        "while not os.path.exists('/gate/open'):\n"
        "    time.sleep(0.05)\n"
        "for attempt in range(300):\n"
        "    try:\n"
        "        c = socket.create_connection((os.environ['SYMPH_ECHO_HOST'], int(os.environ['SYMPH_ECHO_PORT'])), timeout=5)\n"
        "        break\n"
        "    except OSError:\n"
        "        time.sleep(0.1)\n"
        "print(c.recv(100).decode(), flush=True)")]).connects("echo").mount_host_path(str(gate), "/gate")
    cluster.launch(exp)
    wait_for(lambda: statuses(cluster, name)["pod/quick"].state == "exited", what="the group's first process to exit")
    assert statuses(cluster, name)["pod/server"].state == "running"
    (gate / "open").touch()
    wait_for(lambda: all(s.state in ("exited", "killed") for s in cluster.describe_experiment(name)),
             what="every process to end", timeout=60)
    exit_codes = {s.key: s.exit_code for s in cluster.describe_experiment(name)}
    assert exit_codes == {"client": 0, "pod/quick": 0, "pod/server": 0}
    assert list(cluster.get_log(name, "client")) == ["hello from the group"]
    cluster.delete(name)
    assert leftovers(docker_client, name) == []


def test_delete_removes_the_network_even_with_a_container_attached_by_hand(new_name, cluster, docker_client,
                                                                            shell_less_image):
    """Endpoints left on the experiment's network (attached by hand, or kept by the engine after
    their container went) are disconnected: the network goes with the experiment."""
    name = new_name()
    exp = cluster.new_experiment(name)
    exp.new_process("p", container_image=shell_less_image, command="/pause")
    cluster.launch(exp)
    network, = docker_client.networks.list(filters={"label": f"symphony.experiment={name}"})
    stranger = docker_client.containers.run(shell_less_image, ["/pause"], detach=True, network_mode="none")
    try:
        stranger.reload()
        docker_client.api.disconnect_container_from_network(stranger.id, "none")
        network.connect(stranger)
        cluster.delete(name)
        assert leftovers(docker_client, name) == []
        stranger.reload()
        assert stranger.status == "running" and network.name not in stranger.attrs["NetworkSettings"]["Networks"]
    finally:
        stranger.remove(force=True)
