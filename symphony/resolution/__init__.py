"""The resolved stage: one backend-neutral step from the model to what every backend runs.

``resolve(exp, rule, target)`` returns a :class:`ResolvedExperiment`; backends only
translate it into their engine's objects (see docs/ARCHITECTURE.md). Names are imported
on first use, so a cluster class can name its capabilities without loading the resolver.
"""

from __future__ import annotations

import importlib
TYPE_CHECKING = False  # (typing.TYPE_CHECKING without importing typing on every command's path)
if TYPE_CHECKING:
    from typing import Any

_HOMES = {
    "Address": "addresses", "AddressBook": "addresses", "AddressingRule": "addresses",
    "ContainerAddressing": "addresses", "resolve_addresses": "addresses",
    "DOCKER": "capabilities", "HOST": "capabilities", "KUBERNETES": "capabilities", "Capabilities": "capabilities",
    "CapabilityError": "capabilities", "Support": "capabilities", "with_backend": "capabilities",
    "ResolvedExperiment": "resolved", "ResolvedPod": "resolved", "ResolvedProcess": "resolved",
    "Target": "resolver", "resolve": "resolver",
}
__all__ = list(_HOMES)


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
