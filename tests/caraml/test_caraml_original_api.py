"""caraml 0.x code runs unchanged: its documented names, signatures and messages, across real processes.

The examples follow the 0.x API as its package exported it (``caraml.zmq``,
``caraml.zmq.communicator``, ``caraml.inmemory``, ``caraml.utils.serializer``);
only the ports differ (free ones instead of fixed 7000s). "0.x peers" are
plain pyzmq processes that put on the wire exactly what 0.x sent: one pickle
frame per message, ``b'ack'`` as raw bytes, ``[topic, payload]`` for pub/sub.
"""

import os
import pickle
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import zmq

import caraml.inmemory
from caraml.utils.serializer import get_deserializer, get_serializer, pa_serialize, pyobj_hash
from caraml.zmq import (
    DataFetcher,
    ZmqClient,
    ZmqPairingError,
    ZmqProxy,
    ZmqProxyProcess,
    ZmqProxyThread,
    ZmqPub,
    ZmqPuller,
    ZmqPusher,
    ZmqReceiver,
    ZmqRemoteError,
    ZmqSender,
    ZmqServer,
    ZmqSocket,
    ZmqSub,
    ZmqTimeoutError,
)

pytestmark = pytest.mark.timeout(60)

REPOSITORY = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"


def free_port():
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def start_python(code):
    """A child Python process running ``code`` from the repository root; its stdout is a pipe."""
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPOSITORY,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process, timeout=30):
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err
    return out


# --- the 0.x names and their signatures ------------------------------------------------------


def test_every_name_caraml_0x_exported_is_importable_from_the_same_modules():
    import caraml.zmq as package

    for name in [
        "ZmqTimeoutError", "ZmqSocket", "ZmqPusher", "ZmqPuller", "ZmqSender", "ZmqReceiver",
        "ZmqClient", "ZmqServer", "ZmqPub", "ZmqSub", "DataFetcher", "ZmqProxy", "ZmqProxyThread",
        "ZmqProxyProcess",
    ]:  # fmt: skip
        assert hasattr(package, name), name
    from caraml.zmq.communicator import ZmqReceiver, ZmqSender, ZmqSocket, ZmqTimeoutError  # noqa: F401
    from caraml.zmq.inmem_data_fetcher import DataFetcher, DataFetcherWorker  # noqa: F401
    from caraml.zmq.proxy import ZmqProxy, ZmqProxyProcess, ZmqProxyThread  # noqa: F401

    assert str(ZmqTimeoutError()) == "Request Timed Out"


def test_zmq_socket_binds_on_establish_and_exposes_address_host_port_and_the_raw_socket():
    sock = ZmqSocket(host="localhost", port=0, socket_mode="PULL", bind=True, verbose=False)
    assert not sock.established and sock.host == HOST
    sock.setsockopt(zmq.RCVHWM, 7)  # delegated to the zmq socket before establish()
    assert sock.establish() is sock and sock.established
    assert sock.port > 0 and sock.address == f"tcp://{HOST}:{sock.port}" and sock.socket_type == "PULL"
    raw = sock.unwrap()
    assert isinstance(raw, zmq.Socket) and raw.getsockopt(zmq.RCVHWM) == 7
    with ZmqPusher(host=HOST, port=sock.port, serializer="pickle") as pusher:
        pusher.push({"a": 1})
        sock.rcvtimeo = 5000
        assert pickle.loads(sock.recv()) == {"a": 1}
    sock.close()
    assert sock.closed


def test_zmq_socket_refuses_what_0x_refused():
    with pytest.raises(TypeError, match="bind"):
        ZmqSocket(host="tcp//tcp://123.123.123.123", port=1234, socket_mode="PUSH")
    with pytest.raises(ValueError, match="Cannot parse address"):
        ZmqSocket(host="tcp//tcp://123.123.123.123", port=1234, socket_mode="PUSH", bind=True)
    with pytest.raises(ValueError, match="unknown socket_mode 'PUSHY'"):
        ZmqSocket(port=1234, socket_mode="PUSHY", bind=False)


def test_client_socket_is_the_live_socket_and_follows_its_replacement_after_a_timeout():
    server = ZmqServer(host=HOST, port=0, serializer="pickle", deserializer="pickle")
    client = ZmqClient(host=HOST, port=server.port, timeout=0.2, serializer="pickle", deserializer="pickle")
    first = client.socket
    assert (first.address, first.host, first.port) == (server.address, HOST, server.port)
    assert first.unwrap() is client.socket.unwrap() and not first.closed
    with pytest.raises(ZmqTimeoutError):
        client.request("unanswered")
    assert first.closed and not client.socket.closed and client.socket.port == server.port
    client.close()
    server.close()


