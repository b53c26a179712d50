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

    def started(self):
        """The start time as a Unix time, comparable with ``time.time()``."""
        return psutil.boot_time() + self.start_ticks / os.sysconf("SC_CLK_TCK")


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


#: a live pid whose start time is this close to the one recorded for it is that process,
#: not a later one that reused the pid (records are written right after the fork)
SAME_START_SECONDS = 2.0


def is_recorded_process(pid, started):
    """Whether ``pid`` is alive and is the process recorded as started at Unix time ``started``."""
    stat = proc_stat(pid) if pid and started else None
    return stat is not None and stat.state != "Z" and abs(stat.started() - started) < SAME_START_SECONDS


def stop_run(run_id, grace=5.0, recorded=()):
    """SIGTERM every process of the run and their process groups, SIGKILL after ``grace``.

    ``recorded``: ``(pid, started)`` of the processes the state knows, stopped too even if
    they cleared their environment (``env -i``) and so lost the run marker.
    Returns the pids that had to be killed with SIGKILL.
    """
    recorded = list(recorded)

    def remaining():
        return sorted(set(find_run_processes(run_id)) |
                      {pid for pid, started in recorded if is_recorded_process(pid, started)})
    _signal_all(remaining(), signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not remaining():
            return []
        time.sleep(0.05)
    stubborn = set(remaining())
    _signal_all(stubborn, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while remaining() and time.monotonic() < deadline:
        time.sleep(0.05)
    return sorted(stubborn)


def signal_name(number):
    try:
        return signal.Signals(number).name
    except (ValueError, TypeError):
        return f"signal {number}"
