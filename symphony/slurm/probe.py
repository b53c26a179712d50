"""A short step on one node: which ports are free *there* (the driver cannot tell from its own node).

``python -m symphony.slurm.probe COUNT [FIXED...]`` prints one JSON line: ``free``, COUNT
ports of ``SYMPHONY_PORT_RANGE`` a server could bind on every interface of this node now,
and ``busy``, the FIXED ports that are not.
"""

import json
import random
import sys

from ..host.ports import port_is_free, port_range


def main(argv):
    print(json.dumps(probe(int(argv[0]), [int(port) for port in argv[1:]])), flush=True)
    return 0


def probe(count, fixed):
    """``{'free': [COUNT free ports], 'busy': [the FIXED ports taken]}`` on this node."""
    busy = [port for port in fixed if not port_is_free(port, "0.0.0.0")]
    low, high = port_range()
    free = []
    for _ in range(50 * count + 100):
        if len(free) >= count:
            break
        port = random.randint(low, high)
        if port not in free and port not in fixed and port_is_free(port, "0.0.0.0"):
            free.append(port)
    return {"free": free, "busy": busy}


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
