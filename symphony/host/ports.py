"""Port choice for backends that share this host's network (local, tmux).

Two experiments launched at the same moment from two terminals must never get the
same port. Choosing a port that is free *now* is not enough (both would see it
free), so every choice is also reserved in the shared SQLite state inside the
same ``BEGIN IMMEDIATE`` transaction that records the experiment: the second
launch waits for the first one's transaction and then sees its reservations.

Ports are picked at random from ``SYMPHONY_PORT_RANGE`` (default 20000-32767),
below Linux's ephemeral range so outgoing connections do not steal them.
"""

import os
import random
import socket

from ..errors import PortUnavailableError, SymphonyError

DEFAULT_RANGE = (20000, 32767)


def port_range():
    text = os.environ.get("SYMPHONY_PORT_RANGE")
    if not text:
        return DEFAULT_RANGE
    try:
        low, high = (int(part) for part in text.split("-"))
    except ValueError:
        raise SymphonyError(f"SYMPHONY_PORT_RANGE={text!r} is invalid: write it as LOW-HIGH, e.g. 20000-32767") from None
    if not 1 <= low < high <= 65535:
        raise SymphonyError(f"SYMPHONY_PORT_RANGE={text!r} is invalid: need 1 <= LOW < HIGH <= 65535")
    return low, high


def port_is_free(port, host="127.0.0.1"):
    """True if a server could bind ``host:port`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


class HostAddressing:
    """Addressing rule for processes on this host: 127.0.0.1 and reserved free ports.

    With a ``store`` and ``reserve=True`` (call inside ``store.transaction()``), the
    chosen ports are recorded for ``experiment`` so concurrent launches avoid them.
    ``replacing=True`` plans a forced relaunch (dry run): the ports the running
    experiment of that name holds count as free, since the launch deletes it first.
    """

    def __init__(self, store, backend, experiment, reserve=False, bind_host="127.0.0.1", replacing=False):
        self.store, self.backend, self.experiment, self.reserve = store, backend, experiment, reserve
        self.replacing = replacing
        #: where servers listen (SYMPH_BIND_HOST): loopback unless the user asks for more
        self.bind_host = bind_host

    def host_for(self, service, process):
        return "127.0.0.1"

    def assign_ports(self, fixed, wanted):
        reserved = self.store.reserved_ports()
        held = set()
        if self.replacing:
            held = reserved - self.store.reserved_ports(excluding=(self.backend, self.experiment))
            reserved -= held
        for service, port in fixed.items():
            if port in reserved or (port not in held and not port_is_free(port)):
                raise PortUnavailableError(
                    f"fixed port {port} of service {service!r} is already in use on this machine: "
                    f"choose another port, or stop what listens on it")
        ports = dict(fixed)
        taken = reserved | set(fixed.values())
        low, high = port_range()
        for service in wanted:
            ports[service] = self._pick(taken, low, high)
            taken.add(ports[service])
        if self.reserve:
            self.store.reserve_ports(self.backend, self.experiment, ports)
        return ports

    @staticmethod
    def _pick(taken, low, high):
        for _ in range(1000):
            port = random.randint(low, high)
            if port not in taken and port_is_free(port):
                return port
        raise PortUnavailableError(f"no free port found in {low}-{high}: widen SYMPHONY_PORT_RANGE or delete old experiments")