def test_callback_sees_the_socket_before_it_connects_and_can_set_options():
    seen = []

    def callback(sock):
        seen.append((sock.established, sock.socket_type))
        sock.setsockopt(zmq.SNDHWM, 3)

    with ZmqPusher(host=HOST, port=free_port(), callback=callback) as pusher:
        assert seen == [(False, "PUSH")]
        assert pusher.socket.getsockopt(zmq.SNDHWM) == 3


def test_pairing_errors_are_still_value_errors():
    with ZmqServer(port=0) as server, pytest.raises(ValueError, match="call recv\\(\\) first"):
        server.send("no request")
    assert issubclass(ZmqPairingError, ValueError)


def test_pyarrow_is_refused_in_one_line_naming_pickle():
    for make in (
        lambda: ZmqClient(port=1, serializer="pyarrow"),
        lambda: ZmqServer(port=0, deserializer="PyArrow"),
        lambda: DataFetcher(lambda request, response: None, HOST, 1, [], 0, remote_serializer="pyarrow"),
        lambda: get_serializer("pyarrow"),
        lambda: pa_serialize([1]),
    ):
        with pytest.raises(ValueError, match="serializer='pyarrow' is gone") as info:
            make()
        assert "'pickle'" in str(info.value) and "\n" not in str(info.value)


def test_caraml_utils_serializer_keeps_its_0x_meaning():
    assert get_serializer(None)(b"as is") == b"as is"
    assert get_deserializer("pickle")(get_serializer("PICKLE")({"x": [1]})) == {"x": [1]}
    assert get_deserializer("json")(get_serializer("json")({"x": 1})) == {"x": 1}
    assert get_serializer("str")("é") == "é".encode()
    assert len(pyobj_hash({"x": 1}, "pickle")) == 16
    with pytest.raises(ValueError, match="callable or one of"):
        get_serializer("yaml")


# --- client/server, sender/receiver, push/pull, pub/sub across processes ----------------------


def test_0x_client_server_with_the_server_in_another_process():
    port = free_port()
    child = start_python(f"""
        from caraml.zmq import ZmqServer
        server = ZmqServer(host="{HOST}", port={port}, serializer="pickle", deserializer="pickle")
        for i in range(20):
            n = server.recv()
            server.send(n + 1)
    """)
    client = ZmqClient(host=HOST, port=port, serializer="pickle", deserializer="pickle")
    assert [client.request(i) for i in range(20)] == list(range(1, 21))
    finish(child)


def test_timeout_minus_one_waits_forever_and_a_positive_timeout_recovers():
    port = free_port()
    child = start_python(f"""
        import time
        from caraml.zmq.communicator import ZmqServer
        server = ZmqServer(host="{HOST}", port={port}, serializer="pickle", deserializer="pickle")
        while True:
            req = server.recv()
            if req == "slow":
                time.sleep(0.6)
            server.send("received-" + req)
            print("answered", req, flush=True)
            if req == "last":
                break
    """)
    patient = ZmqClient(host=HOST, port=port, timeout=-1, serializer="pickle", deserializer="pickle")
    assert patient.timeout is None and patient.request("slow") == "received-slow"
    assert child.stdout.readline() == "answered slow\n"
    hasty = ZmqClient(host=HOST, port=port, timeout=0.3, serializer="pickle", deserializer="pickle")
    with pytest.raises(ZmqTimeoutError):
        hasty.request("slow")
    assert child.stdout.readline() == "answered slow\n"  # the server is done with the abandoned request
    assert hasty.request("last") == "received-last"
    finish(child)


def test_sender_and_receiver_across_processes_in_order():
    port = free_port()
    child = start_python(f"""
        from caraml.zmq import ZmqSender
        sender = ZmqSender(host="{HOST}", port={port}, serializer="pickle")
        for i in range(20):
            sender.send(i)
    """)
    receiver = ZmqReceiver(host=HOST, port=port, deserializer="pickle", timeout=10)
    assert [receiver.recv() for _ in range(20)] == list(range(20))
    finish(child)
    receiver.close()


def test_receiver_loop_acknowledges_before_its_handler_runs():
    received = []
    receiver = ZmqReceiver(port=0, deserializer="pickle")
    receiver.start_loop(received.append)
    with ZmqSender(port=receiver.port, serializer="pickle", timeout=5) as sender:
        for i in range(5):
            sender.send(i)
        deadline = time.monotonic() + 5
        while len(received) < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
    receiver.close()
    assert received == list(range(5))


def test_a_sender_talking_to_a_plain_server_says_so():
    with ZmqServer(port=0) as server, ZmqSender(port=server.port, timeout=5) as sender:
        server.start_loop(lambda request: "not an ack")
        with pytest.raises(ValueError, match="instead of b'ack': the peer is not a ZmqReceiver"):
            sender.send("x")


