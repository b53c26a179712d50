"""Ten experiments launched at the same moment from ten OS processes, on tmux and Docker.

Every process really binds its ports, so two experiments handed the same port would
show up as a process that failed to bind; on Docker (internal networks, as every test
container's) the exposed service of each experiment is reached from the host at the
address ``visit`` gives and must answer with its own experiment's name. Deletes run
concurrently too. A second test launches the *same* name from several processes at
once: exactly one wins, the losers must not damage the winner, and deleting it from
several processes at once removes it (the others are told it is gone).
"""

import socket
import subprocess
import sys
from urllib.parse import urlparse

import pytest

from hardeninghelpers import BASE_IMAGE, experiment_pids, scan, wait_for

pytestmark = pytest.mark.slow

#: binds every service in $SERVICES on SYMPH_BIND_HOST (no SO_REUSEADDR: a shared port fails),
#: then answers each connection to the first one with the experiment's name
SERVER = """
import os, socket
sockets = []
for service in os.environ['SERVICES'].split():
    prefix = 'SYMPH_' + service.upper().replace('-', '_')
    sock = socket.socket()
    sock.bind((os.environ['SYMPH_BIND_HOST'], int(os.environ[prefix + '_PORT'])))
    sock.listen()
    sockets.append(sock)
print('listening', flush=True)
while True:
    connection, _ = sockets[0].accept()
    connection.sendall(os.environ['SYMPH_EXPERIMENT'].encode())
    connection.close()
"""
#: connects to the web service of its experiment and prints the answer
CLIENT = """
import os, socket, time
while True:
    try:
        with socket.create_connection((os.environ['SYMPH_WEB_HOST'], int(os.environ['SYMPH_WEB_PORT'])), 1) as sock:
            print('answer', sock.recv(100).decode(), flush=True)
            break
    except OSError:
        time.sleep(0.1)
time.sleep(600)
"""

WORKER = """
import sys
from symphony import Cluster
from symphony.errors import SymphonyError
mode, backend, name, server_name, server, client = sys.argv[1:]
options = {"local": {"grace": 1}, "tmux": {"server_name": server_name, "grace": 1},
           "docker": {"internal_network": True, "stop_timeout": 1}}[backend]
cluster = Cluster.new(backend, **options)
exp = cluster.new_experiment(name)
if backend == "docker":
    exp.new_process("server", container_image=%(image)r, command="python3", args=["-c", server],
                    env={"SERVICES": "web"}).exposes("web")
    exp.new_process("client", container_image=%(image)r, command="python3", args=["-c", client]).connects("web")
else:
    for index in range(3):
        services = [f"svc-{index}-a", f"svc-{index}-b"]
        exp.new_process(f"p{index}", command=sys.executable, args=["-c", server],
                        env={"SERVICES": " ".join(services)}).binds(services)
print("ready", flush=True)
sys.stdin.readline()  # every worker starts at the same moment
try:
    cluster.delete(name) if mode == "delete" else cluster.launch(exp, force=mode == "relaunch")
except SymphonyError as exc:
    print(type(exc).__name__, exc, flush=True)
    sys.exit(3)
""" % {"image": BASE_IMAGE}


def at_once(mode, backend, names, server_name=""):
    """Run ``mode`` (launch, relaunch = launch --force, or delete) for every name, each in its own process, released together."""
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, mode, backend, name, server_name, SERVER, CLIENT],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for name in names]
    try:
        for worker in workers:
            assert worker.stdout.readline().strip() == "ready", worker.stderr.read()
        for worker in workers:
            worker.stdin.write("go\n")
            worker.stdin.flush()
        results = [worker.communicate(timeout=180) for worker in workers]
    finally:  # a failing test must not leave workers launching behind the fixtures' cleanup
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    results = [(worker.returncode, out + err) for worker, (out, err) in zip(workers, results)]
    return results


@pytest.mark.tmux
def test_ten_concurrent_tmux_launches(tmux_cluster, server_name):
    names = [f"conc-{index}" for index in range(10)]
    results = at_once("launch", "tmux", names, server_name)  # they also race to start the tmux server
    assert [code for code, _ in results] == [0] * 10, results
    assert sorted(tmux_cluster.list_experiments()) == sorted(names)
    ports = []
    for name in names:
        env, _ = tmux_cluster.process_environment(name, "p0")
        ports += [int(value) for key, value in env.items() if key.endswith("_PORT")]
        for key in ("p0", "p1", "p2"):
            wait_for(lambda: list(tmux_cluster.get_log(name, key)) == ["listening"])
        assert {s.state for s in tmux_cluster.describe_experiment(name)} == {"running"}, "every port was free"
    assert len(ports) == len(set(ports)) == 10 * 6
    assert sorted(tmux_cluster.store.reserved_ports()) == sorted(ports), "the state holds exactly these ports"
    assert tmux_cluster.store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert at_once("delete", "tmux", names, server_name) == [(0, "")] * 10
    assert tmux_cluster.list_experiments() == [] and tmux_cluster.store.reserved_ports() == set()
    assert all(experiment_pids(name) == [] for name in names)


