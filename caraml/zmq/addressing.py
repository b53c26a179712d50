"""Turn what the user said (address, host/port or a service name) into a ZeroMQ endpoint.

Service names
-------------
Symphony tells every process it starts where each service of the experiment
lives, through environment variables named after the service (upper-cased,
``-`` replaced by ``_``)::

    SYMPH_REPLAY_SERVER_HOST=10.0.0.7
    SYMPH_REPLAY_SERVER_PORT=7001

A connecting role given ``service='replay-server'`` connects to
``tcp://$SYMPH_REPLAY_SERVER_HOST:$SYMPH_REPLAY_SERVER_PORT``.

A binding role must listen on its own machine rather than at the address others
use to reach it, and where that is depends on the backend: Symphony sets
``SYMPH_BIND_HOST`` in every process (``127.0.0.1`` on the local and tmux
backends, ``0.0.0.0`` inside containers). A binding role given a service binds
``tcp://$SYMPH_BIND_HOST:$SYMPH_<NAME>_PORT``, and falls back to the
``_HOST`` value when ``SYMPH_BIND_HOST`` is absent.

A missing variable raises :class:`ZmqServiceNotFound` naming the service and
the variables looked for.
"""

from __future__ import annotations

import ipaddress
import os
import socket

from caraml.zmq.errors import ZmqServiceNotFound

BIND_HOST_VARIABLE = "SYMPH_BIND_HOST"
DEFAULT_HOST = "127.0.0.1"


def service_variables(service: str) -> tuple[str, str]:
    """The ``(host, port)`` environment variable names Symphony sets for ``service``."""
    stem = "SYMPH_" + service.upper().replace("-", "_")
    return stem + "_HOST", stem + "_PORT"


def resolve_address(
    *,
    host: str | None = None,
    port: int | str | None = None,
    address: str | None = None,
    service: str | None = None,
    bind: bool,
) -> str:
    """Return the ZeroMQ endpoint (``'tcp://1.2.3.4:5'``) to bind or connect to.

    Exactly one of ``address``, ``port`` (with an optional ``host``, default
    127.0.0.1) or ``service`` must be given. ``port=0`` with ``bind=True`` asks
    the OS for a free port. An IPv6 ``host`` is put in brackets
    (``tcp://[::1]:5``). Addresses without a scheme are taken as tcp.

    Raises:
        ValueError: where to go is missing, said twice, or not a valid port,
            naming the argument or environment variable at fault.
    """
    # Before the count, which would otherwise answer host= alone with "got none".
    if host is not None and port is None:
        raise ValueError("host= needs port= as well (or use address='tcp://host:port')")
    given = [name for name, value in (("address", address), ("port", port), ("service", service)) if value is not None]
    if len(given) != 1:
        raise ValueError(f"give exactly one of address=, port= (with host=) or service=; got {given or 'none'}")
    if service is not None:
        host, port = _service_host_and_port(service, bind)
    elif port is not None:
        port = _checked_port(port, "port=", bind)
    if address is None:
        address = f"{host or DEFAULT_HOST}:{port}"
    if "://" not in address:
        address = "tcp://" + address
    if address.startswith("tcp://"):
        address = _normalise_tcp(address, bind)
    return address


def _service_host_and_port(service: str, bind: bool) -> tuple[str, str]:
    host_variable, port_variable = service_variables(service)
    if bind:
        host = os.environ.get(BIND_HOST_VARIABLE) or os.environ.get(host_variable)
        host_looked_for = f"{BIND_HOST_VARIABLE} or {host_variable}"
    else:
        host = os.environ.get(host_variable)
        host_looked_for = host_variable
    port = os.environ.get(port_variable)
    missing = [name for name, value in ((host_looked_for, host), (port_variable, port)) if not value]
    if missing:
        raise ZmqServiceNotFound(
            f"service {service!r} has no address: environment variable(s) {', '.join(missing)} "
            f"not set (Symphony sets {host_variable} and {port_variable} for processes that use "
            f"{service!r}; outside Symphony set them yourself or pass host=/port=)"
        )
    return host, _checked_port(port, f"environment variable {port_variable}", bind)


def _checked_port(port: int | str, source: str, bind: bool) -> int:
    """``port`` as a number zmq accepts, or a ValueError naming ``source``, where the user wrote it.

    zmq itself answers a bad port with a bare "Invalid argument", or not at all
    for a connect; port 0 (the OS picks a free port) only makes sense for bind.
    """
    lowest = 0 if bind else 1
    if isinstance(port, str):
        number = int(port) if port.isascii() and port.isdigit() else None
    else:
        number = port if isinstance(port, int) and not isinstance(port, bool) else None
    if number is None or not lowest <= number <= 65535:
        hint = " (0 asks the OS for a free port, which only a binding socket can use)" if number == 0 else ""
        raise ValueError(f"{source} must be a port number from {lowest} to 65535, got {port!r}{hint}")
    return number


def _normalise_tcp(address: str, bind: bool) -> str:
    """Replace a host name by an IP (zmq's tcp bind accepts only IPs, interfaces or ``*``), bracket IPv6.

    ``localhost`` is always mapped to 127.0.0.1, also for connect, so that both
    sides agree on IPv4 whatever the resolver would say.
    """
    host, separator, port = address[len("tcp://") :].rpartition(":")
    if not separator:
        raise ValueError(f"tcp address {address!r} has no port")
    if not (bind and port == "*"):  # zmq's own spelling of "any free port" when binding
        _checked_port(port, f"the port of address {address!r}", bind)
    if host == "localhost":
        host = DEFAULT_HOST
    elif ":" in host and not host.startswith("[") and _is_ip(host):
        host = f"[{host}]"  # zmq reads tcp://::1:5 as host ':' and fails with "No such device"
    elif bind and host != "*" and not _is_ip(host):
        try:
            host = socket.gethostbyname(host)
        except OSError:
            pass  # not a host name: zmq may still know it as an interface name (eth0)
    return f"tcp://{host}:{port}"


def is_ipv6(address: str) -> bool:
    """Whether ``address`` is a tcp endpoint at an IPv6 literal, which zmq reaches only with its ipv6 option on."""
    return address.startswith("tcp://[")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
