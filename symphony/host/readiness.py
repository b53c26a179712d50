"""What ``symphony p`` shows of readiness on the host backends (local, tmux), from one small document.

Whoever knows the readiness of an experiment's services writes it down as a
*readiness document*: the local supervisor, which runs the checks, keeps it in
``<log dir>/readiness.json`` (rewritten atomically when something in it changes,
never on a quiet loop); the tmux backend builds it when asked, from the probes
``symphony p`` runs and what the windows' runners recorded. Its shape::

    {"services": {service: {"ready": bool, "since": time or None, "failures": int, "detail": str}},
     "provides": {process key: [services it binds or exposes]},
     "held":     {process key: {"waits": [services], "since": time}},
     "outcomes": {process key: "not started: not ready after 5s: replay (...)"},
     "checks":   number of checks run so far}

:func:`apply_readiness` turns it into the readiness fields of each ``ProcessStatus``,
the same way for both backends. An experiment without checks or waits has no document,
and its statuses are what they always were.
"""

import os
import time

from ..state import open_private
from ..status import ProcessState, format_age

#: the local supervisor's readiness document, beside the logs
READINESS_FILE = "readiness.json"


def read_document(path):
    """The readiness document at ``path``, None where there is none (no checks, or not written yet)."""
    try:
        handle = open(path)
    except OSError:
        return None
    import json  # (only where there is a document: none without checks)
    try:
        with handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def write_document(path, document):
    """Replace the document at ``path`` atomically: a reader sees the old one or the new one, whole."""
    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        with open_private(temporary, "w") as handle:
            import json
            json.dump(document, handle, separators=(",", ":"))
        os.replace(temporary, path)
    except OSError:
        pass  # the experiment was deleted meanwhile: nobody will ask


def waiting_detail(waits, services, held_since, now):
    """``(unmet services, 'replay (not ready 12s)')`` of a process held for ``waits``: for how long the
    longest-unready of them has not been ready (or, where that is not known, how long it was held)."""
    unmet = [service for service in waits if not services.get(service, {}).get("ready")]
    if not unmet:
        return [], "starting"
    sinces = [services.get(service, {}).get("since") for service in unmet]
    known = [since for since in sinces if since is not None]
    began = min(known) if known else held_since
    return unmet, f"{', '.join(unmet)} (not ready {format_age(now - (began if began is not None else now))})"


def apply_readiness(status, document, now=None):
    """Fill ``status``'s readiness fields from ``document`` (see the module's docstring).

    A process that provides services is ready when it runs and every one of them is
    (``checked``); a held one shows ``waiting`` and what it waits for; one that was not
    started at its deadline shows why; one started anyway says so until it first ends.
    """
    if not document:
        return status
    now = time.time() if now is None else now
    services = document.get("services", {})
    key = status.key
    held = document.get("held", {}).get(key)
    outcome = document.get("outcomes", {}).get(key)
    if status.state is ProcessState.WAITING and held is not None:
        status.waiting_for, status.detail = waiting_detail(held["waits"], services, held.get("since"), now)
        status.started = None
    elif status.state is ProcessState.FAILED and outcome:
        status.detail = outcome
    elif status.state is ProcessState.RUNNING and outcome and not status.restarts and not status.detail:
        status.detail = outcome
    provides = document.get("provides", {}).get(key)
    if provides:
        status.checked = True
        status.not_ready = [service for service in provides if not services.get(service, {}).get("ready")]
        status.readiness_failures = sum(services.get(service, {}).get("failures", 0) for service in provides)
        status.ready = status.state is ProcessState.RUNNING and not status.not_ready
    return status


def probe_all(checks):
    """``{service: ProbeResult}``, one attempt of each check from here, all at once: default and command
    checks by the sockets listening here (one read of ``/proc/net/tcp`` for all), declared TCP ones in
    turn (a loopback connect is answered at once), HTTP ones each in a thread (one may take its timeout).
    See :func:`symphony.readiness.probes.probe_on_this_host`."""
    from ..readiness.probes import listening_ports, probe_on_this_host
    results = {}
    threads = []
    ports = listening_ports() if any(check.kind == "command" or not check.declared for check in checks) else None
    for check in checks:
        if check.kind == "http":
            import threading
            thread = threading.Thread(target=lambda c=check: results.__setitem__(c.service, probe_on_this_host(c)),
                                      daemon=True)
            thread.start()
            threads.append(thread)
        else:
            results[check.service] = probe_on_this_host(check, ports)
    for thread in threads:
        thread.join()
    return results
