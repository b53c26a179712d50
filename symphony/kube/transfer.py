"""``symphony scp`` on Kubernetes: ``kubectl cp`` between this machine and one process's container."""

import os
import subprocess

from ..errors import SymphonyError


def copy(kubectl, locate, experiment, source, destination):
    """Copy ``source`` to ``destination`` (each ``(process or None, path)``, exactly one of them a
    process); returns the destination as given to kubectl.

    ``kubectl(*args)`` is the kubectl argv for the cluster; ``locate(process)`` is
    ``(pod, container, key)`` of one of the experiment's processes.
    """
    if (source[0] is None) == (destination[0] is None):
        raise SymphonyError("scp copies between this machine and one process: give exactly one side as "
                            "<process>:<path>")
    ends, container = [], None
    for process, path in (source, destination):
        if process is None:
            ends.append(os.path.expanduser(path))
        else:
            pod, container, _ = locate(process)
            ends.append(f"{experiment}/{pod}:{path}")
    code = subprocess.call(kubectl("cp", "-c", container, *ends))
    if code != 0:
        raise SymphonyError(f"kubectl cp {' '.join(ends)} failed (exit {code})")
    return ends[1]
