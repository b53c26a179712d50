"""Helpers shared by the caraml tests: every socket binds to 127.0.0.1 on a port the OS picks."""

import socket
import time

import pytest

from caraml.zmq import ZmqServer, ZmqTimeoutError

# Generous for a loaded CI machine, yet each test stays well under a second normally.
RECEIVE_TIMEOUT = 5.0


@pytest.fixture
def echo_server():
    """A server on a free port whose loop replies with the request itself."""
    server = ZmqServer(port=0)
    server.start_loop(lambda request: request)
    yield server
    server.close()


@pytest.fixture
def ipv6_loopback():
    """Skip the test on a machine without an IPv6 loopback (::1) to bind to."""
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")


@pytest.fixture
def receive_until():
    """The :func:`_receive_until` helper, as a fixture so test files need no imports from here."""
    return _receive_until


def _receive_until(receive, condition, publish=lambda: None, deadline_seconds=RECEIVE_TIMEOUT):
    """Call ``publish`` and ``receive`` until ``condition(received)`` holds; return what came.

    Subscriptions take a moment to reach a publisher (zmq's "slow joiner"), so
    pub/sub tests keep publishing until the subscriber has what it needs.
    ``receive`` must time out quickly (raise ZmqTimeoutError) when nothing comes.
    """
    received = []
    deadline = time.monotonic() + deadline_seconds
    while not condition(received):
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met in {deadline_seconds} s; received {received!r}")
        publish()
        try:
            received.append(receive())
        except ZmqTimeoutError:
            pass
    return received
