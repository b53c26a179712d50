import re
import socket

import pytest

from caraml.zmq import ZmqClient, ZmqPub, ZmqPull, ZmqPush, ZmqServer, ZmqServiceNotFound, ZmqSub
from caraml.zmq.addressing import resolve_address, service_variables

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("SYMPH_BIND_HOST", "SYMPH_REPLAY_SERVER_HOST", "SYMPH_REPLAY_SERVER_PORT"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def os_chosen_port():
    """A port the OS reports free, for tests where the binding side must know it in advance."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_service_variable_names():
    assert service_variables("replay-server") == ("SYMPH_REPLAY_SERVER_HOST", "SYMPH_REPLAY_SERVER_PORT")
    assert service_variables("ps") == ("SYMPH_PS_HOST", "SYMPH_PS_PORT")


@pytest.mark.parametrize(
    "arguments, bind, expected",
    [
        ({"port": 5000}, False, "tcp://127.0.0.1:5000"),
        ({"host": "localhost", "port": 5000}, True, "tcp://127.0.0.1:5000"),
        ({"host": "localhost", "port": 5000}, False, "tcp://127.0.0.1:5000"),
        ({"host": "*", "port": 0}, True, "tcp://*:0"),
        ({"host": "10.1.2.3", "port": "7"}, False, "tcp://10.1.2.3:7"),
        ({"address": "localhost:5000"}, True, "tcp://127.0.0.1:5000"),
        ({"address": "tcp://localhost:5000"}, False, "tcp://127.0.0.1:5000"),
        ({"address": "ipc:///tmp/caraml.sock"}, True, "ipc:///tmp/caraml.sock"),
        ({"host": "::1", "port": 5000}, False, "tcp://[::1]:5000"),
        ({"host": "[::1]", "port": 5000}, True, "tcp://[::1]:5000"),
        ({"address": "::1:5000"}, False, "tcp://[::1]:5000"),
        ({"address": "tcp://*:*"}, True, "tcp://*:*"),
    ],
)
def test_resolve_address(arguments, bind, expected):
    assert resolve_address(bind=bind, **arguments) == expected


def test_bind_resolves_host_names_zmq_would_refuse():
    assert resolve_address(host=socket.gethostname(), port=1, bind=True) == (
        f"tcp://{socket.gethostbyname(socket.gethostname())}:1"
    )


@pytest.mark.parametrize(
    "arguments",
    [{}, {"address": "tcp://1.2.3.4:5", "port": 5}, {"port": 5, "service": "x"}, {"host": "localhost"}],
)
def test_where_to_go_must_be_said_exactly_once(arguments):
    with pytest.raises(ValueError, match=r"give exactly one of address=, port= \(with host=\) or service=|"
                                         r"host= needs port= as well"):
        resolve_address(bind=False, **arguments)


@pytest.mark.parametrize(
    "socket_class, arguments, message",
    [
        (ZmqClient, {"host": "localhost"}, "host= needs port= as well"),
        (ZmqClient, {"port": "abc"}, "port= must be a port number from 1 to 65535, got 'abc'"),
        (ZmqServer, {"port": -1}, "port= must be a port number from 0 to 65535, got -1"),
        (ZmqPull, {"port": 70000}, "port= must be a port number from 0 to 65535, got 70000"),
        (ZmqPush, {"port": 5000.0}, "port= must be a port number from 1 to 65535, got 5000.0"),
        (ZmqPush, {"port": 0}, "got 0 (0 asks the OS for a free port, which only a binding socket can use)"),
        (ZmqSub, {"address": "tcp://127.0.0.1:abc"}, "the port of address 'tcp://127.0.0.1:abc' must be a port"),
        (ZmqPub, {"address": "127.0.0.1:99999"}, "must be a port number from 0 to 65535, got '99999'"),
    ],
)
def test_mistakes_in_where_to_go_are_named_before_zmq_sees_them(socket_class, arguments, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        socket_class(**arguments)


@pytest.mark.parametrize(
    "socket_class, port_value, message",
    [
        (ZmqClient, "notaport", "SYMPH_REPLAY_SERVER_PORT must be a port number from 1 to 65535, got 'notaport'"),
        (ZmqServer, "70000", "SYMPH_REPLAY_SERVER_PORT must be a port number from 0 to 65535, got '70000'"),
        (ZmqPush, "0", "SYMPH_REPLAY_SERVER_PORT must be a port number from 1 to 65535, got '0'"),
    ],
)
def test_a_bad_port_variable_is_named(clean_env, socket_class, port_value, message):
    clean_env.setenv("SYMPH_REPLAY_SERVER_HOST", "127.0.0.1")
    clean_env.setenv("SYMPH_REPLAY_SERVER_PORT", port_value)
    with pytest.raises(ValueError, match=re.escape(message)):
        socket_class(service="replay-server")


def test_ipv6_hosts_bind_and_connect(ipv6_loopback):
    with ZmqServer(host="::1", port=0) as server, ZmqClient(host="::1", port=server.port, timeout=5) as client:
        server.start_loop(lambda request: request)
        assert server.address.startswith("tcp://[::1]:")
        assert client.request("over IPv6") == "over IPv6"


def test_tcp_address_needs_a_port():
    with pytest.raises(ValueError, match="no port"):
        resolve_address(address="tcp://somewhere", bind=False)


def test_localhost_binds_and_connects():
    with (
        ZmqServer(host="localhost", port=0) as server,
        ZmqClient(host="localhost", port=server.port, timeout=5) as client,
    ):
        server.start_loop(lambda request: request)
        assert server.address.startswith("tcp://127.0.0.1:")
        assert client.request("over localhost") == "over localhost"


def test_connecting_by_service_name(clean_env, echo_server):
    clean_env.setenv("SYMPH_REPLAY_SERVER_HOST", "localhost")
    clean_env.setenv("SYMPH_REPLAY_SERVER_PORT", str(echo_server.port))
    with ZmqClient(service="replay-server", timeout=5) as client:
        assert client.address == f"tcp://127.0.0.1:{echo_server.port}"
        assert client.request("by name") == "by name"


def test_binding_by_service_name_uses_symph_bind_host(clean_env):
    port = os_chosen_port()
    clean_env.setenv("SYMPH_REPLAY_SERVER_HOST", "replay.example.invalid")  # where others reach it
    clean_env.setenv("SYMPH_REPLAY_SERVER_PORT", str(port))
    clean_env.setenv("SYMPH_BIND_HOST", "127.0.0.1")
    with ZmqPull(service="replay-server", timeout=5) as pull, ZmqPush(port=port) as push:
        assert pull.address == f"tcp://127.0.0.1:{port}"
        push.push("bound by name")
        assert pull.pull() == "bound by name"


def test_binding_by_service_name_falls_back_to_the_service_host(clean_env):
    clean_env.setenv("SYMPH_REPLAY_SERVER_HOST", "localhost")
    clean_env.setenv("SYMPH_REPLAY_SERVER_PORT", "6000")
    assert resolve_address(service="replay-server", bind=True) == "tcp://127.0.0.1:6000"
    clean_env.setenv("SYMPH_BIND_HOST", "0.0.0.0")
    assert resolve_address(service="replay-server", bind=True) == "tcp://0.0.0.0:6000"
    assert resolve_address(service="replay-server", bind=False) == "tcp://127.0.0.1:6000"


@pytest.mark.parametrize("socket_class", [ZmqClient, ZmqServer, ZmqPush, ZmqPull, ZmqPub, ZmqSub])
def test_every_class_takes_a_service_name(clean_env, socket_class):
    port = os_chosen_port()
    clean_env.setenv("SYMPH_REPLAY_SERVER_HOST", "127.0.0.1")
    clean_env.setenv("SYMPH_REPLAY_SERVER_PORT", str(port))
    with socket_class(service="replay-server") as endpoint:
        assert endpoint.address == f"tcp://127.0.0.1:{port}"


def test_missing_port_variable_names_the_service_and_variables(clean_env):
    clean_env.setenv("SYMPH_REPLAY_SERVER_HOST", "10.0.0.1")
    with pytest.raises(ZmqServiceNotFound, match="SYMPH_REPLAY_SERVER_PORT") as caught:
        ZmqClient(service="replay-server")
    message = str(caught.value)
    assert "'replay-server'" in message and "SYMPH_REPLAY_SERVER_PORT" in message
    assert isinstance(caught.value, ValueError)


def test_missing_host_variable_is_reported_for_connecting_roles(clean_env):
    clean_env.setenv("SYMPH_REPLAY_SERVER_PORT", "6000")
    with pytest.raises(ZmqServiceNotFound, match="SYMPH_REPLAY_SERVER_HOST") as caught:
        ZmqPush(service="replay-server")
    assert "SYMPH_REPLAY_SERVER_PORT" not in str(caught.value).split("not set")[0]


def test_missing_everything_for_a_binding_role(clean_env):
    with pytest.raises(ZmqServiceNotFound, match="SYMPH_BIND_HOST") as caught:
        ZmqServer(service="replay-server")
    message = str(caught.value)
    for variable in ("SYMPH_BIND_HOST", "SYMPH_REPLAY_SERVER_HOST", "SYMPH_REPLAY_SERVER_PORT"):
        assert variable in message
