"""Each probe against the real thing: sockets that listen or not, an HTTP server, real commands."""

import os
import socket
import sys
import threading
import time

import pytest

from symphony.readiness import probe, probe_command, probe_from_outside, probe_http, probe_tcp
from symphony.resolution.resolved import ResolvedCheck

from .servers import LateListener, StatusServer, free_port


def check(kind, port, path=None, argv=(), timeout=1.0):
    return ResolvedCheck(service="svc", kind=kind, host="127.0.0.1", port=port, path=path, argv=tuple(argv),
                         interval=0.1, timeout=timeout, failure_threshold=2, declared=True)


def test_tcp_passes_once_the_port_listens_and_fails_before():
    port = free_port()
    refused = probe_tcp("127.0.0.1", port, 1.0)
    assert not refused.ok and refused.detail == f"127.0.0.1:{port}: connection refused"
    listener = LateListener(port)
    try:
        deadline = time.monotonic() + 5
        while listener.listening_at is None and time.monotonic() < deadline:
            time.sleep(0.01)
        result = probe_tcp("127.0.0.1", port, 1.0)
        assert result.ok and result.elapsed < 1.0
    finally:
        listener.stop()


def test_a_bound_socket_that_does_not_listen_yet_is_not_ready():
    """A server between bind() and listen() holds its port but serves nothing."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        result = probe_tcp("127.0.0.1", sock.getsockname()[1], 1.0)
    assert not result.ok and "refused" in result.detail


def test_tcp_times_out_within_its_timeout():
    """A listener whose backlog is full leaves new connections unanswered: the probe gives up in time."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        port = server.getsockname()[1]
        fillers = []
        try:
            for _ in range(8):  # fill the backlog (never accepted)
                filler = socket.socket()
                filler.setblocking(False)
                filler.connect_ex(("127.0.0.1", port))
                fillers.append(filler)
            begun = time.monotonic()
            result = probe_tcp("127.0.0.1", port, 0.3)
            took = time.monotonic() - begun
        finally:
            for filler in fillers:
                filler.close()
    # (some kernels still complete the handshake: then the probe passes at once, never slowly)
    assert took < 1.0
    assert result.ok or result.detail.endswith("timed out")


@pytest.fixture
def http_server():
    server = StatusServer()
    yield server
    server.stop()


@pytest.mark.parametrize("status, ok", [(200, True), (204, True), (302, True), (404, False), (503, False)])
def test_http_expects_2xx_or_3xx(http_server, status, ok):
    http_server.status = status
    result = probe_http("127.0.0.1", http_server.port, "/healthz?deep=1", 2.0)
    assert result.ok is ok
    assert result.detail == f"GET /healthz?deep=1: HTTP {status}"
    assert http_server.paths[-1] == "/healthz?deep=1"


def test_http_against_nothing_and_against_a_server_that_is_not_http():
    port = free_port()
    assert not probe_http("127.0.0.1", port, "/", 1.0).ok
    with socket.socket() as server:  # greets like an SSH server, whatever it is asked
        server.bind(("127.0.0.1", 0))
        server.listen(1)

        def greet():
            conn, _ = server.accept()
            with conn:
                conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")
                conn.recv(1024)
        thread = threading.Thread(target=greet, daemon=True)
        thread.start()
        result = probe_http("127.0.0.1", server.getsockname()[1], "/", 2.0)
        thread.join(5)
    assert not result.ok and result.detail == "GET /: not an HTTP answer: 'SSH-2.0-OpenSSH_9.6'"


def test_http_that_never_answers_times_out():
    with socket.socket() as server:  # listens, accepts into the backlog, never replies
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        begun = time.monotonic()
        result = probe_http("127.0.0.1", server.getsockname()[1], "/", 0.3)
        took = time.monotonic() - begun
    assert not result.ok and result.detail == "GET /: timed out"
    assert 0.25 < took < 1.5


def test_command_exit_status_output_and_environment(tmp_path):
    ok = probe_command([sys.executable, "-c", "import os, sys; sys.exit(os.environ['WANT'] != 'yes')"], 5.0,
                       env={**os.environ, "WANT": "yes"})
    assert ok.ok and ok.detail == "exit 0"
    failing = probe_command([sys.executable, "-c", "import sys; print('warming up'); print('no model yet'); sys.exit(3)"],
                            5.0)
    assert not failing.ok and failing.detail == "exit 3: no model yet"
    (tmp_path / "ready").write_text("")
    in_cwd = probe_command(["test", "-f", "ready"], 5.0, cwd=str(tmp_path))
    assert in_cwd.ok
    missing = probe_command(["no-such-program-symphony"], 5.0)
    assert not missing.ok and missing.detail.startswith("no-such-program-symphony: no such file")


def test_command_runs_no_shell_unless_its_argv_names_one(tmp_path):
    marker = tmp_path / "expanded"
    result = probe_command(["echo", f"$(touch {marker})"], 5.0)
    assert result.ok and not marker.exists()
    shell = probe(check("command", 1, argv=["/bin/sh", "-c", f"touch {marker} && exit 0"]))
    assert shell.ok and marker.exists()


def test_a_command_that_overruns_is_killed_with_what_it_started(tmp_path):
    pid_file = tmp_path / "grandchild"
    script = (f"sleep 30 & echo $! > {pid_file}; wait")
    begun = time.monotonic()
    result = probe_command(["/bin/sh", "-c", script], 0.5)
    took = time.monotonic() - begun
    assert not result.ok and result.detail == "/bin/sh: timed out after 0.5s"
    assert took < 3
    grandchild = int(pid_file.read_text())
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{grandchild}/stat") as stat:
                if stat.read().split(") ")[1].startswith("Z"):
                    break
        except FileNotFoundError:
            break
        time.sleep(0.02)
    else:
        pytest.fail("the command's own child survived its timeout")


def test_probe_dispatches_on_the_resolved_check(http_server):
    assert probe(check("http", http_server.port, path="/ok")).ok
    assert http_server.paths == ["/ok"]
    port = free_port()
    assert not probe(check("tcp", port)).ok
    assert probe(check("tcp", http_server.port)).ok
    # from the waiting side, a command check (run in its provider's environment) is its port accepting
    assert probe_from_outside(check("command", http_server.port, argv=["false"])).ok
    assert not probe(check("command", http_server.port, argv=["false"])).ok
    with pytest.raises(ValueError, match="unknown readiness check kind 'udp'"):
        probe(check("udp", port))
