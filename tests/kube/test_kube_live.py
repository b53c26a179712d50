"""Live tests against a real Kubernetes cluster: the whole lifecycle, end to end.

Run with ``SYMPHONY_TEST_KUBE=1`` and a kubeconfig (``$KUBECONFIG`` or ~/.kube/config)
pointing at a cluster, and ``SYMPHONY_TEST_IMAGE`` naming an image the cluster can pull
or already has (pull policy IfNotPresent, so an image loaded into kind/minikube works).
Otherwise every test here is skipped with the reason.

The image needs ``python3`` (with pyzmq for experiments that use caraml; these tests use
only the standard library), ``sh`` and ``cat`` (exec checks) and ``tar`` (``kubectl cp``).
``python:3.11-slim`` with ``pip install pyzmq`` has all of them. Exposed services are
checked through ``symphony visit``'s URL (a LoadBalancer address, else a kubectl
port-forward), so kubectl must be on PATH.

The kubeconfig's user needs, cluster-wide (the namespaces do not exist beforehand, so
a ClusterRole and ClusterRoleBinding; docs/kubernetes.md has the manifest):
namespaces get/list/create/delete; secrets and services create; services get/list;
pods create/get/list; pods/log get; pods/exec and pods/portforward create and get
(websocket upgrades); serviceaccounts get.

Every namespace these tests create carries the label ``symphony/live-test=true``; the
first test of a session deletes any such namespace an interrupted run left behind (and
nothing else). Each test's waits share one budget that leaves room for its delete
within the test's timeout, so a hang fails with what it waited for, not a timeout kill.
"""

import importlib.util
import os
import shutil
import time
import urllib.request
import uuid

import pytest

from symphony import Cluster
from symphony.kube.cluster import SYMPHONY_SELECTOR

from late_service import FIRST_TRY_CLIENT, late_server

HERE = os.path.dirname(os.path.abspath(__file__))
HELLO = os.path.join(HERE, "..", "..", "examples", "hello")
IMAGE = os.environ.get("SYMPHONY_TEST_IMAGE")
KUBECONFIG = os.path.expanduser(os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or "~/.kube/config")


def _skip_reason():
    if os.environ.get("SYMPHONY_TEST_KUBE") != "1":
        return "live Kubernetes tests need SYMPHONY_TEST_KUBE=1 and a kubeconfig pointing at a cluster"
    if not os.path.exists(KUBECONFIG):
        return f"live Kubernetes tests need a kubeconfig: {KUBECONFIG} does not exist (set KUBECONFIG)"
    if not IMAGE:
        return "live Kubernetes tests need SYMPHONY_TEST_IMAGE (an image with python3 and pyzmq)"
    return None


#: pytest-timeout for each test, overriding pyproject's 300 s: a cold node pulls images slowly.
TEST_TIMEOUT = 600
#: How long a namespace may take to disappear (the cluster's ``timeout``).
DELETE_TIMEOUT = 120
#: Room for what cannot share the wait budget: API calls, a port-forward start (30 s), teardown.
RESERVE = 60

pytestmark = [pytest.mark.kube, pytest.mark.slow, pytest.mark.timeout(TEST_TIMEOUT),
              pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or "")]

LIVE_TEST_LABEL = "symphony/live-test"


def _label_as_live_test(step, obj):
    """``fault_hook`` sees each object before it is created: mark the namespace as a test's."""
    if step == "Namespace":
        obj["metadata"]["labels"][LIVE_TEST_LABEL] = "true"


@pytest.fixture(scope="module", autouse=True)
def remove_leftovers():
    """Delete what an interrupted earlier run left: only Symphony namespaces labelled by these tests."""
    cluster = Cluster.new("kube", kubeconfig=KUBECONFIG)
    leftovers = cluster._call("list leftover test namespaces", cluster.core.list_namespace,
                              label_selector=f"{SYMPHONY_SELECTOR},{LIVE_TEST_LABEL}=true").items
    for namespace in leftovers:
        if namespace.status.phase != "Terminating":
            cluster.delete(namespace.metadata.name)


@pytest.fixture
def launched():
    """Names of the experiments a test launches; whatever is left is deleted afterwards."""
    return []


@pytest.fixture
def kube(launched):
    """The cluster; teardown deletes without waiting (the label lets the next session finish the job)."""
    cluster = Cluster.new("kube", kubeconfig=KUBECONFIG, grace=1, timeout=DELETE_TIMEOUT)
    cluster.fault_hook = _label_as_live_test
    yield cluster
    for name in launched:
        if name in cluster.list_experiments():
            cluster.delete(name)


@pytest.fixture
def wait_for():
    """``wait_for(predicate, what, timeout=None)``: poll until ``predicate()`` is truthy.

    All waits of one test end by the same deadline, which leaves the test's delete
    (DELETE_TIMEOUT) and RESERVE inside TEST_TIMEOUT.
    """
    deadline = time.monotonic() + TEST_TIMEOUT - DELETE_TIMEOUT - RESERVE

    def wait(predicate, what, timeout=None):
        started = time.monotonic()
        until = deadline if timeout is None else min(deadline, started + timeout)
        while True:
            last = predicate()
            if last:
                return last
            if time.monotonic() >= until:
                raise AssertionError(f"gave up waiting for {what} after {time.monotonic() - started:.0f}s")
            time.sleep(1.0)
    return wait


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def states(kube, name):
    return {s.key: s for s in kube.describe_experiment(name)}


