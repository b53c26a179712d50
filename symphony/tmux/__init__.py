"""The tmux backend: each process in a window of a private tmux server, watched live.

``TmuxCluster`` is loaded on first use: the experiment's log indexer (:mod:`symphony.tmux.log_index`)
imports this package and needs none of the cluster's planning machinery.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .cluster import TmuxCluster

__all__ = ["TmuxCluster"]


def __getattr__(name: str) -> Any:
    if name == "TmuxCluster":
        from .cluster import TmuxCluster
        return TmuxCluster
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
