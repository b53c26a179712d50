"""Finding and stopping every process an experiment started on this host.

Killing the pid we started is not enough: a process may fork workers, ignore
SIGHUP, or daemonise into a new session. Every process Symphony starts carries
``SYMPH_RUN_ID=<unique id>`` in its environment, which its descendants inherit
even after double-forking, so a scan of ``/proc/*/environ`` finds them all.
"""

import os
import signal
import time
from typing import NamedTuple

import psutil

RUN_ID_VAR = "SYMPH_RUN_ID"


class ProcStat(NamedTuple):
    state: str        # R, S, D, Z...
    ppid: int
    start_ticks: int  # start time in clock ticks since boot: tells a process from a later one with its pid


def proc_stat(pid):
    """What ``/proc/<pid>/stat`` says of ``pid`` (cheaper than psutil), None if there is no such process."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()  # the name in parentheses may hold anything
        return ProcStat(fields[0], int(fields[1]), int(fields[19]))
    except (OSError, IndexError, ValueError, TypeError):
        return None


def _environ_marker(pid):
    """The SYMPH_RUN_ID of ``pid``, read straight from /proc (psutil's environ() is slower)."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    marker = RUN_ID_VAR.encode() + b"="
    for entry in data.split(b"\0"):
        if entry.startswith(marker):
            return entry[len(marker):].decode(errors="replace")
    return None


def find_run_processes(run_id):
    """Pids of live (non-zombie) processes whose environment carries ``run_id``."""
    found = []
    own = os.getpid()
    for pid in psutil.pids():
        if pid == own or _environ_marker(pid) != run_id:
            continue
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                found.append(pid)
        except psutil.Error:
            pass
    return found


def _signal_all(pids, sig):
    for pid in pids:
        try:
            os.killpg(pid, sig)  # our processes lead their own process group
        except OSError:
            pass
        try:
            os.kill(pid, sig)
        except OSError:
            pass


def stop_run(run_id, grace=5.0):
    """SIGTERM every process of the run and their process groups, SIGKILL after ``grace``.

    Returns the pids that had to be killed with SIGKILL.
    """
    _signal_all(find_run_processes(run_id), signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not find_run_processes(run_id):
            return []
        time.sleep(0.05)
    stubborn = set(find_run_processes(run_id))
    _signal_all(stubborn, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while find_run_processes(run_id) and time.monotonic() < deadline:
        time.sleep(0.05)
    return sorted(stubborn)


def signal_name(number):
    try:
        return signal.Signals(number).name
    except (ValueError, TypeError):
        return f"signal {number}"