def test_hello_ring_runs_to_completion_and_delete_leaves_nothing(kube, launched, wait_for):
    spec = importlib.util.spec_from_file_location("hello_experiment", os.path.join(HELLO, "experiment.py"))
    hello = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hello)
    name = unique("hello")
    # ring.py reaches the containers as an experiment secret: /etc/secrets/ring.py
    exp = hello.build(kube, messages=5, name=name, image=IMAGE, workdir="/etc/secrets", python="python3")
    exp.secrets.append(os.path.join(HELLO, "ring.py"))
    for process in exp.list_all_processes():
        process.image_pull_policy("IfNotPresent")
    launched.append(name)
    kube.launch(exp)
    assert name in kube.list_experiments()

    done = wait_for(lambda: (lambda s: s if all(x.state == "terminated" for x in s.values()) else None)(
        states(kube, name)), "every ring member to finish")
    assert {key: s.state_text() for key, s in done.items()} == {f"p{i}": "terminated: Completed (0)" for i in range(3)}
    log = list(kube.get_log(name, "p1"))
    assert [line for line in log if "got:" in line] == [f"p1 got: hello0 {k}" for k in range(5)]
    assert log[-1] == "p1 done"
    assert list(kube.get_log(name, "p1", tail=1)) == ["p1 done"]

    kube.delete(name, wait=True)
    assert name not in kube.list_experiments()
    assert kube._read_namespace(name) is None  # the namespace and everything in it are gone


SERVER = """
import os, socket
s = socket.create_server((os.environ['SYMPH_BIND_HOST'], int(os.environ['SYMPH_ECHO_PORT'])))
print('listening', flush=True)
while True:
    c, _ = s.accept()
    c.sendall(b'echo from server\\n')
    c.close()
"""
CLIENT = """
import os, socket, time
while True:
    try:
        c = socket.create_connection(('127.0.0.1', int(os.environ['SYMPH_ECHO_PORT'])), timeout=2)
        break
    except OSError:
        time.sleep(0.2)
print('localhost ok:', c.makefile().readline().strip(), flush=True)
while True:
    time.sleep(3600)
"""


def test_running_experiment_logs_exec_secrets_localhost_exposed_service_and_copy(kube, launched, wait_for,
                                                                                   tmp_path, capfd):
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is needed for the exposed-service and scp checks")
    (tmp_path / "token").write_text("live-secret-token")
    name = unique("live")
    exp = kube.new_experiment(name, secrets=[str(tmp_path / "token")])
    pair = exp.new_process_group("pair")
    pair.image_pull_policy("IfNotPresent")
    pair.new_process("server", container_image=IMAGE, command="python3", args=["-c", SERVER]).binds("echo")
    pair.new_process("client", container_image=IMAGE, command="python3", args=["-c", CLIENT]).connects("echo")
    web = exp.new_process("web", ["cd /tmp && echo web-page > index.html",
                                  "exec python3 -m http.server $SYMPH_WEB_PORT --bind $SYMPH_BIND_HOST"],
                          container_image=IMAGE)
    web.exposes("web").image_pull_policy("IfNotPresent")
    launched.append(name)
    kube.launch(exp)

    wait_for(lambda: all(s.state == "running" and s.ready for s in states(kube, name).values()),
             "every container to be running and ready")
    assert all(s.state_text().startswith("running: ") for s in states(kube, name).values())
    # the original Symphony's kubectl queries
    assert kube.current_context() in [c["name"] for c in kube.config_view()["contexts"]]
    pods = kube.query_resources("pods", "json", namespace=name)
    assert sorted(item["metadata"]["name"] for item in pods["items"]) == ["pair", "web"]
    assert sorted(filter(None, kube.query_jsonpath("pods", ".metadata.name", namespace=name))) == ["pair", "web"]
    assert kube.query_resources("pods", "name", names=["web"], namespace=name)[0] == "pod/web"
    wait_for(lambda: any("localhost ok: echo from server" in line for line in kube.get_log(name, "client")),
             "the client to reach the server over the pod's localhost")
    assert list(kube.get_log(name, "pair/server", tail=1)) == ["listening"]

    capfd.readouterr()
    assert kube.exec_command(name, "client", ["cat", "/etc/secrets/token"]) == 0
    assert capfd.readouterr().out == "live-secret-token"
    assert kube.exec_command(name, "web", ["sh", "-c", "touch /etc/secrets/new"]) != 0  # read-only
    assert kube.exec_command(name, "web", ["sh", "-c", 'test "$SYMPH_ECHO_HOST" = echo && exit 7']) == 7

    url = kube.external_url(name, "web")
    page = wait_for(lambda: _fetch(url + "/index.html"), f"the exposed service at {url}", timeout=120)
    assert page.strip() == "web-page"

    local = tmp_path / "upload.txt"
    local.write_text("copied in")
    kube.copy(name, (None, str(local)), ("web", "/tmp/upload.txt"))
    capfd.readouterr()
    assert kube.exec_command(name, "web", ["cat", "/tmp/upload.txt"]) == 0
    assert capfd.readouterr().out == "copied in"
    kube.copy(name, ("web", "/tmp/index.html"), (None, str(tmp_path / "back.html")))
    assert (tmp_path / "back.html").read_text().strip() == "web-page"

    kube.delete(name, wait=True)
    assert kube._read_namespace(name) is None


