"""Holding a process until the services it waits for are ready, from the side that waits.

Where no supervisor watches the providers (a wait in a container's entrypoint, a
runner that starts one process), the waiting side checks the services itself with
:func:`wait_until_ready`: every wait's check is run each of its intervals until it
passes, for at most the wait's own timeout. What happens when a deadline passes is
the wait's ``on_timeout``: ``'fail'`` (the process is not started) or ``'start'``
(it starts anyway). A service found ready stays counted as ready: the wait is about
starting, and the process's own reconnects are its business afterwards.
"""

import time
from typing import TYPE_CHECKING, Callable, Dict, List, NamedTuple, Optional, Sequence

from .probes import ProbeResult, probe_from_outside
from .tracker import ReadinessTracker

if TYPE_CHECKING:
    from ..resolution.resolved import ResolvedCheck, ResolvedWait


class WaitOutcome(NamedTuple):
    start: bool                # start the process now (every service ready, or the deadline's choice)
    ready: List[str]           # services found ready
    timed_out: List[str]       # services whose deadline passed before they were ready
    waited: float              # seconds
    reason: str                # one line, empty when every service was ready

    @property
    def all_ready(self) -> bool:
        return not self.timed_out


def wait_until_ready(waits: Sequence["ResolvedWait"], deadline: Optional[float] = None, *,
                     started: Optional[float] = None,
                     probe: Callable[["ResolvedCheck"], ProbeResult] = probe_from_outside,
                     on_change: Optional[Callable[[str, bool, str], None]] = None,
                     sleep: Callable[[float], None] = time.sleep) -> WaitOutcome:
    """Check each wait's service until all are ready or their deadlines pass.

    ``started`` (a ``time.time()`` value, default now) is when the process would have
    started: each wait's deadline is ``started + wait.timeout``, and ``deadline`` (also a
    ``time.time()`` value) cuts every one of them shorter. ``on_change(service, ready,
    detail)`` hears each change, for a status line.
    """
    begun = time.time()
    started = begun if started is None else started
    ends: Dict[str, float] = {}
    for wait in waits:
        end = started + wait.timeout
        ends[wait.service] = end if deadline is None else min(end, deadline)
    tracker = ReadinessTracker((wait.check for wait in waits), now=begun)
    pending = [wait for wait in waits]
    timed_out: List["ResolvedWait"] = []
    while pending:
        now = time.time()
        for check in tracker.due(now):
            if any(wait.service == check.service for wait in pending):
                result = probe(check)
                if tracker.record(check.service, result.ok, result.detail, now=time.time()) and on_change:
                    on_change(check.service, result.ok, result.detail)
        now = time.time()
        still = []
        for wait in pending:
            if tracker.is_ready(wait.service):
                continue
            if now >= ends[wait.service]:
                timed_out.append(wait)
            else:
                still.append(wait)
        pending = still
        if pending:
            wake = min([tracker.state(w.service).next_due for w in pending] + [ends[w.service] for w in pending])
            sleep(max(0.0, min(wake - time.time(), 1.0)))
    ready = [wait.service for wait in waits if tracker.is_ready(wait.service)]
    waited = time.time() - begun
    if not timed_out:
        return WaitOutcome(True, ready, [], waited, "")
    failing = [wait for wait in timed_out if wait.on_timeout == "fail"]
    names = ", ".join(f"{wait.service} ({tracker.state(wait.service).detail})" for wait in timed_out)
    limit = max(wait.timeout for wait in timed_out)
    if failing:
        reason = f"not started: not ready after {limit:g}s: {names}"
    else:
        reason = f"started anyway: not ready after {limit:g}s: {names}"
    return WaitOutcome(not failing, ready, [wait.service for wait in timed_out], waited, reason)
