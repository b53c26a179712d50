"""The Docker backend: ``Cluster.new('docker')`` or ``from symphony.docker import DockerCluster``.

Importing it does not import the ``docker`` SDK: that happens when an engine is first
contacted (:mod:`symphony.engines.docker_api`, shared with :mod:`symphony.addons`).
"""

from .cluster import DockerCluster

__all__ = ["DockerCluster"]
