"""Which services are ready now, as the results of their checks come in.

A :class:`ReadinessTracker` holds no sockets and starts no threads: whatever runs the
checks (the local supervisor, the tmux runner, a wait inside a container) asks it which
checks are due, runs them, and records each result. It applies the one rule every
backend shares, Kubernetes' own:

* a service is not ready until a check passes; one pass makes it ready;
* a ready service turns not ready after ``failure_threshold`` failures in a row;
* a provider that restarts is not ready again until a check passes (:meth:`reset`).

It also keeps what ``symphony p`` shows: since when a service is (not) ready, and how
many checks failed after it first became ready (failures while a server starts are
expected and counted apart).
"""

import time
from typing import TYPE_CHECKING, Dict, Iterable, List, Optional, Sequence

if TYPE_CHECKING:
    from ..resolution.resolved import ResolvedCheck, ResolvedWait


class ServiceReadiness:
    """The readiness of one service, as its checks have found it."""

    __slots__ = ("check", "ready", "since", "consecutive_failures", "failures", "startup_failures", "ever_ready",
                 "detail", "last_checked", "next_due")

    def __init__(self, check: "ResolvedCheck", now: float) -> None:
        self.check = check
        self.ready = False
        self.since = now                  # when it became (not) ready, or when it was first tracked
        self.consecutive_failures = 0
        self.failures = 0                 # failed checks after it was first ready
        self.startup_failures = 0         # failed checks before that
        self.ever_ready = False
        self.detail = "not checked yet"   # the last result, one line
        self.last_checked: Optional[float] = None
        self.next_due = now               # the first check runs at once

    def to_dict(self, now: Optional[float] = None) -> Dict[str, object]:
        now = time.time() if now is None else now
        return {"service": self.check.service, "ready": self.ready, "for": round(now - self.since, 3),
                "consecutive_failures": self.consecutive_failures, "failures": self.failures,
                "startup_failures": self.startup_failures, "detail": self.detail}


class ReadinessTracker:
    """Readiness of a set of services (see the module's docstring); times are ``time.time()`` values."""

    def __init__(self, checks: Iterable["ResolvedCheck"], now: Optional[float] = None) -> None:
        now = time.time() if now is None else now
        self.services: Dict[str, ServiceReadiness] = {check.service: ServiceReadiness(check, now) for check in checks}

    def __contains__(self, service: object) -> bool:
        return service in self.services

    def state(self, service: str) -> ServiceReadiness:
        return self.services[service]

    def is_ready(self, service: str) -> bool:
        return self.services[service].ready

    def due(self, now: Optional[float] = None) -> List["ResolvedCheck"]:
        """The checks whose time has come."""
        now = time.time() if now is None else now
        return [state.check for state in self.services.values() if state.next_due <= now]

    def next_due(self) -> Optional[float]:
        """When the next check is due (for the caller's sleep), None when nothing is tracked."""
        return min((state.next_due for state in self.services.values()), default=None)

    def record(self, service: str, ok: bool, detail: str = "", now: Optional[float] = None) -> bool:
        """Record one check's result; True when the service's readiness changed."""
        now = time.time() if now is None else now
        state = self.services[service]
        state.last_checked = now
        state.next_due = now + state.check.interval
        state.detail = detail or ("ready" if ok else "failed")
        if ok:
            state.consecutive_failures = 0
            if not state.ready:
                state.ready, state.ever_ready, state.since = True, True, now
                return True
            return False
        state.consecutive_failures += 1
        if state.ever_ready:
            state.failures += 1
        else:
            state.startup_failures += 1
        if state.ready and state.consecutive_failures >= state.check.failure_threshold:
            state.ready, state.since = False, now
            return True
        return False

    def reset(self, service: str, now: Optional[float] = None) -> None:
        """Its provider started again: not ready until a check passes (checked at once); counts are kept."""
        now = time.time() if now is None else now
        state = self.services[service]
        if state.ready:
            state.since = now
        state.ready, state.consecutive_failures, state.next_due = False, 0, now
        state.detail = "restarted"

    def all_ready(self, services: Iterable[str]) -> bool:
        return all(self.services[service].ready for service in services)

    def unmet(self, waits: Sequence["ResolvedWait"]) -> List[str]:
        """The services among ``waits`` that are not ready, in order."""
        return [wait.service for wait in waits if not self.services[wait.service].ready]

    def failures(self, services: Iterable[str]) -> int:
        """The readiness failures of a process's services, for ``symphony p``."""
        return sum(self.services[service].failures for service in services)

    def waiting_detail(self, waits: Sequence["ResolvedWait"], now: Optional[float] = None) -> str:
        """``replay (not ready 12s)``, ``replay, params (not ready 3s)``: what a held process shows."""
        from ..status import format_age
        now = time.time() if now is None else now
        unmet = self.unmet(waits)
        if not unmet:
            return ""
        longest = max(now - self.services[service].since for service in unmet)
        return f"{', '.join(unmet)} (not ready {format_age(longest)})"
