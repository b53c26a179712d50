"""The older import path ``from symphony.engine import Cluster, SymphonyConfig, AddressBook``, kept working.

Every backend is reachable through ``Cluster.new(name)`` from here; nothing
backend-specific needs importing first.
"""

from typing import Any

from .cluster import Cluster, ProcessStatus, register_backend
from .config import SymphonyConfig
from .spec import ExperimentSpec, ProcessGroupSpec, ProcessSpec

__all__ = ["AddressBook", "Cluster", "SymphonyConfig", "ExperimentSpec", "ProcessGroupSpec", "ProcessSpec",
           "ProcessStatus", "register_backend"]


def __getattr__(name: str) -> Any:
    if name == "AddressBook":  # (loaded when used: the resolver's addresses are not needed to name a cluster)
        from .compat import AddressBook
        return AddressBook
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
