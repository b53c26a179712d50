import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from waiting import wait_for

from caraml.zmq import (
    ZmqClient,
    ZmqProxy,
    ZmqProxyStartError,
    ZmqPub,
    ZmqPull,
    ZmqPush,
    ZmqServer,
    ZmqSub,
    ZmqTimeoutError,
)

pytestmark = pytest.mark.timeout(60)

REPOSITORY = Path(__file__).resolve().parents[2]

# Generous: a proxy process notices its parent's death within about half a second.
ORPHAN_DEADLINE_SECONDS = 15

PARENT_WITH_A_PROXY_PROCESS = textwrap.dedent(
    """
    import time

    from caraml.zmq import ZmqProxy

    if __name__ == "__main__":
        proxy = ZmqProxy(frontend=0, backend=0)
        process = proxy.start_in_process()
        ports = [address.rsplit(":", 1)[1] for address in (proxy.frontend_address, proxy.backend_address)]
        print(*ports, process.pid, flush=True)
        time.sleep(600)  # until killed, without ever calling stop()
    """
)


@pytest.fixture(params=["thread", "process"])
def start_proxy(request):
    """Start a proxy in a thread or in its own process; stop it after the test."""
    started = []

    def start(pattern):
        proxy = ZmqProxy(frontend=0, backend=0, pattern=pattern)
        proxy.start(in_process=request.param == "process")
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()


def test_clients_fan_in_through_the_proxy_to_several_servers(start_proxy):
    proxy = start_proxy("router-dealer")
    servers = []
    for server_id in range(3):
        server = ZmqServer(address=proxy.backend_address, bind=False)
        server.start_loop(lambda request, server_id=server_id: (server_id, request))
        servers.append(server)
    clients = [ZmqClient(address=proxy.frontend_address, timeout=5) for _ in range(4)]
    answered_by = set()
    mismatches = []

    def ask(client_id, client):
        deadline = time.monotonic() + 10
        n = 0
        # Keep asking until every server has answered someone: servers connect at their own pace.
        while (len(answered_by) < len(servers) or n < 10) and time.monotonic() < deadline:
            server_id, echoed = client.request((client_id, n))
            answered_by.add(server_id)
            if echoed != (client_id, n):
                mismatches.append((client_id, n, echoed))
            n += 1

    askers = [threading.Thread(target=ask, args=(i, client)) for i, client in enumerate(clients)]
    for asker in askers:
        asker.start()
    for asker in askers:
        asker.join(15)
    assert mismatches == []
    assert answered_by == {0, 1, 2}
    for endpoint in clients + servers:
        endpoint.close()


def test_handler_errors_come_back_through_the_proxy(start_proxy):
    from caraml.zmq import ZmqRemoteError

    proxy = start_proxy("router-dealer")
    with (
        ZmqServer(address=proxy.backend_address, bind=False) as server,
        ZmqClient(address=proxy.frontend_address, timeout=5) as client,
    ):
        server.start_loop(lambda request: 1 / request)
        with pytest.raises(ZmqRemoteError, match="ZeroDivisionError"):
            client.request(0)
        assert client.request(4) == 0.25


def test_publishers_fan_out_through_the_proxy_to_several_subscribers(start_proxy, receive_until):
    proxy = start_proxy("xsub-xpub")
    pubs = [ZmqPub(address=proxy.frontend_address, bind=False) for _ in range(2)]
    subs = [ZmqSub(address=proxy.backend_address, topic="metrics", timeout=0.05) for _ in range(3)]

    def publish():
        for pub_id, pub in enumerate(pubs):
            pub.pub("metrics", pub_id)
            pub.pub("ignored", pub_id)

    for sub in subs:
        received = receive_until(sub.recv, lambda got: {data for _, data in got} == {0, 1}, publish)
        assert {topic for topic, _ in received} == {"metrics"}
    for endpoint in pubs + subs:
        endpoint.close()


def test_pushers_fan_in_and_out_through_a_streamer_proxy(start_proxy):
    proxy = start_proxy("pull-push")
    pulls = [ZmqPull(address=proxy.backend_address, bind=False, timeout=0.05) for _ in range(2)]
    pushes = [ZmqPush(address=proxy.frontend_address) for _ in range(2)]
    probes_received = [0] * len(pulls)

    def each_puller_reached():
        """Probe until the round-robin has reached both pullers: both are connected to the proxy."""
        pushes[0].push("probe")
        for index, pull in enumerate(pulls):
            try:
                probes_received[index] += pull.pull() == "probe"
            except ZmqTimeoutError:
                pass
        return all(probes_received)
    wait_for(each_puller_reached, timeout=10)
    sent = [(push_id, n) for push_id in range(2) for n in range(50)]
    for push_id, n in sent:
        pushes[push_id].push((push_id, n))
    received_per_pull = [[] for _ in pulls]
    deadline = time.monotonic() + 10
    while sum(map(len, received_per_pull)) < len(sent) and time.monotonic() < deadline:
        for pull, received in zip(pulls, received_per_pull):
            try:
                message = pull.pull()
            except ZmqTimeoutError:
                continue
            if message != "probe":  # a probe still in flight
                received.append(message)
    assert sorted(m for received in received_per_pull for m in received) == sorted(sent)  # each exactly once
    assert all(received_per_pull), "the proxy should spread messages over both pullers"
    for endpoint in pushes + pulls:
        endpoint.close()


