"""The Kubernetes backend: ``Cluster.new('kube')`` (aliases 'kubernetes', 'k8s').

``from symphony.kube import KubeCluster`` is cheap: the ``kubernetes`` client is
imported only when a cluster is first contacted. The original Symphony's names under
this path (``GKEDispatcher``, ``KubeExperimentSpec``, ``KubeProcessGroupSpec``,
``KubeProcessSpec``) load on first use: the spec names are today's one model, the
dispatcher lives in :mod:`symphony.compat.gke`.
"""

from typing import Any

from .cluster import KubeCluster
from .manifests import KubePlan, build_plan, deep_merge

__all__ = ["KubeCluster", "KubePlan", "build_plan", "deep_merge", "GKEDispatcher",
           "KubeExperimentSpec", "KubeProcessGroupSpec", "KubeProcessSpec"]

_MODEL_NAMES = {"KubeExperimentSpec": "ExperimentSpec", "KubeProcessGroupSpec": "ProcessGroupSpec",
                "KubeProcessSpec": "ProcessSpec"}


def __getattr__(name: str) -> Any:
    if name in _MODEL_NAMES:
        from ..spec import model
        return getattr(model, _MODEL_NAMES[name])
    if name == "GKEDispatcher":
        from ..compat.gke import GKEDispatcher
        return GKEDispatcher
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