@pytest.mark.docker
def test_ten_concurrent_docker_launches(docker_cluster, docker_client, new_name):
    from dockerhelpers import leftovers
    names = [new_name() for _ in range(10)]
    results = at_once("launch", "docker", names)
    assert [code for code, _ in results] == [0] * 10, results
    assert set(names) <= set(docker_cluster.list_experiments())
    addresses = []
    for name in names:
        wait_for(lambda: list(docker_cluster.get_log(name, "client")) == [f"answer {name}"], timeout=60)
        url = urlparse(docker_cluster.external_url(name, "web"))
        server = docker_client.containers.get(f"{name}.server")
        # Docker publishes nothing from an internal network: visit gives the server's own address there
        assert url.hostname == server.attrs["NetworkSettings"]["Networks"][f"symphony-{name}"]["IPAddress"]
        addresses.append(url.hostname)
        with socket.create_connection((url.hostname, url.port), timeout=5) as sock:
            assert sock.recv(100).decode() == name, "the URL reaches this experiment's server"
    assert len(set(addresses)) == 10, "each experiment has a network of its own"
    assert at_once("delete", "docker", names) == [(0, "")] * 10
    assert all(leftovers(docker_client, name) == [] and experiment_pids(name) == [] for name in names)


@pytest.mark.parametrize("backend", ["local", pytest.param("tmux", marks=pytest.mark.tmux),
                                     pytest.param("docker", marks=pytest.mark.docker)])
def test_the_same_name_launched_at_once_has_one_intact_winner(backend, request):
    if backend == "docker":
        request.getfixturevalue("docker_client")
        name, server_name = request.getfixturevalue("new_name")(), ""
    else:
        name, server_name = "contested", request.getfixturevalue("server_name") if backend == "tmux" else ""
    results = at_once("launch", backend, [name] * 5, server_name)
    winners = [output for code, output in results if code == 0]
    losers = [output for code, output in results if code != 0]
    assert len(winners) == 1, results
    assert all(output.startswith(("ExperimentExistsError", "LaunchError")) for output in losers), losers
    from symphony import Cluster
    options = {"tmux": {"server_name": server_name}, "docker": {"internal_network": True}}.get(backend, {})
    cluster = Cluster.new(backend, **options)
    statuses = cluster.describe_experiment(name)
    assert len(statuses) == (2 if backend == "docker" else 3) and {s.state for s in statuses} <= {"running", "pending"}
    wait_for(lambda: {s.state for s in cluster.describe_experiment(name)} == {"running"}, timeout=30)
    deletes = at_once("delete", backend, [name] * 3, server_name)
    assert all(code == 0 or output.startswith("ExperimentNotFoundError") for code, output in deletes), deletes
    assert name not in cluster.list_experiments() and experiment_pids(name) == []


@pytest.mark.parametrize("backend", ["local", pytest.param("tmux", marks=pytest.mark.tmux)])
def test_forced_relaunches_of_one_name_at_once_replace_each_other_in_turn(backend, request):
    """Each --force launch deletes the previous one and starts its own, one after the other
    (they are serialised per experiment): all succeed, and exactly the last run is left."""
    server_name = request.getfixturevalue("server_name") if backend == "tmux" else ""
    from symphony import Cluster
    cluster = Cluster.new(backend, **({"server_name": server_name} if backend == "tmux" else {}))
    results = at_once("relaunch", backend, ["replaced"] * 4, server_name)
    assert [code for code, _ in results] == [0] * 4, results
    assert cluster.list_experiments() == ["replaced"]
    run_id = cluster.store.get_experiment(backend, "replaced")["run_id"]
    wait_for(lambda: {s.state for s in cluster.describe_experiment("replaced")} == {"running"})
    assert experiment_pids("replaced") == sorted(scan(SYMPH_EXPERIMENT="replaced", SYMPH_RUN_ID=run_id)), \
        "only the last run's processes live"
    assert len(cluster.store.reserved_ports()) == 6, "only the last run's ports are reserved"
    cluster.delete("replaced")
    assert experiment_pids("replaced") == []
