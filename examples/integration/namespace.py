"""What every process of the example prints first: its network namespace.

``examples/run.py`` checks from these lines that the processes of a group share
one network namespace (and, on container backends, that the groups and ``s0``
each have their own).
"""

import os


def network_namespace():
    """The namespace and the kernel it lives in: namespace numbers are unique only within one machine."""
    with open("/proc/sys/kernel/random/boot_id") as handle:
        return f"{os.readlink('/proc/self/ns/net')} on kernel {handle.read().strip()}"


def report(who):
    print(f"{who} network namespace: {network_namespace()}", flush=True)
