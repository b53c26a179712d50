"""Checks a process of this machine makes of another's service without connecting to it."""

import json
import socket
import subprocess
import sys

from symphony.readiness import listening_ports, probe_listening, probe_on_this_host
from symphony.resolution.resolved import ResolvedCheck

from .servers import LateListener, free_port
from waiting import wait_for


def check(port, kind="tcp", declared=False, argv=()):
    return ResolvedCheck(service="svc", kind=kind, host="127.0.0.1", port=port, path=None, argv=tuple(argv),
                         interval=0.1, timeout=1.0, failure_threshold=2, declared=declared)


def test_a_listening_socket_is_found_without_a_connection_on_ipv4_and_ipv6():
    port = free_port()
    assert port not in listening_ports()
    assert probe_listening(check(port))[:2] == (False, f"nothing listens on port {port}")
    listener = LateListener(port)
    try:
        wait_for(lambda: listener.listening_at is not None)
        assert port in listening_ports()
        assert probe_listening(check(port)).ok and probe_listening(check(port)).detail == "listening"
        assert listener.accepted == 0, "nothing connected to the server"
    finally:
        listener.stop()
    with socket.socket(socket.AF_INET6) as six:
        six.bind(("::1", 0))
        six.listen()
        assert six.getsockname()[1] in listening_ports()
    connected = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(connected.getsockname())
    try:  # an established connection's port is not a listening one
        assert client.getsockname()[1] not in listening_ports()
    finally:
        client.close()
        connected.close()


def test_only_a_declared_tcp_check_connects_and_a_command_check_is_seen_by_its_port():
    port = free_port()
    listener = LateListener(port)
    try:
        wait_for(lambda: listener.listening_at is not None)
        assert probe_on_this_host(check(port)).ok
        assert probe_on_this_host(check(port, kind="command", declared=True, argv=["false"])).ok
        assert listener.accepted == 0
        assert probe_on_this_host(check(port, declared=True)).detail == "accepts connections"
        wait_for(lambda: listener.accepted == 1)
    finally:
        listener.stop()


def test_the_wait_command_exits_3_and_writes_why_when_its_deadline_says_fail(tmp_path):
    port = free_port()
    wait = {"service": "svc", "provider": "server", "check": check(port).to_dict(), "timeout": 0.3,
            "on_timeout": "fail"}
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"waits": [wait], "outcome": str(tmp_path / "outcome")}))
    result = subprocess.run([sys.executable, "-m", "symphony.readiness.wait", str(spec)], capture_output=True,
                            text=True, timeout=30)
    reason = f"not started: not ready after 0.3s: svc (nothing listens on port {port})"
    assert result.returncode == 3 and result.stderr == f"symphony: {reason}\n"
    assert (tmp_path / "outcome").read_text() == reason + "\n"
    spec.write_text(json.dumps({"waits": [{**wait, "on_timeout": "start"}], "outcome": str(tmp_path / "outcome")}))
    result = subprocess.run([sys.executable, "-m", "symphony.readiness.wait", str(spec)], capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 0 and "started anyway: not ready after 0.3s" in result.stderr
