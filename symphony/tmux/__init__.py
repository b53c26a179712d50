"""The tmux backend: each process in a window of a private tmux server, watched live.

``TmuxCluster`` is loaded on first use: the experiment's log indexer (:mod:`symphony.tmux.log_index`)
imports this package and needs none of the cluster's planning machinery. The original
Symphony's ``TmuxExperimentSpec``, ``TmuxProcessGroupSpec`` and ``TmuxProcessSpec`` load on
first use too: one model serves every backend now.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .cluster import TmuxCluster

__all__ = ["TmuxCluster", "TmuxExperimentSpec", "TmuxProcessGroupSpec", "TmuxProcessSpec"]


def __getattr__(name: str) -> Any:
    if name == "TmuxCluster":
        from .cluster import TmuxCluster
        return TmuxCluster
    if name.startswith("Tmux") and name[len("Tmux"):] in ("ExperimentSpec", "ProcessGroupSpec", "ProcessSpec"):
        from ..spec import model
        return getattr(model, name[len("Tmux"):])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
