"""Which ports are free on one node (the driver cannot tell from its own node), asked of the first step's
runner on each node (``runner.py --probe``) and of the driver itself for its own node.

``python -I -S probe.py LOW HIGH COUNT [FIXED...]`` prints one JSON line: ``free``, COUNT
ports between LOW and HIGH (the driver's ``SYMPHONY_PORT_RANGE``) a server could bind on
every interface of this node now, and ``busy``, the FIXED ports that are not. Run by path
with the standard library only, as the runner is: a launch waits for it on every node.
"""

import json
import random
import socket
import sys


def main(argv):
    low, high, count, *fixed = (int(word) for word in argv)
    print(json.dumps(probe(count, fixed, (low, high))), flush=True)
    return 0


def bindable(port):
    """Whether a server could bind ``0.0.0.0:port`` now (the check of symphony.host.ports.port_is_free)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def probe(count, fixed, port_range):
    """``{'free': [COUNT free ports], 'busy': [the FIXED ports taken]}`` on this node."""
    busy = [port for port in fixed if not bindable(port)]
    low, high = port_range
    free = []
    for _ in range(50 * count + 100):
        if len(free) >= count:
            break
        port = random.randint(low, high)
        if port not in free and port not in fixed and bindable(port):
            free.append(port)
    return {"free": free, "busy": busy}


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
