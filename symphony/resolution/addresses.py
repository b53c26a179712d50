"""Service addresses: which host and port every bound or exposed service gets.

Every backend answers two questions through an *addressing rule*: on which host
is a service reachable (``host_for``), and which port does it get
(``assign_ports``). Everything else — which services exist, which ports are
fixed, the ``SYMPH_*`` variable names — is decided here once, so all backends
hand processes the same variables.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Dict, Iterator, List, Mapping, Protocol

from ..spec.names import env_prefix

if TYPE_CHECKING:
    from ..spec.model import ExperimentSpec, ProcessSpec

#: Variable telling a process which interface its binding sockets should listen on.
BIND_HOST_VAR = "SYMPH_BIND_HOST"


class AddressingRule(Protocol):
    """How one backend places services: the interface servers listen on, a service's host, its port."""

    bind_host: str

    def host_for(self, service: str, process: "ProcessSpec") -> str: ...

    def assign_ports(self, fixed: Mapping[str, int], wanted: List[str]) -> Dict[str, int]: ...


@dataclass(frozen=True)
class Address:
    host: str
    port: int

    @property
    def addr(self) -> str:
        return f"{self.host}:{self.port}"


class AddressBook:
    """service name -> :class:`Address`, plus the environment every process receives."""

    def __init__(self, addresses: Mapping[str, Address], bind_host: str) -> None:
        self.addresses = dict(addresses)
        self.bind_host = bind_host

    def __getitem__(self, service: str) -> Address:
        return self.addresses[service]

    def __iter__(self) -> Iterator[str]:
        return iter(self.addresses)

    def ports(self) -> Dict[str, int]:
        return {name: address.port for name, address in self.addresses.items()}

    def env(self) -> Dict[str, str]:
        """``SYMPH_<NAME>_HOST/_PORT/_ADDR`` for every service, and ``SYMPH_BIND_HOST``."""
        env = {BIND_HOST_VAR: self.bind_host}
        for name, address in sorted(self.addresses.items()):
            prefix = env_prefix(name)
            env[f"{prefix}_HOST"] = address.host
            env[f"{prefix}_PORT"] = str(address.port)
            env[f"{prefix}_ADDR"] = address.addr
        return env


def resolve_addresses(exp: "ExperimentSpec", rule: AddressingRule) -> AddressBook:
    """The address book of ``exp`` under a backend's addressing ``rule`` (``exp`` already validated).

    ``rule.assign_ports(fixed, wanted)`` gets the services declared with a port and the
    services that need one chosen, and returns service -> port for all of them.
    """
    providers = exp.service_providers()
    fixed = exp.fixed_ports()
    wanted = [name for name in providers if name not in fixed]
    ports = rule.assign_ports(fixed, wanted)
    addresses = {name: Address(rule.host_for(name, process), ports[name])
                 for name, process in providers.items()}
    return AddressBook(addresses, rule.bind_host)


class ContainerAddressing:
    """Rule for container engines: each pod/container has its own IP, so ports only
    need to be distinct within the experiment (processes of one pod share localhost).

    ``host_for`` is supplied by the backend (a Kubernetes Service DNS name, a Docker
    container name).
    """

    bind_host = "0.0.0.0"

    def __init__(self, host_for: "HostFor", first_port: int = 7000) -> None:
        self.host_for = host_for
        self.first_port = first_port

    def assign_ports(self, fixed: Mapping[str, int], wanted: List[str]) -> Dict[str, int]:
        taken = set(fixed.values())
        ports = dict(fixed)
        candidate = self.first_port
        for name in wanted:
            while candidate in taken:
                candidate += 1
            ports[name] = candidate
            taken.add(candidate)
        return ports


class HostFor(Protocol):
    def __call__(self, service: str, process: "ProcessSpec") -> str: ...
