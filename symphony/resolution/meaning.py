"""What a planned process will do, read back from a backend's plan in one shape.

Every plan offers ``process_meanings()``: it reads its own engine objects (argv, the
container's entrypoint and command, Kubernetes' escaped ``$$``, Docker's nano-CPUs) back
into a :class:`ProcessMeaning`. Comparing these across backends is how parity is checked
— from what each backend would really send, not from what it was given.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, NamedTuple, Optional, Tuple

from ..spec import quantities

if TYPE_CHECKING:
    from .resolved import ResolvedCheck, ResolvedWait


class CheckMeaning(NamedTuple):
    """A readiness check as an engine would run it; the host aside (a kubelet probes the pod itself,
    a supervisor the address every process gets), everything a check decides."""

    service: str
    kind: str                     # tcp | http | command
    port: int
    path: Optional[str]
    argv: Tuple[str, ...]
    interval: float
    timeout: float
    failure_threshold: int


class WaitMeaning(NamedTuple):
    """A held start as an engine would perform it."""

    service: str
    provider: str
    timeout: float
    on_timeout: str


def check_meaning(check: "ResolvedCheck") -> CheckMeaning:
    return CheckMeaning(check.service, check.kind, check.port, check.path, tuple(check.argv), check.interval,
                        check.timeout, check.failure_threshold)


def wait_meaning(wait: "ResolvedWait") -> WaitMeaning:
    return WaitMeaning(wait.service, wait.provider, wait.timeout, wait.on_timeout)


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
    #: the readiness checks of the services it provides, as the plan will run them (its engine's
    #: probes, or its supervisor's); None where the plan does not read them back yet
    checks: Optional[List[CheckMeaning]] = None
    #: the services it is held for before starting, as the plan will hold it; None as for ``checks``
    waits: Optional[List[WaitMeaning]] = None


def normalized_resources(resources: Mapping[str, Mapping[str, Any]]) -> Dict[str, Dict[str, float]]:
    """The model's quantities (``'500m'``, ``'2G'``, ``1``) as numbers: cores, bytes, devices."""
    units: Dict[str, Callable[[Any], float]] = {"cpu": quantities.cpu_cores, "memory": quantities.memory_bytes,
                                                 "gpu": float}
    return {kind: {name: float(units[name](value)) for name, value in amounts.items()}
            for kind, amounts in resources.items() if amounts}
