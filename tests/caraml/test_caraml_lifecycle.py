import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from caraml.zmq import ZmqClient, ZmqPub, ZmqPull, ZmqPush, ZmqServer, ZmqSub

pytestmark = pytest.mark.timeout(60)

REPOSITORY = Path(__file__).resolve().parents[2]


def run_python(code, timeout):
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPOSITORY,
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize("socket_class", [ZmqClient, ZmqServer, ZmqPush, ZmqPull, ZmqPub, ZmqSub])
def test_context_manager_closes_the_socket(socket_class):
    bind = socket_class in (ZmqServer, ZmqPull, ZmqPub)
    with socket_class(port=0 if bind else 1) as endpoint:
        assert not endpoint.closed
    assert endpoint.closed
    endpoint.close()  # closing twice is harmless


def test_closing_a_server_stops_its_loop():
    server = ZmqServer(port=0)
    thread = server.start_loop(lambda request: request)
    server.close()
    assert server.closed and not thread.is_alive()


def test_a_closed_port_can_be_bound_again():
    with ZmqPull(port=0) as first:
        port = first.port
    deadline = time.monotonic() + 5
    while True:  # the OS may take a moment to release the port
        try:
            second = ZmqPull(port=port)
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    second.close()


def test_no_hang_at_interpreter_exit():
    """A process that leaves everything open, with messages nobody will read, must still exit."""
    result = run_python(
        """
        import time

        from caraml.zmq import ZmqClient, ZmqProxy, ZmqPub, ZmqPull, ZmqPush, ZmqServer, ZmqSub

        if __name__ == "__main__":
            server = ZmqServer(port=0)
            server.start_loop(lambda request: request)
            client = ZmqClient(port=server.port, timeout=5)
            assert client.request("hi") == "hi"
            stuck_client = ZmqClient(address="tcp://127.0.0.1:1", timeout=0.1)
            try:
                stuck_client.request("nobody answers")
            except TimeoutError:
                pass
            pull = ZmqPull(port=0)
            nobody = ZmqPull(port=0)
            nobody_port = nobody.port
            nobody.close()
            push = ZmqPush(port=nobody_port)
            for _ in range(100):
                push.push(b"x" * 1000)  # queued forever: nobody listens
            pub = ZmqPub(port=0)
            sub = ZmqSub(port=pub.port, topic="t")
            pub.pub("t", "data")
            thread_proxy = ZmqProxy(frontend=0, backend=0)
            thread_proxy.start()
            process_proxy = ZmqProxy(frontend=0, backend=0, pattern="xsub-xpub")
            process_proxy.start_in_process()
            print(time.monotonic())  # the clock is system-wide, so the parent can compare
        """,
        timeout=30,
    )
    exited = time.monotonic()
    assert result.returncode == 0, result.stderr
    assert exited - float(result.stdout) < 5, "the interpreter took too long to exit"


def test_importing_caraml_does_not_import_numpy():
    result = run_python(
        """
        import sys
        import caraml, caraml.zmq
        print("numpy" in sys.modules)
        """,
        timeout=30,
    )
    assert result.stdout.strip() == "False", result.stderr
