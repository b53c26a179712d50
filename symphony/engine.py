"""The older import path ``from symphony.engine import Cluster, SymphonyConfig``, kept working.

Every backend is reachable through ``Cluster.new(name)`` from here; nothing
backend-specific needs importing first.
"""

from .cluster import Cluster, ProcessStatus, register_backend
from .config import SymphonyConfig
from .spec import ExperimentSpec, ProcessGroupSpec, ProcessSpec

__all__ = ["Cluster", "SymphonyConfig", "ExperimentSpec", "ProcessGroupSpec", "ProcessSpec",
           "ProcessStatus", "register_backend"]
