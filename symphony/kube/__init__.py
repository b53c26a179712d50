"""The Kubernetes backend: ``Cluster.new('kube')`` (aliases 'kubernetes', 'k8s').

``from symphony.kube import KubeCluster`` is cheap: the ``kubernetes`` client is
imported only when a cluster is first contacted.
"""

from .cluster import KubeCluster
from .manifests import KubePlan, build_plan, deep_merge

__all__ = ["KubeCluster", "KubePlan", "build_plan", "deep_merge"]
