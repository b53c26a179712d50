"""Port helpers shared by the host-backend launch benchmarks: a launch counts as done when
every server's port accepts a connection, the same test for Symphony and for the baseline."""

import socket
import time


def wait_until_listening(ports, timeout=600):
    """Return once every port on 127.0.0.1 accepts a connection; TimeoutError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    pending = set(ports)
    while pending:
        for port in list(pending):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                pending.discard(port)
            except OSError:
                pass
        if pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(pending)} ports never listened")
            time.sleep(0.002)


def free_ports(n):
    """``n`` distinct ports free on 127.0.0.1 now (for the baseline, which has no port allocator)."""
    sockets = [socket.socket() for _ in range(n)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports
