"""The resolved stage: one backend-neutral step from the model to what every backend runs.

``resolve(exp, rule, target)`` returns a :class:`ResolvedExperiment`; backends only
translate it into their engine's objects (see docs/ARCHITECTURE.md).
"""

from .addresses import Address, AddressBook, AddressingRule, ContainerAddressing, resolve_addresses
from .capabilities import DOCKER, HOST, KUBERNETES, Capabilities, CapabilityError, Support, with_backend
from .resolved import ResolvedExperiment, ResolvedPod, ResolvedProcess
from .resolver import Target, resolve

__all__ = ["Address", "AddressBook", "AddressingRule", "ContainerAddressing", "resolve_addresses",
           "DOCKER", "HOST", "KUBERNETES", "Capabilities", "CapabilityError", "Support", "with_backend",
           "ResolvedExperiment", "ResolvedPod", "ResolvedProcess", "Target", "resolve"]
