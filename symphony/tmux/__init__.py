"""The tmux backend: each process in a window of a private tmux server, watched live."""

from .cluster import TmuxCluster

__all__ = ["TmuxCluster"]
