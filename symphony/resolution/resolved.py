"""The resolved experiment: every decision a backend needs, already made.

A backend translates these values into its engine's objects and decides nothing about
their meaning: the argv (or the image's entrypoint), the whole environment, effective
resources and mounts (group defaults applied), labels, restart policy, image, cwd,
ports and pod membership are all here.
"""

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from ..spec.commands import Launch
from .addresses import AddressBook
from .capabilities import Capabilities

if TYPE_CHECKING:
    from ..spec.model import ExperimentSpec, ProcessSpec


@dataclass
class ResolvedProcess:
    key: str                      # group/name or name: unique in the experiment
    name: str
    group: str                    # "" for a standalone process
    pod: str                      # what shares a network namespace: the group, or the process itself
    position: int                 # declaration order (standalone processes first)
    launch: Launch
    env: Dict[str, str]           # everything the process receives, SYMPH_* last (nothing overrides them)
    cwd: Optional[str]            # a directory of this machine on host backends, of the image in containers
    image: Optional[str]          # the image run (the tag built on launch, if any); None on host backends
    pull_policy: Optional[str]
    resources: Dict[str, Dict[str, Any]]   # {'requests': {cpu, memory, gpu}, 'limits': {...}}
    mounts: List[Dict[str, Any]]           # the model's mounts, group's first
    bound: Dict[str, int]         # service -> port this process listens on
    exposed: Dict[str, int]       # service -> port, reachable from outside the experiment
    container_yml: List[Dict[str, Any]]    # overlays, in order: the group's, then the process's
    restart_policy: str           # its pod's
    spec: "ProcessSpec" = field(repr=False)

    @property
    def argv(self) -> List[str]:
        return self.launch.argv

    @property
    def ports(self) -> List[int]:
        return list(self.bound.values()) + list(self.exposed.values())


@dataclass
class ResolvedPod:
    """What shares a network namespace and is scheduled together: a group, or one standalone process."""

    name: str
    group: Optional[str]          # the group's name, None for a standalone process
    position: int
    processes: List[ResolvedProcess]
    restart_policy: str
    labels: Dict[str, str]
    node_selectors: Dict[str, str]
    tolerations: List[Dict[str, Any]]
    image_pull_secrets: List[str]
    pod_yml: Dict[str, Any]


@dataclass
class ResolvedExperiment:
    name: str
    backend: str
    capabilities: Capabilities
    addresses: AddressBook
    pods: List[ResolvedPod]
    processes: List[ResolvedProcess]          # declaration order: standalone ones first, then each group's
    secrets: List[Tuple[str, str]]            # (file name, absolute path on this machine)
    secrets_dir: Optional[str]                # where processes find them ($SYMPH_SECRETS_DIR)
    #: settings this backend does not apply, one line each with the reason (the plan shows them)
    not_applied: List[str] = field(default_factory=list)
    spec: "ExperimentSpec" = field(default=None, repr=False)  # type: ignore[assignment]

    def ports(self) -> Dict[str, int]:
        return self.addresses.ports()
