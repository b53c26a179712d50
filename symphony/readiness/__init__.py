"""Readiness checks and start order: when a service is ready, and holding processes until it is.

Declaring (in the model, checked when declared)::

    from symphony.readiness import tcp, http, command
    server.binds('replay', ready=http('/healthz'))
    agent.connects('replay', wait=True)

Running them (for whatever starts processes: a supervisor, a runner, a container's
entrypoint): :func:`probe` makes one attempt of a resolved check,
:class:`ReadinessTracker` turns results into ready / not ready, and
:func:`wait_until_ready` holds the waiting side until its services are ready or its
deadline passes. Names are loaded on first use: a supervisor that runs no checks does
not pay for them.
"""

import importlib
from typing import Any

_HOMES = {
    "tcp": "..spec.checks", "http": "..spec.checks", "command": "..spec.checks",
    "ReadinessCheck": "..spec.checks", "Wait": "..spec.checks", "WaitingCycleError": "..spec.checks",
    "ProbeResult": ".probes", "probe": ".probes", "probe_from_outside": ".probes", "probe_tcp": ".probes",
    "probe_http": ".probes", "probe_command": ".probes", "listening_ports": ".probes", "probe_listening": ".probes",
    "probe_on_this_host": ".probes",
    "ReadinessTracker": ".tracker", "ServiceReadiness": ".tracker",
    "WaitOutcome": ".wait", "wait_until_ready": ".wait",
}
__all__ = list(_HOMES)


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list:
    return sorted(set(globals()) | set(__all__))
