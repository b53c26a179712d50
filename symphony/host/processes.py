"""Finding and stopping every process an experiment started on this host.

Killing the pid we started is not enough: a process may fork workers, ignore
SIGHUP, or daemonise into a new session. Every process Symphony starts carries
``SYMPH_RUN_ID=<unique id>`` in its environment, which its descendants inherit
even after double-forking, so a scan of ``/proc/*/environ`` finds them all.

Everything here reads ``/proc`` directly, without psutil: ``symphony p`` and
``symphony ls`` use these functions, and importing psutil would slow every one of them.
"""

import functools
import os
import signal
import time
from typing import NamedTuple

RUN_ID_VAR = "SYMPH_RUN_ID"


class ProcStat(NamedTuple):
    state: str        # R, S, D, Z...
    ppid: int
    start_ticks: int  # start time in clock ticks since boot: tells a process from a later one with its pid

    def started(self):
        """The start time as a Unix time, comparable with ``time.time()``."""
        return boot_time() + self.start_ticks / os.sysconf("SC_CLK_TCK")


@functools.lru_cache(maxsize=None)
def boot_time():
    """When this machine booted, as a Unix time (``btime`` of ``/proc/stat``, as psutil reads it)."""
    with open("/proc/stat") as handle:
        for line in handle:
            if line.startswith("btime"):
                return float(line.split()[1])
    raise OSError("/proc/stat has no btime line")


def proc_stat(pid):
    """What ``/proc/<pid>/stat`` says of ``pid`` (cheaper than psutil), None if there is no such process."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()  # the name in parentheses may hold anything
        return ProcStat(fields[0], int(fields[1]), int(fields[19]))
    except (OSError, IndexError, ValueError, TypeError):
        return None


def is_alive(pid):
    """Whether ``pid`` names a running process (not a zombie); one we may not signal counts as alive."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = proc_stat(pid)
    return stat is None or stat.state != "Z"  # (unreadable: it exists, so count it alive)


def parent_pid(pid):
    """Parent pid of ``pid``, None if it is gone."""
    stat = proc_stat(pid) if pid else None
    return stat.ppid if stat else None


def all_pids():
    """Every pid in ``/proc``, in increasing order (none without a ``/proc``: no run marker is readable then)."""
    try:
        names = os.listdir("/proc")
    except OSError:
        return []
    return sorted(int(name) for name in names if name.isdigit())


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
    for pid in all_pids():
        if pid == own or _environ_marker(pid) != run_id:
            continue
        stat = proc_stat(pid)
        if stat is not None and stat.state != "Z":  # (None: it ended meanwhile)
            found.append(pid)
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
