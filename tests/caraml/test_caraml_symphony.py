"""A Symphony local experiment wires a caraml server and client through SYMPH_* only."""

import sys

import pytest
from waiting import wait_for

pytestmark = pytest.mark.slow

SERVER = """
from caraml.zmq import ZmqServer
server = ZmqServer(service='echo')
for _ in range(3):
    request = server.recv()
    server.send({'echo': request, 'from': 'server'})
print('server done', flush=True)
"""
CLIENT = """
from caraml.zmq import ZmqClient
client = ZmqClient(service='echo', timeout=30)
for i in range(3):
    print(client.request(['ping', i]), flush=True)
"""


def test_server_and_client_find_each_other_by_service_name(local_cluster):
    exp = local_cluster.new_experiment("caraml-pair")
    exp.new_process("server", command=sys.executable, args=["-c", SERVER]).binds("echo")
    exp.new_process("client", command=sys.executable, args=["-c", CLIENT]).connects("echo")
    local_cluster.launch(exp)
    wait_for(lambda: not any(s.state == "running" for s in local_cluster.describe_experiment("caraml-pair")),
             timeout=60)
    assert [s.exit_code for s in local_cluster.describe_experiment("caraml-pair")] == [0, 0]
    assert list(local_cluster.get_log("caraml-pair", "client")) == [
        f"{{'echo': ['ping', {i}], 'from': 'server'}}" for i in range(3)]
    assert list(local_cluster.get_log("caraml-pair", "server")) == ["server done"]