def test_0x_push_pull_across_processes():
    port = free_port()
    # bound before the pusher starts: a pusher that connects, sends and closes before anything listens
    # keeps its messages only for its linger (1 s), which a loaded machine can outlast
    puller = ZmqPuller(host=HOST, port=port, deserializer="pickle", timeout=10)
    child = start_python(f"""
        from caraml.zmq import ZmqPusher
        pusher = ZmqPusher(host="{HOST}", port={port}, serializer="pickle")
        for i in range(20):
            pusher.push(i)
        pusher.close()
    """)
    assert [puller.pull() for _ in range(20)] == list(range(20))
    finish(child)
    puller.close()


def test_0x_sub_loop_hands_the_handler_the_data_of_its_topic_only():
    pub = ZmqPub(host=HOST, port=0, hwm=1000, serializer="pickle")
    got = []
    sub = ZmqSub(host=HOST, port=pub.port, topic="topic-1", hwm=1000, deserializer="pickle")
    sub.start_loop(got.append)
    deadline = time.monotonic() + 10
    while "connect" not in got and time.monotonic() < deadline:
        pub.pub("topic-1", "connect")
        time.sleep(0.02)
    for i in range(5):
        pub.pub("topic-2", -i)
        pub.pub("topic-1", i)
    while len([x for x in got if x != "connect"]) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    sub.close()
    pub.close()
    assert [x for x in got if x != "connect"] == list(range(5))


# --- proxies ---------------------------------------------------------------------------------


def test_0x_proxy_thread_router_dealer_with_sender_and_receiver():
    frontend, backend = free_port(), free_port()
    proxy = ZmqProxyThread(f"tcp://{HOST}:{frontend}", f"tcp://{HOST}:{backend}", pattern="router-dealer")
    proxy.start()
    assert proxy.daemon and proxy.is_alive()
    received = []
    receiver = ZmqReceiver(host=HOST, port=backend, bind=False, deserializer="pickle", timeout=10)
    thread = threading.Thread(target=lambda: received.extend(receiver.recv() for _ in range(6)))
    thread.start()
    with ZmqSender(host=HOST, port=frontend, serializer="pickle", timeout=10) as sender:
        for i in range(6):
            sender.send(i)
    thread.join()
    receiver.close()
    proxy.stop()
    assert received == list(range(6))


def test_0x_proxy_process_pull_push_between_processes():
    frontend, backend = free_port(), free_port()
    proxy = ZmqProxyProcess(f"tcp://{HOST}:{frontend}", f"tcp://{HOST}:{backend}", pattern="pull-push")
    proxy.start()
    assert proxy.pid != os.getpid() and proxy.is_alive()
    child = start_python(f"""
        from caraml.zmq import ZmqPusher
        with ZmqPusher(host="{HOST}", port={frontend}, serializer="pickle") as pusher:
            for i in range(6):
                pusher.push(i)
    """)
    with ZmqPuller(host=HOST, port=backend, bind=False, deserializer="pickle", timeout=10) as puller:
        assert [puller.pull() for _ in range(6)] == list(range(6))
    finish(child)
    proxy.stop()
    assert not proxy.running


def test_proxy_run_blocks_until_stopped_from_another_thread():
    proxy = ZmqProxy(f"tcp://{HOST}:{free_port()}", f"tcp://{HOST}:{free_port()}", None, pattern="pull-push")
    runner = threading.Thread(target=proxy.run)
    runner.start()
    deadline = time.monotonic() + 10
    while not proxy.running and time.monotonic() < deadline:
        time.sleep(0.01)
    assert runner.is_alive()
    proxy.stop()
    runner.join(10)
    assert not runner.is_alive()


# --- DataFetcher and caraml.inmemory ---------------------------------------------------------


def test_data_fetcher_fetches_through_worker_processes_and_memory_mapped_files():
    port = free_port()
    n = 9
    server = start_python(f"""
        import numpy as np
        from caraml.zmq import ZmqServer
        server = ZmqServer(host="{HOST}", port={port}, serializer="pickle", deserializer="pickle")
        for i in range({n}):
            req = server.recv()
            server.send(np.ones([200, 300]) * req)
    """)
    responses = [None] * n
    handled_in = set()

    def handler(request, response):
        responses[request] = response.data
        handled_in.add(os.getpid())

    fetcher = DataFetcher(
        handler=handler,
        remote_host=HOST,
        remote_port=port,
        requests=range(n),
        worker_comm_port=free_port(),
        remote_serializer="pickle",
        remote_deserialzer="pickle",
        n_workers=3,
        worker_handler=lambda data: data**2,
    )
    fetcher.start()
    fetcher.join(30)
    assert not fetcher.is_alive()
    finish(server)
    assert handled_in == {os.getpid()}
    for i in range(n):
        assert responses[i].shape == (200, 300) and np.all(responses[i] == i * i)
    assert fetcher.errors == [] and all(not worker.is_alive() for worker in fetcher.workers)


