"""What a planned process will do, read back from a backend's plan in one shape.

Every plan offers ``process_meanings()``: it reads its own engine objects (argv, the
container's entrypoint and command, Kubernetes' escaped ``$$``, Docker's nano-CPUs) back
into a :class:`ProcessMeaning`. Comparing these across backends is how parity is checked
— from what each backend would really send, not from what it was given.
"""

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from ..spec import quantities


@dataclass
class ProcessMeaning:
    argv: List[str]                     # what runs: after the image's entrypoint when that is kept
    keeps_image_entrypoint: bool
    env: Dict[str, str]
    cwd: Optional[str]                  # None: the image's (or the launcher's) own
    image: Optional[str]
    #: {'requests': {...}, 'limits': {...}} in cores, bytes and devices; None where resources are not applied
    resources: Optional[Dict[str, Dict[str, float]]]
    restart_policy: str
    #: (path in the container, read-only) of the declared mounts (not the secrets directory); None where not applied
    mounts: Optional[List[Tuple[str, bool]]] = None
    #: the user's labels on what runs the process (Symphony's own aside); None where there are none
    labels: Optional[Dict[str, str]] = None


def normalized_resources(resources: Mapping[str, Mapping[str, Any]]) -> Dict[str, Dict[str, float]]:
    """The model's quantities (``'500m'``, ``'2G'``, ``1``) as numbers: cores, bytes, devices."""
    units: Dict[str, Callable[[Any], float]] = {"cpu": quantities.cpu_cores, "memory": quantities.memory_bytes,
                                                 "gpu": float}
    return {kind: {name: float(units[name](value)) for name, value in amounts.items()}
            for kind, amounts in resources.items() if amounts}
