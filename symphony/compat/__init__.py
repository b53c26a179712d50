"""The original Symphony's names that today's model does not define itself, each doing what it did.

Scripts written for Symphony 0.x import ``SubprocManager``, ``SubprocCluster``,
``GKEDispatcher``, ``AddressBook`` and the per-backend ``*ExperimentSpec`` /
``*ProcessGroupSpec`` / ``*ProcessSpec`` classes. There is one model for every backend
now, so the per-backend spec classes are that model's classes; the others are thin
layers over the model and the Cluster API (see docs/migrating.md). Nothing here
imports a backend: the local backend under ``SubprocCluster`` is loaded by name.
"""

import importlib
from typing import Any

#: name -> module of this package defining it
_HOMES = {"SubprocManager": "subproc", "SubprocCluster": "subproc", "subproc_cluster": "subproc",
          "subproc_cluster_class": "subproc",
          "GKEDispatcher": "gke", "AddressBook": "addresses"}
__all__ = list(_HOMES)


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        module = importlib.import_module(f".{_HOMES[name]}", __name__)
        if name == "SubprocCluster":  # the class is made on first use, over the local backend loaded by name
            return module.subproc_cluster_class()
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
