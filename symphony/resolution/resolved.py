"""The resolved experiment: every decision a backend needs, already made.

A backend translates these values into its engine's objects and decides nothing about
their meaning: the argv (or the image's entrypoint), the whole environment, effective
resources and mounts (group defaults applied), labels, restart policy, image, cwd,
ports and pod membership are all here.
"""

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Tuple

from ..spec.commands import Launch
from .addresses import AddressBook
from .capabilities import Capabilities

if TYPE_CHECKING:
    from ..spec.model import ExperimentSpec, ProcessSpec


@dataclass(frozen=True)
class ResolvedCheck:
    """The readiness check of one service, with the address it reaches: what a supervisor probes,
    a Kubernetes readinessProbe says, or a waiting process's entrypoint polls.

    ``host`` is where other processes of the experiment reach the service (its address book
    entry: 127.0.0.1 on this machine, a container or Service name in containers); a check run
    beside the process (a kubelet, ``docker exec``) uses the port only.
    """

    service: str
    kind: str                     # tcp | http | command
    host: str
    port: int
    path: Optional[str]           # http: the path to GET
    argv: Tuple[str, ...]         # command: what runs, in the binding process's environment and cwd
    interval: float               # seconds between attempts
    timeout: float                # seconds one attempt may take
    failure_threshold: int        # failures in a row after which a ready service is not ready
    declared: bool                # False: the default check (the port accepts a TCP connection)

    def to_dict(self) -> Dict[str, Any]:
        """Plain data, for a plan written out as JSON (a supervisor reads it back with :meth:`from_dict`)."""
        return {"service": self.service, "kind": self.kind, "host": self.host, "port": self.port, "path": self.path,
                "argv": list(self.argv), "interval": self.interval, "timeout": self.timeout,
                "failure_threshold": self.failure_threshold, "declared": self.declared}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ResolvedCheck":
        return cls(**{**data, "argv": tuple(data["argv"])})


@dataclass(frozen=True)
class ResolvedWait:
    """One service a process waits for before it starts, and for how long.

    ``timeout`` counts from the moment the process would have started; then ``on_timeout``
    decides: ``'fail'`` leaves it not started (state failed, with the reason), ``'start'``
    starts it anyway. ``check`` is its provider's check of the service, for the side that waits.
    """

    service: str
    provider: str                 # key of the process that binds or exposes it
    check: ResolvedCheck
    timeout: float
    on_timeout: str               # fail | start

    @property
    def host(self) -> str:
        return self.check.host

    @property
    def port(self) -> int:
        return self.check.port

    def to_dict(self) -> Dict[str, Any]:
        return {"service": self.service, "provider": self.provider, "check": self.check.to_dict(),
                "timeout": self.timeout, "on_timeout": self.on_timeout}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ResolvedWait":
        return cls(**{**data, "check": ResolvedCheck.from_dict(data["check"])})


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
    #: one per service it binds or exposes, in that order: its declared check, else TCP on its port
    checks: List[ResolvedCheck] = field(default_factory=list)
    #: the services it is held for before it starts (empty: it starts at once)
    waits: List[ResolvedWait] = field(default_factory=list)

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

    def checks(self) -> Dict[str, ResolvedCheck]:
        """service -> its readiness check, for every bound or exposed service."""
        return {check.service: check for process in self.processes for check in process.checks}

    @property
    def has_waits(self) -> bool:
        """Whether any process is held until services are ready (else all start at once, as before)."""
        return any(process.waits for process in self.processes)
