"""The local backend: plain processes on this machine, watched by a small supervisor.

``LocalCluster`` is loaded on first use: the supervisor daemon (``python -m
symphony.local.supervisor``) imports this package first, and its start-up is part of every
launch's time.
"""

__all__ = ["LocalCluster"]


def __getattr__(name):
    if name == "LocalCluster":
        from .cluster import LocalCluster
        return LocalCluster
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
