"""Cluster.new('slurm'): one Slurm job per experiment, its services resolved once the nodes are known.

The cluster class is imported on first use (``symphony p`` on another backend pays nothing).
"""

__all__ = ["SlurmCluster"]


def __getattr__(name):
    if name == "SlurmCluster":
        from .cluster import SlurmCluster
        return SlurmCluster
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
