"""``Cluster``: where an experiment runs, and everything backends share to run one.

* :mod:`symphony.cluster.base`: the :class:`Cluster` base class (abstract), the
  :class:`Plan` interface every backend's plan has, :class:`Prepared` (what
  ``prepare`` did) and :func:`pick_process`, the one process lookup;
* :mod:`symphony.cluster.launching`: :func:`launch_lock` and :func:`rollback_shield`;
* :mod:`symphony.engines.registry`: the backend registry (``BACKENDS``, ``ALIASES``,
  :func:`register_backend`...), kept outside this package so that
  :mod:`symphony.config` can check backend names without importing clusters;
* :mod:`symphony.status`: :class:`ProcessState` and :class:`ProcessStatus`.

Everything is re-exported here: ``from symphony.cluster import Cluster`` is the import
to use. Backends are imported lazily by name, so ``symphony ls`` on a laptop never
imports the Kubernetes client.
"""

from ..engines.registry import ALIASES, BACKENDS, backend_parameters, canonical_backend, register_backend
from ..status import ProcessState, ProcessStatus, format_age
from .base import Cluster, Prepared, pick_process
from .launching import launch_lock, rollback_shield

__all__ = ["ALIASES", "BACKENDS", "Cluster", "CopyEnd", "Plan", "Prepared", "ProcessState", "ProcessStatus", "Since",
           "backend_parameters", "canonical_backend", "format_age", "launch_lock", "pick_process",
           "register_backend", "rollback_shield"]


def __getattr__(name: str) -> object:
    """``Plan``, ``Since`` and ``CopyEnd``, loaded with :mod:`typing` when asked for (see
    :mod:`symphony.cluster.interfaces`)."""
    if name in ("Plan", "Since", "CopyEnd"):
        from . import interfaces
        return getattr(interfaces, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