def test_inmemory_hands_arrays_to_another_process_through_a_mapped_file(tmp_path, monkeypatch):
    monkeypatch.setattr(caraml.inmemory, "TEMP_FOLDER", str(tmp_path))
    child = start_python(f"""
        import numpy as np
        import caraml.inmemory
        caraml.inmemory.TEMP_FOLDER = {str(tmp_path)!r}
        name = caraml.inmemory.inmem_serialize({{"obs": np.arange(100000, dtype=np.float32), "step": 3}})
        print(name.decode())
    """)
    name = finish(child).strip()
    assert os.path.dirname(name) == str(tmp_path)
    shared = caraml.inmemory.inmem_deserialize(name.encode())
    obs = shared.data["obs"]
    assert shared.data["step"] == 3 and np.array_equal(obs, np.arange(100000, dtype=np.float32))
    assert obs.ctypes.data % 64 == 0 and obs.flags.writeable  # a private, aligned view of the mapping
    obs[0] = -1.0  # copy-on-write: the file keeps its contents
    assert caraml.inmemory.inmem_deserialize(name).data["obs"][0] == 0.0
    shared.delete()
    assert not os.path.exists(name) and obs[1] == 1.0  # the array outlives the file


# --- the wire format 0.x peers speak ---------------------------------------------------------


def test_a_0x_pickle_client_talks_to_a_new_server_and_back():
    server = ZmqServer(port=0, serializer="pickle")
    server.start_loop(lambda request: {"echo": request})
    child = start_python(f"""
        import pickle, zmq
        sock = zmq.Context.instance().socket(zmq.REQ)
        sock.connect("{server.address}")
        sock.rcvtimeo = 10000
        for protocol in (2, 3, 4):  # 0.x called pickle.dumps with the interpreter's default
            sock.send(pickle.dumps([protocol, "x"], protocol=protocol))
            reply = sock.recv()
            assert not sock.rcvmore, "a 0.x client reads one frame"
            print(pickle.loads(reply))
    """)
    assert finish(child).splitlines() == [f"{{'echo': [{p}, 'x']}}" for p in (2, 3, 4)]
    server.close()


def test_a_0x_sender_and_publisher_reach_a_new_receiver_and_subscriber():
    receiver = ZmqReceiver(port=0, deserializer="pickle", timeout=10)
    pub_port = free_port()
    child = start_python(f"""
        import pickle, time, zmq
        context = zmq.Context.instance()
        sender = context.socket(zmq.REQ)
        sender.connect("{receiver.address}")
        sender.send(pickle.dumps("hello"))
        assert sender.recv() == b"ack"
        publisher = context.socket(zmq.PUB)
        publisher.bind("tcp://{HOST}:{pub_port}")
        for _ in range(300):
            publisher.send_multipart([b"news", pickle.dumps({{"n": 1}})])
            time.sleep(0.01)
    """)
    assert receiver.recv() == "hello"
    with ZmqSub(host=HOST, port=pub_port, topic="news", deserializer="pickle", timeout=10) as sub:
        assert sub.recv() == ("news", {"n": 1})
    child.kill()
    child.communicate()
    receiver.close()


def test_a_0x_peer_without_serializer_needs_raw_here():
    """0.x's serializer=None sent bytes as they were; caraml's default is pickle, 'raw' is the old one."""
    server = ZmqServer(port=0, serializer="raw")
    server.start_loop(lambda request: request.upper())
    child = start_python(f"""
        import zmq
        sock = zmq.Context.instance().socket(zmq.REQ)
        sock.connect("{server.address}")
        sock.rcvtimeo = 10000
        sock.send(b"plain bytes")
        print(sock.recv().decode())
    """)
    assert finish(child).strip() == "PLAIN BYTES"
    server.close()


def test_the_fast_paths_keep_multi_frame_messages_whole():
    """Small messages skip the zero-copy machinery; large buffers and arrays must still arrive intact."""
    with ZmqServer(port=0) as server, ZmqClient(port=server.port, timeout=10) as client:
        server.start_loop(lambda request: request)
        big = {"blob": b"x" * 100_000, "arr": np.arange(50_000.0), "small": np.arange(3)}
        reply = client.request(big)
        assert reply["blob"] == big["blob"] and np.array_equal(reply["arr"], big["arr"])
        assert np.array_equal(client.request(np.arange(20_000)), np.arange(20_000))
        assert client.request([np.zeros(10), "tiny"])[1] == "tiny"
        server.stop()

        def fail(request):
            raise KeyError("boom")

        server.start_loop(fail)
        with pytest.raises(ZmqRemoteError, match="boom"):
            client.request(1)