@pytest.mark.parametrize("in_process", [False, True], ids=["thread", "process"])
def test_stop_ends_the_thread_or_process(in_process):
    proxy = ZmqProxy(frontend=0, backend=0, pattern="xsub-xpub")
    runner = proxy.start(in_process=in_process)
    assert proxy.running
    proxy.stop()
    assert not proxy.running and not runner.is_alive()
    if in_process:
        assert runner.exitcode == 0  # ended by stop(), not killed
    proxy.stop()  # stopping twice is harmless


def test_start_returns_the_runner_and_start_in_process_is_a_process():
    with ZmqProxy(frontend=0, backend=0) as proxy:
        assert isinstance(proxy.start(), threading.Thread)
    with ZmqProxy(frontend=0, backend=0) as proxy:
        process = proxy.start_in_process()
        assert process.pid is not None and process.daemon


@pytest.mark.parametrize("in_process", [False, True], ids=["thread", "process"])
def test_a_port_in_use_is_reported_by_start(in_process):
    with ZmqPull(port=0) as occupant:
        proxy = ZmqProxy(frontend=occupant.port, backend=0)
        with pytest.raises(ZmqProxyStartError, match=f"cannot bind tcp://127.0.0.1:{occupant.port}"):
            proxy.start(in_process=in_process)
        assert not proxy.running


@pytest.mark.parametrize("in_process", [False, True], ids=["thread", "process"])
def test_a_proxy_on_ipv6_addresses(ipv6_loopback, in_process):
    with ZmqProxy(frontend="[::1]:0", backend="::1:0", pattern="pull-push") as proxy:
        proxy.start(in_process=in_process)
        assert proxy.frontend_address.startswith("tcp://[::1]:") and proxy.backend_address.startswith("tcp://[::1]:")
        with (
            ZmqPush(address=proxy.frontend_address) as push,
            ZmqPull(address=proxy.backend_address, bind=False, timeout=5) as pull,
        ):
            push.push("over IPv6")
            assert pull.pull() == "over IPv6"


def test_proxy_sides_by_service_name(monkeypatch):
    monkeypatch.setenv("SYMPH_BIND_HOST", "127.0.0.1")
    monkeypatch.setenv("SYMPH_FRONT_PORT", "0")
    monkeypatch.setenv("SYMPH_BACK_PORT", "0")
    with ZmqProxy(frontend_service="front", backend_service="back") as proxy:
        proxy.start()
        assert proxy.frontend_address.startswith("tcp://127.0.0.1:") and proxy.backend_address != "tcp://127.0.0.1:0"


def test_proxy_arguments_are_checked():
    with pytest.raises(ValueError, match="unknown proxy pattern 'pub-sub'"):
        ZmqProxy(frontend=0, backend=0, pattern="pub-sub")
    with pytest.raises(ValueError, match="frontend"):
        ZmqProxy(backend=0)


def process_is_running(pid):
    """Whether ``pid`` still runs; a zombie has exited (an orphan may wait a while for init to reap it)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="reads process states from /proc")
@pytest.mark.parametrize("signal_number", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_a_proxy_process_dies_with_its_killed_parent_and_frees_its_ports(signal_number):
    """A parent killed without stop() must not leave an orphan proxy that keeps a restarted parent from binding."""
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT_WITH_A_PROXY_PROCESS],
        cwd=REPOSITORY,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    proxy_pid = None
    try:
        line = parent.stdout.readline()
        assert line, parent.stderr.read()
        frontend_port, backend_port, proxy_pid = map(int, line.split())
        parent.send_signal(signal_number)
        parent.wait(ORPHAN_DEADLINE_SECONDS)
        def proxy_gone():
            """the proxy process does not outlive its parent"""
            return not process_is_running(proxy_pid)
        wait_for(proxy_gone, timeout=ORPHAN_DEADLINE_SECONDS)
        with ZmqProxy(frontend=frontend_port, backend=backend_port) as restarted:  # what a restarted parent does
            restarted.start()
    finally:
        if proxy_pid is not None and process_is_running(proxy_pid):
            os.kill(proxy_pid, signal.SIGKILL)  # first: it holds the parent's output pipes open
        parent.kill()
        parent.communicate()
