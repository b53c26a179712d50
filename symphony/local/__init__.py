"""The local backend: plain processes on this machine, watched by a small supervisor."""

from .cluster import LocalCluster

__all__ = ["LocalCluster"]
