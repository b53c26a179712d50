"""Symphony: declare a multi-process experiment once, run it locally, in tmux, Docker or Kubernetes.

``from symphony import Cluster`` is all most scripts need::

    cluster = Cluster.new('local')
    exp = cluster.new_experiment('rl')
    learner = exp.new_process('learner', command='python', args=['learner.py'])
    learner.binds('replay-server')
    cluster.launch(exp)

Every name the original Symphony exported (``KubeCluster``, ``SubprocManager``,
``GKEDispatcher``, ``TmuxExperimentSpec``...) is here too; docs/migrating.md says what
each is now. The names below are loaded on first use, so a command that needs only part of
Symphony (``symphony p`` needs no experiment model) does not pay for the rest.
"""

from __future__ import annotations

#: ``typing.TYPE_CHECKING`` without importing :mod:`typing` (milliseconds of every command's start-up);
#: type checkers read this name as true
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .cluster import Cluster
    from .config import SymphonyConfig
    from .errors import SpecError, SymphonyError
    from .spec import ExperimentSpec, ProcessGroupSpec, ProcessSpec

__version__ = "0.1.0"

#: public name -> the module defining it
_LAZY = {"Cluster": "cluster", "SymphonyConfig": "config", "SpecError": "errors", "SymphonyError": "errors",
         "ExperimentSpec": "spec", "ProcessGroupSpec": "spec", "ProcessSpec": "spec",
         "DockerBuilder": "addons", "clean_images": "addons", "SymphonyParser": "commandline",
         "AddressBook": "compat", "GKEDispatcher": "compat", "SubprocManager": "compat", "SubprocCluster": "compat",
         "tcp": "readiness", "http": "readiness", "command": "readiness"}
#: the original Symphony's per-backend cluster classes -> the backend they are (loaded by name, as
#: ``Cluster.new`` loads them: importing ``symphony`` loads no backend)
_BACKEND_CLASSES = {"KubeCluster": "kube", "TmuxCluster": "tmux", "DockerCluster": "docker"}
#: the original's per-backend spec classes: one model serves every backend now, so each is that model's class
_MODEL_CLASSES = {f"{backend}{kind}": kind for backend in ("Kube", "Tmux", "Docker", "Subproc")
                  for kind in ("ExperimentSpec", "ProcessGroupSpec", "ProcessSpec")}
__all__ = sorted(set(_LAZY) | set(_BACKEND_CLASSES) | set(_MODEL_CLASSES))


def __getattr__(name: str) -> Any:
    import importlib
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    elif name in _BACKEND_CLASSES:
        from .engines.registry import backend_class
        value = backend_class(_BACKEND_CLASSES[name])
    elif name in _MODEL_CLASSES:
        value = getattr(importlib.import_module(".spec.model", __name__), _MODEL_CLASSES[name])
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # found directly from now on
    return value


def __dir__() -> list:
    return sorted(set(globals()) | set(__all__))
