"""The Docker backend: ``Cluster.new('docker')`` or ``from symphony.docker import DockerCluster``.

``DockerCluster`` is loaded on first access, so :mod:`symphony.docker.engine` can be
used by :mod:`symphony.addons` without importing the backend (and vice versa).
"""

__all__ = ["DockerCluster"]


def __getattr__(name):
    if name == "DockerCluster":
        from .cluster import DockerCluster
        return DockerCluster
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
