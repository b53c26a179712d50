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
    """``n`` distinct ports free on 127.0.0.1 now, for a baseline, which has no port allocator: picked as
    Symphony picks its own, at random below the kernel's ephemeral range. A port the kernel hands out
    (to ``wait_until_listening``'s polls, to other programs' connections) could be taken before the
    baseline's program binds it, and that program would never listen."""
    import random

    from symphony.host.ports import port_is_free, port_range
    low, high = port_range()
    ports = set()
    while len(ports) < n:
        port = random.randint(low, high)
        if port not in ports and port_is_free(port):
            ports.add(port)
    return list(ports)
