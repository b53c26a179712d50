import threading
import time

import pytest

from caraml.zmq import ZmqClient, ZmqPairingError, ZmqRemoteError, ZmqServer, ZmqTimeoutError

pytestmark = pytest.mark.timeout(30)


def test_request_gets_the_handlers_reply():
    with ZmqServer(port=0) as server, ZmqClient(port=server.port, timeout=5) as client:
        server.start_loop(lambda request: {"doubled": request * 2})
        assert client.request(21) == {"doubled": 42}
        assert client.request("ab") == {"doubled": "abab"}


def test_start_loop_returns_a_running_daemon_thread_that_stop_ends():
    server = ZmqServer(port=0)
    thread = server.start_loop(lambda request: request)
    assert isinstance(thread, threading.Thread) and thread.is_alive() and thread.daemon
    started = time.monotonic()
    server.stop()
    assert not thread.is_alive()
    assert time.monotonic() - started < 2
    server.close()


def test_start_loop_twice_is_refused(echo_server):
    with pytest.raises(RuntimeError, match="already running"):
        echo_server.start_loop(lambda request: request)


def test_a_blocking_loop_ends_when_the_handler_calls_stop():
    server = ZmqServer(port=0)

    def handler(request):
        if request == "stop":
            server.stop()
        return request

    client = ZmqClient(port=server.port, timeout=5)
    replies = []
    requester = threading.Thread(target=lambda: replies.extend([client.request("hello"), client.request("stop")]))
    requester.start()
    assert server.start_loop(handler, blocking=True) is None
    requester.join(5)
    assert replies == ["hello", "stop"]
    client.close()
    server.close()


def test_timeout_raises_and_the_client_stays_usable():
    client_gave_up = threading.Event()

    def handler(request):
        if request == "slow":
            client_gave_up.wait(10)  # answered only after the client timed out: a late reply
        return request

    with ZmqServer(port=0) as server, ZmqClient(port=server.port, timeout=0.2) as client:
        server.start_loop(handler)
        started = time.monotonic()
        with pytest.raises(ZmqTimeoutError, match="timed out after 0.2 s"):
            client.request("slow")
        assert 0.15 < time.monotonic() - started < 3
        client_gave_up.set()
        # The server answers in turn: once another client has its answer, the late reply to "slow"
        # has been sent. It must never be mistaken for the answer to what this client asks next.
        with ZmqClient(port=server.port, timeout=5) as other:
            assert other.request("after the late reply") == "after the late reply"
        client.timeout = 5  # what follows must succeed, however loaded the machine
        assert client.request("fast") == "fast"
        assert client.request("again") == "again"


def test_timeout_error_is_a_builtin_timeout_error():
    assert issubclass(ZmqTimeoutError, TimeoutError)


def test_timeout_without_any_server_then_recovery_once_one_binds():
    server = ZmqServer(port=0)
    port = server.port
    server.close()
    client = ZmqClient(port=port, timeout=0.2)
    with pytest.raises(ZmqTimeoutError, match="request timed out after 0.2 s"):
        client.request("nobody there")
    client.timeout = 5  # reconnecting may take a while on a loaded machine
    with ZmqServer(port=port) as server:
        server.start_loop(lambda request: ("ok", request))
        assert client.request("now") == ("ok", "now")
    client.close()


def test_send_without_a_pending_request_is_a_pairing_error():
    with ZmqServer(port=0) as server:
        with pytest.raises(ZmqPairingError, match=r"send\(\) called without a pending request"):
            server.send("unsolicited")
        with pytest.raises(ZmqPairingError, match=r"send_error\(\) called without a pending request"):
            server.send_error(ValueError("unsolicited"))


def test_recv_twice_is_a_pairing_error_and_the_request_can_still_be_answered():
    with ZmqServer(port=0, timeout=5) as server, ZmqClient(port=server.port, timeout=5) as client:
        replies = []
        requester = threading.Thread(target=lambda: replies.append(client.request("question")))
        requester.start()
        assert server.recv() == "question"
        with pytest.raises(ZmqPairingError, match=r"recv\(\) called while a request awaits its reply"):
            server.recv()
        with pytest.raises(ZmqPairingError, match=r"start_loop\(\) called while a request awaits its reply"):
            server.start_loop(lambda request: request)
        server.send("answer")
        requester.join(5)
        assert replies == ["answer"]


def test_server_recv_times_out():
    with ZmqServer(port=0, timeout=0.1) as server:
        with pytest.raises(ZmqTimeoutError, match="recv timed out after 0.1 s"):
            server.recv()
        with pytest.raises(ZmqPairingError, match="without a pending request"):  # nothing received, nothing to answer
            server.send("x")


def test_handler_error_reaches_the_client_and_the_server_keeps_serving():
    def handler(request):
        if request < 0:
            raise ValueError(f"negative request {request}")
        return request + 1

    with ZmqServer(port=0) as server, ZmqClient(port=server.port, timeout=5) as client:
        thread = server.start_loop(handler)
        with pytest.raises(ZmqRemoteError, match="ValueError: negative request -3") as caught:
            client.request(-3)
        assert caught.value.remote_type == "builtins.ValueError"
        assert caught.value.remote_message == "negative request -3"
        assert "in handler" in caught.value.remote_traceback
        assert "ValueError: negative request -3" in str(caught.value)
        assert client.request(1) == 2
        assert thread.is_alive()


def test_unpicklable_reply_becomes_a_remote_error():
    with ZmqServer(port=0) as server, ZmqClient(port=server.port, timeout=5) as client:
        server.start_loop(lambda request: (lambda: "cannot pickle a lambda") if request == "bad" else request)
        with pytest.raises(ZmqRemoteError, match="lambda"):
            client.request("bad")
        assert client.request("good") == "good"


def test_undecodable_request_becomes_a_remote_error():
    with ZmqServer(port=0) as server, ZmqClient(port=server.port, timeout=5, serializer="raw") as raw_client:
        server.start_loop(lambda request: request)
        with pytest.raises(ZmqRemoteError, match="UnpicklingError") as caught:
            raw_client.request(b"this is not a pickle")
        assert caught.value.remote_type == "_pickle.UnpicklingError"


def test_send_error_by_hand():
    with ZmqServer(port=0, timeout=5) as server, ZmqClient(port=server.port, timeout=5) as client:
        outcome = []

        def ask():
            try:
                client.request("anything")
            except ZmqRemoteError as error:
                outcome.append(error)

        requester = threading.Thread(target=ask)
        requester.start()
        server.recv()
        server.send_error(PermissionError("not for you"))
        requester.join(5)
        assert outcome[0].remote_type == "builtins.PermissionError"
        assert outcome[0].remote_message == "not for you"


