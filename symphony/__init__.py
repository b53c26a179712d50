"""Symphony: declare a multi-process experiment once, run it locally, in tmux, Docker or Kubernetes.

``from symphony import Cluster`` is all most scripts need::

    cluster = Cluster.new('local')
    exp = cluster.new_experiment('rl')
    learner = exp.new_process('learner', command='python', args=['learner.py'])
    learner.binds('replay-server')
    cluster.launch(exp)

The names below are loaded on first use, so a command that needs only part of
Symphony (``symphony p`` needs no experiment model) does not pay for the rest.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .cluster import Cluster
    from .config import SymphonyConfig
    from .errors import SpecError, SymphonyError
    from .spec import ExperimentSpec, ProcessGroupSpec, ProcessSpec

__version__ = "0.1.0"
__all__ = ["Cluster", "SymphonyConfig", "ExperimentSpec", "ProcessGroupSpec", "ProcessSpec",
           "SpecError", "SymphonyError"]

#: public name -> the module defining it
_LAZY = {"Cluster": "cluster", "SymphonyConfig": "config", "SpecError": "errors", "SymphonyError": "errors",
         "ExperimentSpec": "spec", "ProcessGroupSpec": "spec", "ProcessSpec": "spec"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value  # found directly from now on
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list:
    return sorted(set(globals()) | set(__all__))
