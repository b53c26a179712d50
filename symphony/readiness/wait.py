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


#: exit status of ``python -m symphony.readiness.wait`` when the process must not be started
NOT_STARTED = 3


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m symphony.readiness.wait SPEC``: hold the caller (a tmux window's runner) until the
    services of SPEC are ready; exit 0 to start the process, :data:`NOT_STARTED` not to.

    SPEC is a JSON file ``{"waits": [ResolvedWait.to_dict(), ...], "outcome": path}``; when a deadline
    passed, the one-line reason is written to ``outcome`` (for ``symphony p``) and to stderr (the
    window's log). The deadlines count from now: the moment the process would have started.
    """
    import json
    import sys
    from ..resolution.resolved import ResolvedWait
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m symphony.readiness.wait SPEC", file=sys.stderr)
        return 2
    with open(args[0]) as handle:
        spec = json.load(handle)
    from dataclasses import replace
    from .probes import HELD_LOOK_INTERVAL, looks_at_listening, probe_on_this_host
    waits = [ResolvedWait.from_dict(data) for data in spec["waits"]]
    waits = [replace(wait, check=replace(wait.check, interval=min(wait.check.interval, HELD_LOOK_INTERVAL)))
             if looks_at_listening(wait.check) else wait for wait in waits]
    outcome = wait_until_ready(waits, probe=probe_on_this_host)  # (the runner's providers are on this machine)
    if outcome.reason:
        print(f"symphony: {outcome.reason}", file=sys.stderr, flush=True)
        if spec.get("outcome"):
            temporary = f"{spec['outcome']}.tmp"
            with open(temporary, "w") as handle:
                handle.write(outcome.reason + "\n")
            import os
            os.replace(temporary, spec["outcome"])
    return 0 if outcome.start else NOT_STARTED


if __name__ == "__main__":
    raise SystemExit(main())