def test_many_clients_one_server(echo_server):
    clients = [ZmqClient(port=echo_server.port, timeout=5) for _ in range(4)]
    results = {}

    def ask(index, client):
        results[index] = [client.request((index, n)) for n in range(50)]

    threads = [threading.Thread(target=ask, args=(index, client)) for index, client in enumerate(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert results == {index: [(index, n) for n in range(50)] for index in range(4)}
    for client in clients:
        client.close()


def test_an_unencodable_request_fails_locally_and_the_client_stays_usable(echo_server):
    with ZmqClient(port=echo_server.port, timeout=5) as client:
        with pytest.raises(Exception, match="lambda"):
            client.request(lambda: "cannot pickle a lambda")
        assert client.request("still fine") == "still fine"


def test_an_empty_raw_reply_is_not_mistaken_for_an_error():
    with (
        ZmqServer(port=0, serializer="raw") as server,
        ZmqClient(port=server.port, serializer="raw", timeout=5) as client,
    ):
        server.start_loop(lambda request: b"")
        assert client.request(b"anything") == b""


def test_the_loop_gives_the_server_its_own_timeout_back():
    with ZmqServer(port=0, timeout=0.3) as server:
        server.start_loop(lambda request: request)
        server.stop()
        started = time.monotonic()
        with pytest.raises(ZmqTimeoutError, match="recv timed out after 0.3 s"):
            server.recv()
        assert time.monotonic() - started > 0.25  # not the loop's 50 ms stop-check interval


def test_a_binding_client_rebinds_the_same_address_after_a_timeout():
    client = ZmqClient(port=0, bind=True, timeout=0.2)
    address = client.address
    with pytest.raises(ZmqTimeoutError, match="request timed out after 0.2 s"):
        client.request("nobody connected yet")
    assert client.address == address
    client.timeout = 5
    with ZmqServer(address=address, bind=False) as server:
        server.start_loop(lambda request: request * 2)
        assert client.request(21) == 42
    client.close()


class Unprintable(Exception):
    def __str__(self):
        raise RuntimeError("__str__ fails")


class Unrepresentable(Unprintable):
    def __repr__(self):
        raise RuntimeError("__repr__ fails")


@pytest.mark.parametrize(
    "error, expected_message",
    [(Unprintable("detail"), "Unprintable('detail')"), (Unrepresentable(), "<unprintable Unrepresentable object>")],
    ids=["str-fails", "str-and-repr-fail"],
)
def test_an_unprintable_handler_error_still_reaches_the_client(error, expected_message):
    def handler(request):
        if request == "fail":
            raise error
        return request

    with ZmqServer(port=0) as server, ZmqClient(port=server.port, timeout=5) as client:
        thread = server.start_loop(handler)
        with pytest.raises(ZmqRemoteError, match=type(error).__qualname__) as caught:
            client.request("fail")
        assert caught.value.remote_type.endswith(f".{type(error).__qualname__}")
        assert caught.value.remote_message == expected_message
        assert client.request("still serving") == "still serving"
        assert thread.is_alive()


def exit_handler(stop_exception):
    """A handler that raises ``stop_exception`` on "exit" and echoes anything else."""

    def handler(request):
        if request == "exit":
            raise stop_exception
        return request

    return handler


STOP_EXCEPTIONS = pytest.mark.parametrize(
    "stop_exception", [SystemExit(3), KeyboardInterrupt()], ids=["sys.exit", "KeyboardInterrupt"]
)


@STOP_EXCEPTIONS
def test_a_handler_asking_to_exit_is_answered_and_ends_the_loop_thread(stop_exception, monkeypatch):
    ended_with = []
    monkeypatch.setattr(threading, "excepthook", lambda hook_args: ended_with.append(hook_args.exc_type))
    with ZmqServer(port=0) as server, ZmqClient(port=server.port, timeout=5) as client:
        thread = server.start_loop(exit_handler(stop_exception))
        with pytest.raises(ZmqRemoteError, match=type(stop_exception).__name__) as caught:
            client.request("exit")
        assert caught.value.remote_type == f"builtins.{type(stop_exception).__name__}"
        thread.join(5)
        assert not thread.is_alive()
        assert ended_with == [type(stop_exception)]  # it propagated out of the loop
        server.start_loop(exit_handler(stop_exception))  # no request is left awaiting a reply
        assert client.request("again") == "again"


@STOP_EXCEPTIONS
def test_a_blocking_loop_answers_then_raises_what_the_handler_raised(stop_exception):
    with ZmqServer(port=0) as server, ZmqClient(port=server.port, timeout=5) as client:
        outcome = []

        def ask():
            try:
                client.request("exit")
            except ZmqRemoteError as error:
                outcome.append(error)

        requester = threading.Thread(target=ask)
        requester.start()
        with pytest.raises(type(stop_exception)):
            server.start_loop(exit_handler(stop_exception), blocking=True)
        requester.join(5)
        assert outcome[0].remote_type == f"builtins.{type(stop_exception).__name__}"
        server.start_loop(exit_handler(stop_exception))
        assert client.request("again") == "again"
