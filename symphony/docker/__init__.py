"""The Docker backend: ``Cluster.new('docker')``; the SDK is imported on first use."""

from .cluster import DockerCluster

__all__ = ["DockerCluster"]
