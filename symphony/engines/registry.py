"""The registry of backends: ``Cluster.new(name)`` looks names up here.

Backends are named by ``"module:Class"`` and imported only when one is created,
so ``symphony ls`` on a laptop never imports the Kubernetes client, and checking a
configured name imports no backend at all.
"""

from __future__ import annotations

import importlib
TYPE_CHECKING = False  # (typing.TYPE_CHECKING without importing typing on every command's path)
if TYPE_CHECKING:
    from typing import Dict, Iterable, List, Optional

from ..errors import UnknownBackendError

#: canonical name -> "module:Class"; aliases map to canonical names.
BACKENDS: Dict[str, str] = {
    "local": "symphony.local.cluster:LocalCluster",
    "tmux": "symphony.tmux.cluster:TmuxCluster",
    "docker": "symphony.docker.cluster:DockerCluster",
    "kube": "symphony.kube.cluster:KubeCluster",
    "slurm": "symphony.slurm.cluster:SlurmCluster",
}
ALIASES: Dict[str, str] = {
    "subproc": "local",
    "kubernetes": "kube",
    "k8s": "kube",
}


def register_backend(name: str, target: str, aliases: Iterable[str] = ()) -> None:
    """Make ``Cluster.new(name)`` build ``target`` ("module:Class"), e.g. for a plug-in backend."""
    BACKENDS[name.lower()] = target
    for alias in aliases:
        ALIASES[alias.lower()] = name.lower()


def canonical_backend(name: object) -> str:
    """Canonical backend name for ``name`` (case-insensitive, aliases allowed)."""
    if not isinstance(name, str):
        raise UnknownBackendError(f"backend must be a name such as 'local', got {name!r}")
    key = ALIASES.get(name.lower(), name.lower())
    if key not in BACKENDS:
        names = sorted(set(BACKENDS) | set(ALIASES))
        raise UnknownBackendError(f"unknown backend {name!r}: use one of {', '.join(names)}")
    return key


def backend_class(name: str) -> type:
    """The cluster class registered for ``name``, imported now (ImportError if a package it needs is missing)."""
    module_name, class_name = BACKENDS[canonical_backend(name)].split(":")
    cls: type = getattr(importlib.import_module(module_name), class_name)
    return cls


def backend_parameters(name: str) -> Optional[List[str]]:
    """The keyword arguments ``Cluster.new(name, ...)`` accepts, or None if that cannot be known
    here (the backend's package is not installed, or its constructor takes ``**kwargs``).

    This imports that one backend (its constructor's signature is the only source)."""
    import inspect
    try:
        cls = backend_class(name)
    except ImportError:
        return None  # Cluster.new says what to install
    parameters = inspect.signature(cls).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return None
    return [p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