def _fetch(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read().decode()
    except OSError:
        return None


def test_unschedulable_pod_and_bad_image_show_why(kube, launched, wait_for):
    name = unique("why")
    exp = kube.new_experiment(name)
    exp.new_process("greedy", container_image=IMAGE, command="python3", args=["-c", "pass"]) \
        .resource_request(cpu=10000).image_pull_policy("IfNotPresent")
    exp.new_process("missing", container_image="symphony.invalid/no-such-image:0", command="true")
    launched.append(name)
    kube.launch(exp)
    greedy = wait_for(lambda: (lambda s: s if s.detail.startswith("Unschedulable") else None)(
        states(kube, name)["greedy"]), "the scheduler to refuse 'greedy'")
    assert greedy.state_text().startswith("pending: Unschedulable — ")
    assert "cpu" in greedy.state_text()
    missing = wait_for(lambda: (lambda s: s if s.detail in ("ErrImagePull", "ImagePullBackOff") else None)(
        states(kube, name)["missing"]), "the image pull to fail")
    assert missing.state_text() in ("waiting: ErrImagePull", "waiting: ImagePullBackOff")


def test_clients_that_wait_are_held_in_init_until_the_late_server_is_ready(kube, launched, wait_for):
    """A server that listens only after 5 s and 10 clients that connect once, with wait=True: each
    client's first attempt succeeds, and until then `p` shows them waiting (their pods in Init)."""
    from symphony.readiness import tcp
    name = unique("ready")
    exp = kube.new_experiment(name)
    server = exp.new_process("server", container_image=IMAGE, command="python3", args=["-c", late_server()])
    server.binds("late", ready=tcp(interval=1))
    for i in range(10):
        client = exp.new_process(f"client-{i}", container_image=IMAGE, command="python3",
                                 args=["-c", FIRST_TRY_CLIENT])
        client.connects("late", wait=True, wait_timeout="5m")
    for process in exp.list_all_processes():
        process.image_pull_policy("IfNotPresent")
    launched.append(name)
    kube.launch(exp)

    held = wait_for(lambda: [s for s in states(kube, name).values() if s.state == "waiting" and s.waiting_for],
                    "a client shown waiting for 'late'")
    assert all(s.waiting_for == ["late"] and s.detail.startswith("late (not ready") for s in held)
    ready = wait_for(lambda: (lambda s: s if s["server"].ready and all(
        s[f"client-{i}"].state == "running" for i in range(10)) else None)(states(kube, name)),
        "the server ready and every client running")
    assert ready["server"].checked
    for i in range(10):
        log = wait_for(lambda: [line for line in kube.get_log(name, f"client-{i}") if "first attempt" in line],
                       f"client-{i}'s first attempt")
        assert log == ["first attempt: hello"]


def test_a_group_member_that_waits_shows_waiting_until_its_wait_is_over(kube, launched, wait_for):
    """A group member waits in its own container: its startupProbe keeps it `started: false`
    (`p`: waiting) until the wait wrote `started`, while its group's other member runs."""
    from symphony.readiness import tcp
    name = unique("held")
    exp = kube.new_experiment(name)
    server = exp.new_process("server", container_image=IMAGE, command="python3",
                             args=["-c", late_server(delay=30)])
    server.binds("late", ready=tcp(interval=1))
    group = exp.new_process_group("grp")
    group.new_process("other", container_image=IMAGE, command="python3", args=["-c", "import time; time.sleep(3600)"])
    group.new_process("waiter", container_image=IMAGE, command="python3", args=["-c", FIRST_TRY_CLIENT]) \
        .connects("late", wait=True, wait_timeout="5m")
    for process in exp.list_all_processes():
        process.image_pull_policy("IfNotPresent")
    launched.append(name)
    kube.launch(exp)

    held = wait_for(lambda: (lambda s: s if s["grp/waiter"].state == "waiting" else None)(states(kube, name)),
                    "grp/waiter shown waiting for 'late'")
    assert held["grp/waiter"].waiting_for == ["late"] and held["grp/waiter"].detail.startswith("late (not ready")
    wait_for(lambda: (lambda s: s["grp/waiter"].state == "running" and s["server"].ready)(states(kube, name)),
             "the server ready and grp/waiter running")
    log = wait_for(lambda: [line for line in kube.get_log(name, "grp/waiter") if "first attempt" in line],
                   "grp/waiter's first attempt")
    assert log == ["first attempt: hello"]
