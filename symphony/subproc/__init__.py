"""The original import path of the subprocess backend's names: ``from symphony.subproc import SubprocManager``.

``SubprocCluster`` is the local backend with the original's foreground launch (see
:mod:`symphony.compat.subproc`); it is made on first use, so importing this loads no backend.
"""

from typing import Any

from ..compat.subproc import SubprocManager

__all__ = ["SubprocCluster", "SubprocManager", "SubprocExperimentSpec", "SubprocProcessGroupSpec",
           "SubprocProcessSpec"]


def __getattr__(name: str) -> Any:
    if name == "SubprocCluster":
        from ..compat.subproc import subproc_cluster_class
        return subproc_cluster_class()
    if name in ("SubprocExperimentSpec", "SubprocProcessGroupSpec", "SubprocProcessSpec"):
        from ..spec import model
        return getattr(model, name[len("Subproc"):])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
