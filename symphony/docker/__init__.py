"""The Docker backend: ``Cluster.new('docker')`` or ``from symphony.docker import DockerCluster``.

Importing it does not import the ``docker`` SDK: that happens when an engine is first
contacted (:mod:`symphony.engines.docker_api`, shared with :mod:`symphony.addons`). The
original Symphony's ``DockerExperimentSpec``, ``DockerProcessGroupSpec`` and
``DockerProcessSpec`` load on first use: one model serves every backend now.
"""

from typing import Any

from .cluster import DockerCluster

__all__ = ["DockerCluster", "DockerExperimentSpec", "DockerProcessGroupSpec", "DockerProcessSpec"]


def __getattr__(name: str) -> Any:
    if name.startswith("Docker") and name[len("Docker"):] in ("ExperimentSpec", "ProcessGroupSpec", "ProcessSpec"):
        from ..spec import model
        return getattr(model, name[len("Docker"):])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
